import type { Logger } from 'pino';
import { HubError, toHubError } from '../contracts/errors.js';
import type { MessageStore } from './ports.js';
import type { StoredMessage } from './types.js';

interface Pending {
  message: StoredMessage;
  attempts: number;
  /** Runs synchronously, in seq order, right after the message is durably stored. */
  onStored: ((stored: StoredMessage) => void) | undefined;
  resolve: (stored: StoredMessage) => void;
  reject: (err: unknown) => void;
}

export interface WriterStats {
  batches: number;
  messages: number;
}

const MAX_SEQ_RETRIES = 5;

/**
 * Group commit for messages: everything accepted while one insert is in flight goes
 * into the next insert, across conversations, so throughput is bounded by the
 * store's batch rate rather than by round trips. Exactly one insert is in flight at
 * a time, which keeps each conversation's messages stored and announced in seq order.
 */
export class MessageWriter {
  private queue: Pending[] = [];
  private flushing = false;
  private readonly counters = new Map<string, number>();
  private readonly loading = new Map<string, Promise<number>>();
  readonly stats: WriterStats = { batches: 0, messages: 0 };

  constructor(
    private readonly store: MessageStore,
    private readonly log: Logger,
    private readonly maxBatch = 1000,
    private readonly maxCounters = 100_000,
  ) {}

  /** Assigns the next seq of the message's conversation, stores it, and resolves with the stored message. */
  async write(message: Omit<StoredMessage, 'seq'>, onStored?: (stored: StoredMessage) => void): Promise<StoredMessage> {
    const seq = await this.nextSeq(message.conversationId);
    return new Promise<StoredMessage>((resolve, reject) => {
      this.queue.push({ message: { ...message, seq }, attempts: 0, onStored, resolve, reject });
      this.schedule();
    });
  }

  /** Forgets the cached counter (e.g. when a conversation ends), bounding memory. */
  forget(conversationId: string): void {
    this.counters.delete(conversationId);
  }

  /** Resolves once everything queued so far has been written or failed. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private nextSeq(conversationId: string): number | Promise<number> {
    const current = this.counters.get(conversationId);
    if (current !== undefined) {
      this.counters.set(conversationId, current + 1);
      return current + 1;
    }
    let load = this.loading.get(conversationId);
    if (!load) {
      load = this.store.latestSeq(conversationId).finally(() => this.loading.delete(conversationId));
      this.loading.set(conversationId, load);
    }
    // Every waiter continues in the order it started waiting, so seq follows acceptance order.
    return load.then((latest) => {
      const base = this.counters.get(conversationId) ?? latest;
      if (this.counters.size >= this.maxCounters && !this.counters.has(conversationId)) {
        const oldest = this.counters.keys().next().value;
        if (oldest !== undefined) this.counters.delete(oldest);
      }
      this.counters.set(conversationId, base + 1);
      return base + 1;
    });
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Let the current tick's messages join the first batch.
    setImmediate(() => void this.flushLoop());
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.flush(batch);
      }
    } finally {
      this.flushing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.store.insertBatch(batch.map((p) => p.message));
    } catch (err) {
      const hubErr = toHubError(err);
      if (hubErr.code === 'INTERNAL') this.log.error({ err }, 'message batch insert failed');
      // Whether the write landed is unknown: reload the counters from the database next time.
      for (const p of batch) {
        this.counters.delete(p.message.conversationId);
        p.reject(hubErr);
      }
      return;
    }
    this.stats.batches += 1;
    const retry: Pending[] = [];
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (!outcome || outcome.status === 'stored') {
        this.stats.messages += 1;
        this.settle(p, p.message);
      } else if (outcome.status === 'duplicate') {
        // A retried clientMessageId: answer with the first message, announce nothing new.
        p.resolve(outcome.existing);
      } else {
        // Another hub process took this seq: resync and try again.
        this.counters.delete(p.message.conversationId);
        retry.push(p);
      }
    });
    for (const p of retry) {
      if (p.attempts >= MAX_SEQ_RETRIES) {
        p.reject(new HubError('CONFLICT', 'Could not order the message after several attempts; send it again'));
        continue;
      }
      try {
        const seq = await this.nextSeq(p.message.conversationId);
        this.queue.unshift({ ...p, attempts: p.attempts + 1, message: { ...p.message, seq } });
      } catch (err) {
        p.reject(toHubError(err));
      }
    }
  }

  private settle(p: Pending, stored: StoredMessage): void {
    try {
      p.onStored?.(stored);
    } catch (err) {
      this.log.error({ err }, 'delivery after store failed');
    }
    p.resolve(stored);
  }
}
