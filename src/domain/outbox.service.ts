import type { Logger } from 'pino';
import type { DeliveryAck } from '../contracts/schemas.js';
import type { DeliveryStateWriter } from './delivery-state.writer.js';
import type { DeliveryChange, LeaseStore, OutboxStore } from './ports.js';
import { forCustomer, toWireMessage, type MessageState, type StoredMessage, type WireMessage } from './types.js';

/** One connected member of a connector pool, as the transport provides it. */
export interface ConnectorLink {
  /** Unique per connection (the socket id). */
  readonly id: string;
  readonly connector: string;
  /** Hands a message over; resolves with the connector's answer, rejects on timeout or disconnect. */
  send(message: WireMessage, timeoutMs: number): Promise<DeliveryAck>;
}

export interface OutboxOptions {
  ackTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
  maxInFlightPerSocket: number;
  /** Pending messages read from the database at a time. */
  loadBatch: number;
  /**
   * Hand-overs pause while this many delivery states wait to be stored, so the channel never
   * runs far ahead of what a restart would know (an unstored ack means a second hand-over).
   */
  maxUnsettled: number;
}

/**
 * How the outbox shares a connector's traffic with the other processes of a deployment: the
 * process holding the connector's lease (in the database) hands its messages to the pool
 * members connected to it, whichever process stored them; the others' members stand by and
 * take the lease over when that process stops, crashes or loses its last member.
 */
export interface OutboxCluster {
  leases: LeaseStore;
  /** This process, as the lease owner. */
  owner: string;
  /** How long a lease lasts unrenewed; the holder renews it every third of that. */
  leaseMs: number;
  /** How often the holder reads the database for messages stored elsewhere (a hint may be lost). */
  pollMs: number;
  /** Tells the other processes that a message owed to `connector` was stored here. */
  wake(connector: string): void;
  /** Tells them this process gave up `connector`'s lease, so one with members takes it now. */
  released(connector: string): void;
}

/** One conversation's messages for a connector: sent one at a time, in seq order. */
interface Lane {
  conversationId: string;
  items: StoredMessage[];
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  /** The member that last failed to ack the head, avoided on the next try when others exist. */
  avoid: string | undefined;
}

interface Pool {
  links: Map<string, { link: ConnectorLink; inFlight: number }>;
  lanes: Map<string, Lane>;
  /** Ids queued in lanes, so a reload never queues a message twice. */
  queued: Set<string>;
  /** Lanes waiting for a member with room. */
  waiting: Set<Lane>;
  /** True when the last reload filled its batch: more may wait in the database. */
  moreInStore: boolean;
  loading: Promise<void> | undefined;
  /** A wake arrived during a load: read again when it finishes. */
  reloadAgain: boolean;
  /** Messages whose state was being stored when a load began, or settled while it read: its older copy of them must not queue them again. */
  settledDuringLoad: Set<string>;
  /** With a cluster: whether this process holds the pool's lease, and until when it may act on it. */
  holder: boolean;
  leaseUntil: number;
  leaseRenewedAt: number;
  leaseCall: Promise<void> | undefined;
  lastLoadAt: number;
}

export interface OutboxStats {
  /** messageArrived emitted to a connector. */
  handovers: number;
  delivered: number;
  /** Acked as accepted by the provider, awaiting its report. */
  accepted: number;
  failed: number;
  /** Hand-overs repeated after a timeout, a disconnect or a retryable refusal. */
  retries: number;
}

/** Called after a delivery state change is stored: the whole updated message. */
export type DeliveryObserver = (message: StoredMessage) => void;

/**
 * The connector outbox. Messages owed to a connector carry a delivery ticket in the database,
 * so nothing is lost across restarts or while no connector is registered. Per conversation,
 * one message is in flight at a time (channel order = seq order); conversations run in
 * parallel across the pool's members, least loaded first. A missing ack is retried on another
 * member; retryable refusals back off exponentially; after `maxAttempts` the message FAILS.
 */
export class OutboxService {
  private readonly pools = new Map<string, Pool>();
  private readonly observers: DeliveryObserver[] = [];
  private closed = false;
  /** Set while the process drains: nothing new is handed over. */
  private handingBack = false;
  private readonly tick: NodeJS.Timeout | undefined;
  readonly stats: OutboxStats = { handovers: 0, delivered: 0, accepted: 0, failed: 0, retries: 0 };

  constructor(
    private readonly store: OutboxStore,
    private readonly states: DeliveryStateWriter,
    private readonly options: OutboxOptions,
    private readonly log: Logger,
    private readonly cluster?: OutboxCluster,
  ) {
    this.states.onProgress(() => {
      if (this.states.backlog < this.options.maxUnsettled) for (const pool of this.pools.values()) this.wake(pool);
    });
    if (cluster) {
      this.tick = setInterval(() => this.onTick(), Math.min(cluster.pollMs, Math.floor(cluster.leaseMs / 3)));
      this.tick.unref();
    }
  }

  /** Calls `observer` with every message whose delivery state changed, once the change is stored. */
  observe(observer: DeliveryObserver): void {
    this.observers.push(observer);
  }

  /** A message owed to a connector has been stored: queue it when a member is here to take it. */
  enqueue(message: StoredMessage): void {
    const connector = message.delivery?.connector;
    if (!connector || this.closed) return;
    const pool = this.pools.get(connector);
    // Without a member here (or the lease) the message waits in the database for the process that
    // holds the lease, which the hint reaches at once, or until a member registers.
    if (!pool || pool.links.size === 0 || !this.holds(pool)) {
      this.cluster?.wake(connector);
      return;
    }
    this.queue(pool, message);
  }

  /** Another process stored a message owed to `connector`: the holder reads what waits. */
  wakeFromPeer(connector: string): void {
    const pool = this.pools.get(connector);
    if (!pool || pool.links.size === 0 || !this.holds(pool)) return;
    if (pool.loading) pool.reloadAgain = true;
    else this.reload(pool, connector);
  }

  /** Another process gave `connector`'s lease up: take it if members are here. */
  releasedByPeer(connector: string): void {
    const pool = this.pools.get(connector);
    if (pool && pool.links.size > 0 && !pool.holder) this.claim(pool, connector);
  }

  /**
   * The process is stopping: hand nothing new over, let the hand-overs in flight be answered
   * (within `timeoutMs`), store their states, then give the leases up for another process.
   */
  async handBack(timeoutMs: number): Promise<void> {
    this.handingBack = true;
    const deadline = Date.now() + timeoutMs;
    const busy = (): boolean => [...this.pools.values()].some((pool) => [...pool.lanes.values()].some((lane) => lane.busy));
    while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.states.drain();
    if (!this.cluster) return;
    const cluster = this.cluster;
    await Promise.all(
      [...this.pools.entries()]
        .filter(([, pool]) => pool.holder)
        .map(async ([connector, pool]) => {
          pool.holder = false;
          await cluster.leases.release(leaseName(connector), cluster.owner).catch((err: unknown) => {
            this.log.warn({ connector, err: (err as Error).message }, 'could not release the outbox lease; it expires by itself');
          });
          cluster.released(connector);
          this.log.info({ connector }, 'outbox lease handed back');
        }),
    );
  }

  /** A connector socket registered: it joins its pool; the first member loads what is waiting. */
  addLink(link: ConnectorLink): void {
    const pool = this.poolOf(link.connector);
    const first = pool.links.size === 0;
    pool.links.set(link.id, { link, inFlight: 0 });
    this.log.info({ connector: link.connector, link: link.id, members: pool.links.size }, 'connector joined its pool');
    if (this.cluster) {
      // The lease decides which process delivers; taking it loads what waits.
      if (!pool.holder) this.claim(pool, link.connector);
    } else if (first) this.reload(pool, link.connector);
    this.wake(pool);
  }

  /** A connector socket went away; its unacked messages are retried by the send's rejection. */
  removeLink(link: ConnectorLink): void {
    const pool = this.pools.get(link.connector);
    if (!pool?.links.delete(link.id)) return;
    this.log.info({ connector: link.connector, link: link.id, members: pool.links.size }, 'connector left its pool');
    if (pool.links.size === 0) {
      // Nobody to send to: forget the queue; the database keeps it for the next member.
      for (const lane of pool.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
      for (const lane of pool.lanes.values()) if (!lane.busy) this.dropLane(pool, lane);
      pool.waiting.clear();
      // While handing back, handBack() releases the lease once the last answers are stored.
      if (this.cluster && pool.holder && !this.handingBack) this.giveUp(pool, link.connector);
    }
  }

  /** Members registered in this process, per connector (for logs and /metrics). */
  members(connector: string): number {
    return this.pools.get(connector)?.links.size ?? 0;
  }

  /** Per connector: members here, messages queued in memory for them, and whether this process delivers them. */
  snapshot(): Array<{ connector: string; members: number; queued: number; holding: boolean }> {
    return [...this.pools.entries()].map(([connector, pool]) => ({
      connector,
      members: pool.links.size,
      queued: pool.queued.size,
      holding: pool.links.size > 0 && this.holds(pool),
    }));
  }

  /** Stores a state change (ack, failure, retry count) and, when `notify`, tells observers once it is stored. */
  record(
    message: StoredMessage,
    state: MessageState,
    metadata: Record<string, string | null>,
    delivery: StoredMessage['delivery'],
    notify = true,
    onStored?: () => void,
  ): StoredMessage {
    const updated = this.applyLocally(message, state, metadata, delivery);
    const change: DeliveryChange = { id: message.id, state, metadata, delivery: delivery ?? null };
    this.states.write(change, () => {
      if (notify) this.announce(updated);
      onStored?.();
    });
    return updated;
  }

  /** Tells observers about a change already stored (e.g. by a conditional update). */
  announce(message: StoredMessage): void {
    for (const observer of this.observers) observer(message);
  }

  close(): void {
    this.closed = true;
    if (this.tick) clearInterval(this.tick);
    for (const pool of this.pools.values()) for (const lane of pool.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    this.pools.clear();
  }

  private poolOf(connector: string): Pool {
    let pool = this.pools.get(connector);
    if (!pool) {
      pool = {
        links: new Map(),
        lanes: new Map(),
        queued: new Set(),
        waiting: new Set(),
        moreInStore: false,
        loading: undefined,
        reloadAgain: false,
        settledDuringLoad: new Set(),
        holder: false,
        leaseUntil: 0,
        leaseRenewedAt: 0,
        leaseCall: undefined,
        lastLoadAt: 0,
      };
      this.pools.set(connector, pool);
    }
    return pool;
  }

  private queue(pool: Pool, message: StoredMessage): void {
    if (pool.queued.has(message.id)) return;
    let lane = pool.lanes.get(message.conversationId);
    if (!lane) {
      lane = { conversationId: message.conversationId, items: [], busy: false, timer: undefined, avoid: undefined };
      pool.lanes.set(message.conversationId, lane);
    }
    pool.queued.add(message.id);
    // Keep seq order even when a reload and a fresh write interleave.
    let at = lane.items.length;
    while (at > 0 && (lane.items[at - 1]?.seq ?? 0) > message.seq) at -= 1;
    lane.items.splice(at, 0, message);
    this.pump(pool, lane);
  }

  private reload(pool: Pool, connector: string): void {
    if (pool.loading || this.closed || !this.holds(pool)) return;
    pool.lastLoadAt = Date.now();
    // What is being stored now may be read as still pending: the read must not queue it again
    // once its write is done; nor what settles while the read runs.
    pool.settledDuringLoad = new Set(this.states.unsettled.keys());
    pool.loading = this.store
      .pending(connector, this.options.loadBatch)
      .then((messages) => {
        pool.moreInStore = messages.length >= this.options.loadBatch;
        let added = 0;
        for (const m of messages) {
          // A change still being written would make the stored copy stale.
          if (this.states.unsettled.has(m.id) || pool.queued.has(m.id) || pool.settledDuringLoad.has(m.id)) continue;
          if (pool.links.size === 0) break;
          this.queue(pool, m);
          added += 1;
        }
        if (added > 0) this.log.info({ connector, messages: added }, 'delivering messages that waited for the connector');
      })
      .catch((err: unknown) => {
        this.log.warn({ connector, err: (err as Error).message }, 'could not read the outbox; retrying in 5 s');
        pool.moreInStore = true;
        setTimeout(() => this.reloadIfIdle(pool, connector), 5000).unref();
      })
      .finally(() => {
        pool.loading = undefined;
        if (pool.reloadAgain) {
          pool.reloadAgain = false;
          this.reload(pool, connector);
          if (pool.loading) return;
        }
        for (const lane of [...pool.lanes.values()]) this.pump(pool, lane);
      });
  }

  private reloadIfIdle(pool: Pool, connector: string): void {
    if (pool.moreInStore && pool.links.size > 0 && pool.queued.size === 0) this.reload(pool, connector);
  }

  /** Sends the head of the lane when it is free and a member has room. */
  private pump(pool: Pool, lane: Lane): void {
    // While the waiting messages load, a fresh one must not overtake older ones of its conversation.
    if (lane.busy || lane.timer || this.closed || pool.loading || this.handingBack) return;
    const message = lane.items[0];
    if (!message || !this.holds(pool)) {
      this.dropLane(pool, lane);
      return;
    }
    const member = this.states.backlog >= this.options.maxUnsettled ? undefined : this.pick(pool, lane.avoid);
    if (!member) {
      if (pool.links.size > 0) pool.waiting.add(lane);
      return;
    }
    lane.busy = true;
    member.inFlight += 1;
    this.stats.handovers += 1;
    const { link } = member;
    link
      // The connector carries it to the customer: the customer's view (a resend may hold an old error or suggestions).
      .send(toWireMessage(forCustomer(message)), this.options.ackTimeoutMs)
      .then(
        (ack) => this.onAnswer(pool, lane, message, link, ack),
        (err: unknown) => this.onSilence(pool, lane, message, link, err),
      )
      .finally(() => {
        member.inFlight -= 1;
        lane.busy = false;
        if (pool.links.size === 0 && !lane.timer) this.dropLane(pool, lane);
        else this.pump(pool, lane);
        this.wake(pool);
      });
  }

  private pick(pool: Pool, avoid: string | undefined): { link: ConnectorLink; inFlight: number } | undefined {
    let best: { link: ConnectorLink; inFlight: number } | undefined;
    for (const member of pool.links.values()) {
      if (member.inFlight >= this.options.maxInFlightPerSocket) continue;
      if (member.link.id === avoid && pool.links.size > 1) continue;
      if (!best || member.inFlight < best.inFlight) best = member;
    }
    return best;
  }

  private wake(pool: Pool): void {
    for (const lane of [...pool.waiting]) {
      pool.waiting.delete(lane);
      this.pump(pool, lane);
    }
  }

  /** Resolves once the answer's state is stored: only then does the lane hand over its next message. */
  private onAnswer(pool: Pool, lane: Lane, message: StoredMessage, link: ConnectorLink, ack: DeliveryAck): Promise<void> | void {
    if (ack.ok) {
      this.log.debug({ connector: link.connector, messageId: message.id, state: ack.state ?? 'DELIVERED' }, 'connector acked a message');
      return this.settle(pool, lane, message, ack.state === 'PENDING' ? 'PENDING' : 'DELIVERED', {
        externalId: ack.externalId ?? null,
        error: null,
      });
    }
    if (!ack.error.retryable) {
      this.log.info({ connector: link.connector, messageId: message.id, error: ack.error.message }, 'connector refused a message');
      return this.settle(pool, lane, message, 'FAILED', { error: ack.error.message });
    }
    this.retry(pool, lane, message, link, ack.error.message, true);
  }

  private onSilence(pool: Pool, lane: Lane, message: StoredMessage, link: ConnectorLink, err: unknown): void {
    const disconnected = (err as { code?: string }).code === 'DISCONNECTED';
    const reason = disconnected ? 'the connector disconnected before acknowledging' : `no acknowledgement within ${this.options.ackTimeoutMs} ms`;
    this.log.info({ connector: link.connector, link: link.id, messageId: message.id, reason }, 'message not acknowledged; retrying');
    // A lost connection is not the message's fault: it does not use up an attempt.
    this.retry(pool, lane, message, link, reason, !disconnected);
  }

  private retry(pool: Pool, lane: Lane, message: StoredMessage, link: ConnectorLink, reason: string, counts: boolean): void {
    this.stats.retries += 1;
    const ticket = message.delivery ?? { connector: link.connector, attempts: 0 };
    const attempts = ticket.attempts + (counts ? 1 : 0);
    if (attempts >= this.options.maxAttempts) {
      void this.settle(pool, lane, message, 'FAILED', { error: `gave up after ${attempts} attempts: ${reason}` });
      return;
    }
    // The attempt count survives a restart; a retry is not a state change, so nobody is told.
    const updated = counts ? this.record(message, 'PENDING', {}, { connector: ticket.connector, attempts }, false) : message;
    lane.items[0] = updated;
    lane.avoid = link.id;
    // Another member can take it at once; the same one (or a refusal) waits with backoff.
    const otherMember = [...pool.links.keys()].some((id) => id !== link.id);
    const delay = !counts && otherMember ? 0 : Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** Math.max(0, attempts - 1));
    if (delay === 0) return;
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      if (pool.links.size === 0) this.dropLane(pool, lane);
      else this.pump(pool, lane);
    }, delay);
    lane.timer.unref();
  }

  /**
   * The message is done with: its state is written, and the returned promise resolves once it is
   * stored. The lane waits for that before its next hand-over, so a crash right after an answer
   * repeats at most the one message per conversation whose state was not yet stored.
   */
  private settle(pool: Pool, lane: Lane, message: StoredMessage, state: MessageState, metadata: Record<string, string | null>): Promise<void> {
    lane.items.shift();
    lane.avoid = undefined;
    pool.queued.delete(message.id);
    if (pool.loading) pool.settledDuringLoad.add(message.id);
    if (state === 'DELIVERED') this.stats.delivered += 1;
    else if (state === 'FAILED') this.stats.failed += 1;
    else this.stats.accepted += 1;
    const stored = new Promise<void>((resolve) => this.record(message, state, metadata, undefined, true, resolve));
    if (pool.queued.size === 0 && pool.moreInStore) this.reload(pool, message.delivery?.connector ?? message.channel);
    return stored;
  }

  /** Whether this process may hand the pool's messages over: alone always; in a cluster while its lease is safely current. */
  private holds(pool: Pool): boolean {
    if (!this.cluster) return true;
    // Stop a third of a lease early: another process may take it only once it fully expired.
    return pool.holder && Date.now() < pool.leaseUntil - this.cluster.leaseMs / 3;
  }

  /** Takes or renews the pool's lease; on taking it, loads what waits. */
  private claim(pool: Pool, connector: string): void {
    const cluster = this.cluster;
    // While handing back, only a lease still held is renewed (its last answers are being stored).
    if (!cluster || pool.leaseCall || this.closed || (this.handingBack && !pool.holder)) return;
    const startedAt = Date.now();
    pool.leaseCall = cluster.leases
      .acquire(leaseName(connector), cluster.owner, cluster.leaseMs)
      .then(
        (held) => {
          const had = this.holds(pool);
          const wanted = this.handingBack ? pool.holder : pool.links.size > 0;
          if (held && wanted && !this.closed) {
            pool.holder = true;
            pool.leaseUntil = startedAt + cluster.leaseMs;
            pool.leaseRenewedAt = startedAt;
            if (!had && !this.handingBack) {
              this.log.info({ connector, members: pool.links.size }, 'took the outbox lease: delivering this connector\'s messages');
              this.reload(pool, connector);
            }
          } else if (held) {
            // Taken as the last member left, or renewed just as the drain released it: give it straight back.
            this.giveUp(pool, connector);
          } else {
            if (pool.holder) this.log.warn({ connector }, 'another process holds the outbox lease now; handing over stops here');
            pool.holder = false;
          }
        },
        (err: unknown) => {
          // Until it runs out, the lease stays this process's; holds() stops hand-overs in time.
          this.log.warn({ connector, err: (err as Error).message }, 'could not take or renew the outbox lease; retrying');
        },
      )
      .finally(() => {
        pool.leaseCall = undefined;
        if (!this.holds(pool)) for (const lane of [...pool.lanes.values()]) if (!lane.busy && !lane.timer) this.dropLane(pool, lane);
        this.wake(pool);
        for (const lane of [...pool.lanes.values()]) this.pump(pool, lane);
      });
  }

  private giveUp(pool: Pool, connector: string): void {
    const cluster = this.cluster;
    if (!cluster) return;
    pool.holder = false;
    cluster.leases
      .release(leaseName(connector), cluster.owner)
      .then(() => cluster.released(connector))
      .catch((err: unknown) => this.log.warn({ connector, err: (err as Error).message }, 'could not release the outbox lease; it expires by itself'));
  }

  /** Renews held leases, claims free ones where members wait, and reads the database for messages stored elsewhere. */
  private onTick(): void {
    const cluster = this.cluster;
    if (!cluster || this.closed) return;
    const now = Date.now();
    for (const [connector, pool] of this.pools) {
      if (this.handingBack) {
        // Keep the lease until handBack() releases it: another process must not take lanes whose answers are still being stored.
        if (pool.holder && now - pool.leaseRenewedAt >= cluster.leaseMs / 3) this.claim(pool, connector);
        continue;
      }
      if (pool.links.size === 0) continue;
      if (!pool.holder || now - pool.leaseRenewedAt >= cluster.leaseMs / 3) this.claim(pool, connector);
      if (this.holds(pool) && now - pool.lastLoadAt >= cluster.pollMs) this.reload(pool, connector);
    }
  }

  private dropLane(pool: Pool, lane: Lane): void {
    for (const m of lane.items) pool.queued.delete(m.id);
    lane.items = [];
    pool.lanes.delete(lane.conversationId);
    pool.waiting.delete(lane);
  }

  private applyLocally(message: StoredMessage, state: MessageState, metadata: Record<string, string | null>, delivery: StoredMessage['delivery']): StoredMessage {
    const merged: Record<string, unknown> = { ...message.metadata };
    for (const [key, value] of Object.entries(metadata)) {
      if (value === null) delete merged[key];
      else merged[key] = value;
    }
    return { ...message, state, metadata: merged, delivery };
  }
}

const leaseName = (connector: string): string => `outbox:${connector}`;
