import type { Logger } from 'pino';
import type { DeliveryAck } from '../contracts/schemas.js';
import type { DeliveryStateWriter } from './delivery-state.writer.js';
import type { DeliveryChange, OutboxStore } from './ports.js';
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
  readonly stats: OutboxStats = { handovers: 0, delivered: 0, accepted: 0, failed: 0, retries: 0 };

  constructor(
    private readonly store: OutboxStore,
    private readonly states: DeliveryStateWriter,
    private readonly options: OutboxOptions,
    private readonly log: Logger,
  ) {
    this.states.onProgress(() => {
      if (this.states.backlog < this.options.maxUnsettled) for (const pool of this.pools.values()) this.wake(pool);
    });
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
    // Without a member in this process the message waits in the database until one registers.
    if (!pool || pool.links.size === 0) return;
    this.queue(pool, message);
  }

  /** A connector socket registered: it joins its pool; the first member loads what is waiting. */
  addLink(link: ConnectorLink): void {
    const pool = this.poolOf(link.connector);
    const first = pool.links.size === 0;
    pool.links.set(link.id, { link, inFlight: 0 });
    this.log.info({ connector: link.connector, link: link.id, members: pool.links.size }, 'connector joined its pool');
    if (first) this.reload(pool, link.connector);
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
    }
  }

  /** Members registered in this process, per connector (for logs and /metrics). */
  members(connector: string): number {
    return this.pools.get(connector)?.links.size ?? 0;
  }

  /** Per connector: members here and messages queued in memory for them. */
  snapshot(): Array<{ connector: string; members: number; queued: number }> {
    return [...this.pools.entries()].map(([connector, pool]) => ({ connector, members: pool.links.size, queued: pool.queued.size }));
  }

  /** Stores a state change (ack, failure, retry count) and, when `notify`, tells observers once it is stored. */
  record(
    message: StoredMessage,
    state: MessageState,
    metadata: Record<string, string | null>,
    delivery: StoredMessage['delivery'],
    notify = true,
  ): StoredMessage {
    const updated = this.applyLocally(message, state, metadata, delivery);
    const change: DeliveryChange = { id: message.id, state, metadata, delivery: delivery ?? null };
    this.states.write(change, () => {
      if (notify) this.announce(updated);
    });
    return updated;
  }

  /** Tells observers about a change already stored (e.g. by a conditional update). */
  announce(message: StoredMessage): void {
    for (const observer of this.observers) observer(message);
  }

  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) for (const lane of pool.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    this.pools.clear();
  }

  private poolOf(connector: string): Pool {
    let pool = this.pools.get(connector);
    if (!pool) {
      pool = { links: new Map(), lanes: new Map(), queued: new Set(), waiting: new Set(), moreInStore: false, loading: undefined };
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
    if (pool.loading || this.closed) return;
    pool.loading = this.store
      .pending(connector, this.options.loadBatch)
      .then((messages) => {
        pool.moreInStore = messages.length >= this.options.loadBatch;
        let added = 0;
        for (const m of messages) {
          // A change still being written would make the stored copy stale.
          if (this.states.unsettled.has(m.id) || pool.queued.has(m.id)) continue;
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
        for (const lane of [...pool.lanes.values()]) this.pump(pool, lane);
      });
  }

  private reloadIfIdle(pool: Pool, connector: string): void {
    if (pool.moreInStore && pool.links.size > 0 && pool.queued.size === 0) this.reload(pool, connector);
  }

  /** Sends the head of the lane when it is free and a member has room. */
  private pump(pool: Pool, lane: Lane): void {
    // While the waiting messages load, a fresh one must not overtake older ones of its conversation.
    if (lane.busy || lane.timer || this.closed || pool.loading) return;
    const message = lane.items[0];
    if (!message) {
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

  private onAnswer(pool: Pool, lane: Lane, message: StoredMessage, link: ConnectorLink, ack: DeliveryAck): void {
    if (ack.ok) {
      this.settle(pool, lane, message, ack.state === 'PENDING' ? 'PENDING' : 'DELIVERED', {
        externalId: ack.externalId ?? null,
        error: null,
      });
      this.log.debug({ connector: link.connector, messageId: message.id, state: ack.state ?? 'DELIVERED' }, 'connector acked a message');
      return;
    }
    if (!ack.error.retryable) {
      this.settle(pool, lane, message, 'FAILED', { error: ack.error.message });
      this.log.info({ connector: link.connector, messageId: message.id, error: ack.error.message }, 'connector refused a message');
      return;
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
      this.settle(pool, lane, message, 'FAILED', { error: `gave up after ${attempts} attempts: ${reason}` });
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

  private settle(pool: Pool, lane: Lane, message: StoredMessage, state: MessageState, metadata: Record<string, string | null>): void {
    lane.items.shift();
    lane.avoid = undefined;
    pool.queued.delete(message.id);
    if (state === 'DELIVERED') this.stats.delivered += 1;
    else if (state === 'FAILED') this.stats.failed += 1;
    else this.stats.accepted += 1;
    this.record(message, state, metadata, undefined);
    if (pool.queued.size === 0 && pool.moreInStore) this.reload(pool, message.delivery?.connector ?? message.channel);
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
