import type { Logger } from 'pino';
import { toHubError } from '../contracts/errors.js';
import type { WebhookEventRecord, WebhookStore } from './webhook.ports.js';

const MAX_BATCH = 500;
/** Events held in memory while the outbox cannot be written; beyond this the oldest are dropped. */
const MAX_BUFFERED = 10_000;
/** How long close() keeps retrying an unreachable outbox (inside main.ts's 10 s shutdown grace). */
const CLOSE_DEADLINE_MS = 7000;

export interface WebhookWriterHooks {
  /** Told the ids of every stored batch, in order. */
  stored(ids: string[]): void;
  /** Told about events the store refused for good: they are set aside and will never be sent. */
  refused?(events: WebhookEventRecord[]): void;
  /** Told about events given up unstored (memory bound, or shutdown with the outbox unreachable). */
  dropped?(events: WebhookEventRecord[]): void;
}

/**
 * Group commit for new webhook events: events written while an insert is in flight go into
 * the next one, so emitting costs the message path nothing but an array push.
 *
 * One event the store refuses must not hold the others up: a batch that fails for another
 * reason than an unreachable database is split in halves until the refused event stands alone;
 * it is then set aside (logged once, counted in `refused`, visible on /metrics) and the rest
 * is stored. An unreachable database is retried with backoff, holding up to 10,000 events in
 * memory meanwhile; close() stores everything still buffered before it returns.
 */
export class WebhookEventWriter {
  /** Events lost because the outbox could not be written for too long (or at shutdown). */
  dropped = 0;
  /** Events the store refused for good (set aside, never sent). */
  refused = 0;
  private buffer: WebhookEventRecord[] = [];
  private inserting: Promise<void> | undefined;
  private insertingCount = 0;
  private scheduled = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly store: WebhookStore,
    private readonly hooks: WebhookWriterHooks,
    private readonly log: Logger,
  ) {}

  /** Events not stored yet. */
  get backlog(): number {
    return this.buffer.length + this.insertingCount;
  }

  /** Queues an event; it is stored in the next insert, within a tick unless one is in flight. */
  write(event: WebhookEventRecord): void {
    if (this.closed) {
      this.log.warn({ eventId: event.id, type: event.type }, 'webhook event after shutdown not recorded');
      return;
    }
    this.buffer.push(event);
    this.trim();
    this.schedule();
  }

  /**
   * Stores everything queued, then refuses further events. An unreachable outbox is retried
   * (with backoff) for up to `deadlineMs`; only what is still unstored then is reported lost.
   */
  async close(deadlineMs = CLOSE_DEADLINE_MS): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const giveUpAt = Date.now() + deadlineMs;
    while (this.inserting || this.buffer.length > 0) {
      const failuresBefore = this.failures;
      await this.insert();
      if (this.failures > failuresBefore && this.buffer.length > 0) {
        const wait = Math.min(1000, 100 * 2 ** Math.min(this.failures - 1, 4), giveUpAt - Date.now());
        if (wait <= 0) break;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    if (this.buffer.length > 0) {
      this.dropped += this.buffer.length;
      this.log.error(
        { events: this.buffer.length, ids: this.buffer.slice(0, 20).map((e) => e.id) },
        'the webhook outbox stayed unreachable through shutdown; these events are not stored (message.created and conversation.ended are recovered from their documents at the next start)',
      );
      this.tellDropped(this.buffer);
      this.buffer = [];
    }
  }

  private trim(): void {
    if (this.buffer.length <= MAX_BUFFERED) return;
    const lost = this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
    this.dropped += lost.length;
    for (const event of lost) this.log.error({ eventId: event.id, type: event.type }, 'webhook event dropped: the outbox could not be written for too long');
    this.tellDropped(lost);
  }

  private tellDropped(events: WebhookEventRecord[]): void {
    try {
      this.hooks.dropped?.(events);
    } catch (err) {
      this.log.error({ err }, 'a dropped-event listener failed');
    }
  }

  private schedule(): void {
    if (this.scheduled || this.inserting || this.retryTimer || this.closed) return;
    this.scheduled = true;
    // Events emitted in the same tick share one insert.
    setImmediate(() => {
      this.scheduled = false;
      void this.insert();
    });
  }

  private insert(): Promise<void> {
    if (this.inserting) return this.inserting;
    if (this.buffer.length === 0) return Promise.resolve();
    const batch = this.buffer.splice(0, MAX_BATCH);
    this.insertingCount = batch.length;
    this.inserting = this.storeIsolating(batch)
      .then(
        () => {
          this.failures = 0;
        },
        (err: unknown) => {
          this.trim();
          this.failures += 1;
          const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures - 1, 6));
          this.log.warn({ err: (err as Error).message, events: this.buffer.length, retryInMs: delay }, 'could not store webhook events; retrying');
          if (this.closed) return;
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.schedule();
          }, delay);
          this.retryTimer.unref();
        },
      )
      .finally(() => {
        this.inserting = undefined;
        this.insertingCount = 0;
        if (this.buffer.length > 0) this.schedule();
      });
    return this.inserting;
  }

  /**
   * Stores a batch, halving the parts that fail for a reason other than an unreachable database
   * until each refused event stands alone. On UNAVAILABLE, what is not stored yet goes back to
   * the front of the buffer (in order) and the error is rethrown, to retry with backoff.
   */
  private async storeIsolating(batch: WebhookEventRecord[]): Promise<void> {
    const parts: WebhookEventRecord[][] = [batch];
    while (parts.length > 0) {
      const part = parts.shift() as WebhookEventRecord[];
      try {
        const refusals = await this.store.insert(part);
        const refusedIds = new Map(refusals.map((r) => [r.id, r.reason]));
        const aside = part.filter((e) => refusedIds.has(e.id));
        for (const event of aside) this.setAside(event, refusedIds.get(event.id) ?? 'refused');
        const stored = part.filter((e) => !refusedIds.has(e.id));
        if (stored.length > 0) this.hooks.stored(stored.map((e) => e.id));
      } catch (err) {
        if (toHubError(err).code === 'UNAVAILABLE') {
          this.buffer = [part, ...parts].flat().concat(this.buffer);
          throw err;
        }
        if (part.length === 1) {
          this.setAside(part[0] as WebhookEventRecord, err instanceof Error ? err.message : String(err));
        } else {
          const half = Math.ceil(part.length / 2);
          parts.unshift(part.slice(0, half), part.slice(half));
        }
      }
    }
  }

  private setAside(event: WebhookEventRecord, reason: string): void {
    this.refused += 1;
    // Once per event: it is never retried, so this is its only line.
    this.log.error({ eventId: event.id, type: event.type, reason }, 'the webhook outbox refused an event; it is set aside and will not be sent');
    try {
      this.hooks.refused?.([event]);
    } catch (err) {
      this.log.error({ err }, 'a refused-event listener failed');
    }
  }
}
