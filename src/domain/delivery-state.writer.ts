import type { Logger } from 'pino';
import type { DeliveryChange, OutboxStore } from './ports.js';

interface Queued {
  change: DeliveryChange;
  /** Runs once the change is durably written. */
  onWritten: () => void;
}

/**
 * Group commit for delivery-state changes (acks, retries, failures): changes made while a
 * write is in flight go into the next bulk write, so acks cost one round trip per batch, not
 * per message. A failed write is retried with backoff and a halved batch (a batch that timed
 * out must not grow on every retry); nothing is dropped and nothing is announced before it
 * is stored. `backlog` lets the outbox stop handing over messages while states pile up.
 */
export class DeliveryStateWriter {
  private queue: Queued[] = [];
  private writing = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly progressListeners: Array<() => void> = [];
  private inFlight = 0;
  /** Shrinks after a failed write, grows back after successes. */
  private batchLimit: number;
  /** Ids whose latest change is not yet stored: the outbox must not reload them meanwhile. */
  readonly unsettled = new Map<string, number>();

  constructor(
    private readonly store: OutboxStore,
    private readonly log: Logger,
    private readonly maxBatch = 50,
  ) {
    this.batchLimit = maxBatch;
  }

  /** Changes not yet stored (queued or being written). */
  get backlog(): number {
    return this.queue.length + this.inFlight;
  }

  /** Calls `listener` after every successful write (the backlog shrank). */
  onProgress(listener: () => void): void {
    this.progressListeners.push(listener);
  }

  write(change: DeliveryChange, onWritten: () => void): void {
    this.queue.push({ change, onWritten });
    this.unsettled.set(change.id, (this.unsettled.get(change.id) ?? 0) + 1);
    this.flush();
  }

  /** Resolves once every queued change is written (used on shutdown). */
  async drain(timeoutMs = 5000): Promise<void> {
    if (!this.writing && this.queue.length === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private flush(): void {
    if (this.writing || this.retryTimer || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.batchLimit);
    this.writing = true;
    this.inFlight = batch.length;
    this.store
      .apply(batch.map((q) => q.change))
      .then(
        () => {
          this.failures = 0;
          this.batchLimit = Math.min(this.maxBatch, this.batchLimit * 2);
          for (const q of batch) {
            const left = (this.unsettled.get(q.change.id) ?? 1) - 1;
            if (left <= 0) this.unsettled.delete(q.change.id);
            else this.unsettled.set(q.change.id, left);
            q.onWritten();
          }
        },
        (err: unknown) => {
          // Put the batch back in front and try again later, in the same order.
          this.queue = [...batch, ...this.queue];
          this.failures += 1;
          this.batchLimit = Math.max(1, Math.floor(batch.length / 2));
          const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures - 1, 6));
          this.log.warn({ err: (err as Error).message, changes: batch.length, retryInMs: delay }, 'could not store delivery states; retrying');
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.flush();
          }, delay);
          this.retryTimer.unref();
        },
      )
      .finally(() => {
        this.writing = false;
        this.inFlight = 0;
        for (const listener of this.progressListeners) listener();
        if (this.queue.length > 0) this.flush();
        else for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }
}
