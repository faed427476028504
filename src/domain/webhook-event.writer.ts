import type { Logger } from 'pino';
import type { WebhookEventRecord, WebhookStore } from './webhook.ports.js';

const MAX_BATCH = 500;
/** Events held in memory while the outbox cannot be written; beyond this the oldest are dropped. */
const MAX_BUFFERED = 10_000;

/**
 * Group commit for new webhook events: events written while an insert is in flight go into
 * the next one, so emitting costs the message path nothing but an array push. A failed insert
 * is retried with backoff, holding up to 10,000 events in memory meanwhile.
 */
export class WebhookEventWriter {
  /** Events lost because the outbox could not be written for too long (or at shutdown). */
  dropped = 0;
  private buffer: WebhookEventRecord[] = [];
  private inserting: Promise<void> | undefined;
  private insertingCount = 0;
  private scheduled = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly store: WebhookStore,
    /** Told the ids of every stored batch, in order. */
    private readonly onStored: (ids: string[]) => void,
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

  /** Stores what is queued, then refuses further events; gives up after a second failure rather than hold shutdown up. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const giveUpAt = this.failures + 2;
    while ((this.inserting || this.buffer.length > 0) && this.failures < giveUpAt) await this.insert();
    if (this.buffer.length > 0) {
      this.dropped += this.buffer.length;
      this.log.error({ events: this.buffer.length }, 'webhook events could not be stored before shutdown; they are lost');
      this.buffer = [];
    }
  }

  private trim(): void {
    while (this.buffer.length > MAX_BUFFERED) {
      const event = this.buffer.shift();
      this.dropped += 1;
      this.log.error({ eventId: event?.id, type: event?.type }, 'webhook event dropped: the outbox could not be written for too long');
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
    this.inserting = this.store
      .insert(batch)
      .then(
        () => {
          this.failures = 0;
          this.onStored(batch.map((e) => e.id));
        },
        (err: unknown) => {
          this.buffer = [...batch, ...this.buffer];
          this.trim();
          this.failures += 1;
          const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures - 1, 6));
          this.log.warn({ err: (err as Error).message, events: batch.length, retryInMs: delay }, 'could not store webhook events; retrying');
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
}
