import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { WebhookEventWriter } from './webhook-event.writer.js';
import type { EmitOptions, WebhookEventRecord, WebhookEventType, WebhookPort, WebhookSender, WebhookStore } from './webhook.ports.js';

export interface WebhookOptions {
  /** Bound on one attempt (connect, send, status line). */
  timeoutMs: number;
  /** Delay after the first failed attempt; doubles per attempt up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts before an event is given up. */
  maxAttempts: number;
  /** Longest time between two reads of the outbox (events of other or earlier processes). */
  pollMs: number;
  /** Attempts in flight at once. */
  concurrency: number;
}

export interface WebhookStats {
  delivered: number;
  /** Attempts that failed and were scheduled again. */
  retried: number;
  /** Events given up after maxAttempts. */
  failed: number;
  /** Events lost before they were stored (the outbox could not be written for too long). */
  dropped: number;
  /** Events the outbox refused as documents: set aside (logged), never sent. */
  refused: number;
}

/** Retries this process times itself; beyond this they wait for the next poll. */
const MAX_LOCAL_TIMERS = 10_000;
/** Beyond the attempt's own timeout, time to store its outcome before another process may take it. */
const LEASE_MARGIN_MS = 15_000;

/** Delay before the attempt after failed attempt `attempt` (1-based): base·2^(attempt−1), capped, minus up to 10 % jitter. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  // Jitter spreads the retries of events that failed together (a receiver outage); it only
  // shortens the delay, so the cap holds.
  return Math.max(1, Math.round(delay * (1 - 0.1 * random())));
}

/**
 * Webhooks through a database outbox. emit() only queues: events are stored by group commit
 * (WebhookEventWriter, in the background), then sent. Each attempt is claimed with one
 * conditional update (pending, due -> leased, attempt counted), so hub processes sharing the
 * database never send the same attempt twice, and an event whose process died is taken over
 * when its lease runs out. Failures back off exponentially until maxAttempts, then the event
 * is given up (error log, metric). Delivery is at least once: receivers deduplicate by id.
 */
export class WebhookService implements WebhookPort {
  private readonly counts = { delivered: 0, retried: 0, failed: 0 };
  private readonly writer: WebhookEventWriter;
  /** Ids known to be due, in the order they became due. */
  private readonly due = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private pollTimer: NodeJS.Timeout | undefined;
  private scanning = false;
  /**
   * Ids whose attempt ended while an outbox read was under way: the read may still list them as
   * due (it can predate their claim), and queueing them again costs a claim that finds nothing.
   */
  private readonly endedDuringScan = new Set<string>();
  /** The last read returned only due events: more may wait behind them. */
  private scanAgain = false;
  private storeFailing = false;
  private reachedStore = false;
  private closed = false;
  private readonly abort = new AbortController();
  /** Callbacks of events emitted with `settled`, by event id, until the outbox has them. */
  private readonly onSettled = new Map<string, () => void>();
  private readonly leaseMs: number;

  constructor(
    private readonly store: WebhookStore,
    private readonly sender: WebhookSender,
    private readonly options: WebhookOptions,
    private readonly log: Logger,
  ) {
    this.leaseMs = options.timeoutMs + LEASE_MARGIN_MS;
    this.writer = new WebhookEventWriter(
      store,
      {
        stored: (ids) => {
          this.storeOk();
          for (const id of ids) {
            this.due.add(id);
            this.settle(id);
          }
          this.pump();
        },
        refused: (events) => {
          for (const event of events) this.settle(event.id);
        },
        // Not stored: the marker of its cause stays, for a sweep to find (it must not look emitted here).
        dropped: (events) => {
          for (const event of events) this.onSettled.delete(event.id);
        },
      },
      log,
    );
  }

  /** Outcomes on this process so far (for /metrics). */
  get stats(): WebhookStats {
    return { ...this.counts, dropped: this.writer.dropped, refused: this.writer.refused };
  }

  /** Events this process holds: not yet stored, due, being sent, or timed here for a retry. */
  get pending(): number {
    return this.writer.backlog + this.due.size + this.inFlight.size + this.retryTimers.size;
  }

  /**
   * Records an event (with a fresh id unless given); it is stored within milliseconds and sent
   * from the outbox. `settled` is called once it is stored (or refused for good).
   */
  emit(type: WebhookEventType, payload: Record<string, unknown>, options: EmitOptions = {}): void {
    const now = new Date();
    const id = options.id ?? randomUUID();
    if (options.settled) {
      if (this.closed) return;
      this.onSettled.set(id, options.settled);
    }
    this.writer.write({ id, type, payload, createdAt: options.createdAt ?? now, state: 'pending', attempts: 0, nextAt: now, lastError: null, deliveredAt: null });
  }

  /** Which of `ids` are in the outbox or its archive already. */
  known(ids: string[]): Promise<Set<string>> {
    return this.store.known(ids);
  }

  /** Events emitted here whose `settled` has not been called yet. */
  isUnsettled(id: string): boolean {
    return this.onSettled.has(id);
  }

  private settle(id: string): void {
    const settled = this.onSettled.get(id);
    if (!settled) return;
    this.onSettled.delete(id);
    try {
      settled();
    } catch (err) {
      this.log.error({ err, eventId: id }, 'a settled listener failed');
    }
  }

  /** Starts reading the outbox: events left by earlier or other processes are sent too. */
  start(): void {
    this.scan();
  }

  /** Stores what was emitted, hands back attempts in flight, and stops; leaves the database open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.pollTimer);
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
    this.due.clear();
    this.abort.abort();
    await Promise.all([this.writer.close(), Promise.allSettled([...this.inFlight.values()])]);
  }

  /** Starts attempts for due events while there is room. */
  private pump(): void {
    if (this.closed) return;
    while (this.inFlight.size < this.options.concurrency && this.due.size > 0) {
      const id = this.due.values().next().value as string;
      this.due.delete(id);
      if (this.inFlight.has(id)) continue;
      const run = this.attempt(id)
        .catch((err: unknown) => this.log.error({ err, eventId: id }, 'webhook attempt failed unexpectedly'))
        .finally(() => {
          this.inFlight.delete(id);
          if (this.scanning) this.endedDuringScan.add(id);
          this.pump();
        });
      this.inFlight.set(id, run);
    }
    if (this.scanAgain && this.due.size === 0 && this.inFlight.size < this.options.concurrency) {
      this.scanAgain = false;
      this.scan();
    }
  }

  private async attempt(id: string): Promise<void> {
    const claimedAt = Date.now();
    let event: WebhookEventRecord | null;
    try {
      event = await this.store.claim(id, new Date(claimedAt), new Date(claimedAt + this.leaseMs));
    } catch (err) {
      // Not claimed: the next read of the outbox finds it again.
      this.storeDown(err);
      this.scanAgain = false;
      return;
    }
    // Not due any more: delivered, given up, or taken by another process.
    if (!event) return;
    const { type, attempts } = event;
    const result = await this.sender.send({ id, type, createdAt: event.createdAt, attempt: attempts, payload: event.payload }, this.abort.signal);
    try {
      if (result.ok) {
        this.counts.delivered += 1;
        await this.store.delivered(event, new Date());
        this.log.debug({ eventId: id, type, attempt: attempts, status: result.status }, 'webhook event delivered');
      } else if (this.abort.signal.aborted) {
        // Interrupted by shutdown, not refused: due again at once, for the next process.
        await this.store.release(id, attempts, new Date());
      } else if (attempts >= this.options.maxAttempts) {
        if (await this.store.giveUp(event, result.error)) {
          this.counts.failed += 1;
          this.log.error({ eventId: id, type, attempts, lastError: result.error }, 'webhook event given up');
        }
      } else {
        const delay = retryDelayMs(attempts, this.options.retryBaseMs, this.options.retryMaxMs);
        await this.store.retryAt(id, attempts, new Date(Date.now() + delay), result.error);
        this.counts.retried += 1;
        this.log.info({ eventId: id, type, attempt: attempts, retryInMs: delay, error: result.error }, 'webhook attempt failed; retrying');
        this.retryHere(id, delay);
      }
      this.storeOk();
    } catch (err) {
      // The outcome is not stored: when the lease ends the event is due again (at least once).
      this.storeDown(err);
    }
  }

  /** Times the retry in this process, so it does not wait for the next poll. */
  private retryHere(id: string, delayMs: number): void {
    if (this.closed || this.retryTimers.size >= MAX_LOCAL_TIMERS) return;
    clearTimeout(this.retryTimers.get(id));
    // A few ms past nextAt: timers may fire a millisecond early, and the claim checks nextAt <= now.
    const timer = setTimeout(() => {
      this.retryTimers.delete(id);
      this.due.add(id);
      this.pump();
    }, delayMs + 3);
    timer.unref();
    this.retryTimers.set(id, timer);
  }

  /** Reads the pending events: due ones are queued; the earliest one not timed here sets the next read. */
  private scan(): void {
    if (this.closed || this.scanning) return;
    this.scanning = true;
    this.endedDuringScan.clear();
    const limit = this.options.concurrency * 4;
    this.store
      .pending(limit)
      .then(
        (rows) => {
          this.storeOk();
          const now = Date.now();
          let nextRead = now + this.options.pollMs;
          let dueRows = 0;
          for (const row of rows) {
            const at = row.nextAt.getTime();
            // Attempts and retries of this process are timed here already; the read is for the others'.
            const ours = this.inFlight.has(row.id) || this.retryTimers.has(row.id) || this.due.has(row.id) || this.endedDuringScan.has(row.id);
            if (at <= now) {
              dueRows += 1;
              if (!ours) this.due.add(row.id);
            } else if (!ours) {
              nextRead = Math.min(nextRead, at);
            }
          }
          this.scanAgain = rows.length >= limit && dueRows === rows.length;
          this.schedulePoll(nextRead - now);
        },
        (err: unknown) => {
          this.storeDown(err);
          this.schedulePoll(this.options.pollMs);
        },
      )
      .finally(() => {
        this.scanning = false;
        this.endedDuringScan.clear();
        this.pump();
      });
  }

  private schedulePoll(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(
      () => {
        this.pollTimer = undefined;
        this.scan();
      },
      Math.min(Math.max(0, delayMs), this.options.pollMs) + 3,
    );
    this.pollTimer.unref();
  }

  /** One warning per outage, not one per event. */
  private storeDown(err: unknown): void {
    if (this.storeFailing) return;
    this.storeFailing = true;
    // The hub starts before its database connects (main.ts); the database logs that wait itself.
    const level = this.reachedStore ? 'warn' : 'debug';
    this.log[level]({ err: (err as Error).message }, 'webhook outbox not reachable; events wait and are retried');
  }

  private storeOk(): void {
    this.reachedStore = true;
    if (!this.storeFailing) return;
    this.storeFailing = false;
    this.log.info('webhook outbox reachable again');
  }
}
