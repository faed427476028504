import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { HubError, toHubError } from '../contracts/errors.js';
import type { InsertOutcome, MessageStore } from './ports.js';
import type { StoredMessage } from './types.js';

interface Pending {
  message: StoredMessage;
  attempts: number;
  enqueuedAt: number;
  /** Runs synchronously, in seq order, right after the message is durably stored. */
  onStored: ((stored: StoredMessage) => void) | undefined;
  resolve: (stored: StoredMessage) => void;
  reject: (err: unknown) => void;
}

export interface WriterStats {
  batches: number;
  messages: number;
  /** Messages refused because the queue was full or they waited too long. */
  shed: number;
  /** Messages the database refused as documents (the rest of their batch was stored). */
  refused: number;
}

export interface WriterOptions {
  /** Largest insert; keeps one insert well inside the database deadline. */
  maxBatch: number;
  /** Messages waiting beyond this are refused (UNAVAILABLE) instead of queueing without bound. */
  maxQueued: number;
  /** A message still queued after this long is refused before it is written, never acked late. */
  maxWaitMs: number;
  /** How many conversations' sequence counters are remembered. */
  maxCounters: number;
  /** Inserts in flight at once; their results are still announced in batch order. */
  maxInFlight: number;
  /**
   * Which messages carry their message.created webhook event (StoredMessage.pendingWebhook, a
   * fresh event id) in the same insert, so the event is as durable as the message; none when unset.
   */
  webhookEventFor: ((message: Omit<StoredMessage, 'seq'>) => boolean) | undefined;
}

/** A retry finding a message stored elsewhere within this long announces it again (a client retries within seconds). */
const REANNOUNCE_WINDOW_MS = 10 * 60_000;

const DEFAULTS: WriterOptions = { maxBatch: 500, maxQueued: 20_000, maxWaitMs: 2000, maxCounters: 100_000, maxInFlight: 2, webhookEventFor: undefined };
const MAX_SEQ_RETRIES = 5;

/**
 * Group commit for messages: everything accepted while inserts are in flight goes into
 * the next insert, across conversations, so throughput is bounded by the store's batch
 * rate rather than by round trips. Up to `maxInFlight` inserts overlap (two by default);
 * batches are announced strictly in the order they were taken, so each conversation's
 * messages reach clients in seq order.
 *
 * Sequence numbers are a hybrid logical clock: max(previous + 1, now in µs). They
 * increase per conversation across restarts without reading the database, and
 * messages written by different processes order by time; a unique index catches the
 * rare collision, which is retried with a fresh number.
 */
export class MessageWriter {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Settles when the most recently launched batch has been announced (or refused). */
  private lastAnnounced: Promise<void> = Promise.resolve();
  private lastCompletionAt = 0;
  private readonly counters = new Map<string, number>();
  private readonly observers: Array<(stored: StoredMessage) => void> = [];
  /** Ids of messages whose insert failed without a known outcome: they may be stored yet never announced. */
  private readonly uncertain = new Set<string>();
  /** Ids of messages this process stored and announced lately: a retry of one of them needs no second announcement. */
  private readonly announced = new Set<string>();
  private readonly options: WriterOptions;
  readonly stats: WriterStats = { batches: 0, messages: 0, shed: 0, refused: 0 };
  /** Recent insert rate in messages per second (moving average over batches); 0 until measured. */
  private rate = 0;

  constructor(
    private readonly store: MessageStore,
    private readonly log: Logger,
    options: Partial<WriterOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Calls `observer` for every message this writer stores, in seq order. */
  observe(observer: (stored: StoredMessage) => void): void {
    this.observers.push(observer);
  }

  /** Assigns the next seq of the message's conversation, stores it, and resolves with the stored message. */
  write(message: Omit<StoredMessage, 'seq'>, onStored?: (stored: StoredMessage) => void): Promise<StoredMessage> {
    // Refuse at once what could not be stored in time anyway, rather than after a long wait:
    // accepted messages then see a short queue even under overload.
    const expectedWaitMs = this.rate > 0 ? (this.queue.length / this.rate) * 1000 : 0;
    if (this.queue.length >= this.options.maxQueued || expectedWaitMs > this.options.maxWaitMs / 2) {
      this.stats.shed += 1;
      return Promise.reject(new HubError('UNAVAILABLE', 'the hub is overloaded; try again shortly'));
    }
    const seq = this.nextSeq(message.conversationId);
    const pendingWebhook = this.options.webhookEventFor?.(message) ? randomUUID() : undefined;
    return new Promise<StoredMessage>((resolve, reject) => {
      this.queue.push({ message: { ...message, seq, pendingWebhook }, attempts: 0, enqueuedAt: Date.now(), onStored, resolve, reject });
      this.schedule();
    });
  }

  /** Forgets the conversation's counter (e.g. when it ends), bounding memory. */
  forget(conversationId: string): void {
    this.counters.delete(conversationId);
  }

  /** Resolves once everything queued so far has been written or failed. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0 || this.scheduled) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private nextSeq(conversationId: string): number {
    const previous = this.counters.get(conversationId);
    const seq = Math.max((previous ?? 0) + 1, Date.now() * 1000);
    if (previous === undefined && this.counters.size >= this.options.maxCounters) {
      const oldest = this.counters.keys().next().value;
      if (oldest !== undefined) this.counters.delete(oldest);
    }
    this.counters.set(conversationId, seq);
    return seq;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight) return;
    this.scheduled = true;
    // Let the current tick's messages join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.launch();
    });
  }

  private launch(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (batch.length === 0) continue;
      this.inFlight += 1;
      const previous = this.lastAnnounced;
      const done = this.flush(batch, previous).finally(() => {
        this.inFlight -= 1;
        if (this.queue.length > 0) this.schedule();
      });
      this.lastAnnounced = done.then(
        () => undefined,
        () => undefined,
      );
    }
  }

  /** Takes the next batch, refusing messages that already waited too long to be acked in time. */
  private takeBatch(): Pending[] {
    const now = Date.now();
    const batch: Pending[] = [];
    while (batch.length < this.options.maxBatch && this.queue.length > 0) {
      const p = this.queue.shift() as Pending;
      if (now - p.enqueuedAt > this.options.maxWaitMs) {
        this.stats.shed += 1;
        p.reject(new HubError('UNAVAILABLE', 'the message could not be stored in time; send it again'));
      } else {
        batch.push(p);
      }
    }
    return batch;
  }

  /** Inserts a batch, then waits for the previous batch's announcements before making its own. */
  private async flush(batch: Pending[], previous: Promise<void>): Promise<void> {
    let outcomes;
    const started = Date.now();
    try {
      outcomes = await this.insertIsolating(batch.map((p) => p.message));
      // Only full-ish batches say what the store can take; small ones measure round trips.
      // Under load completions are back to back, so their spacing is the store's pace.
      const now = Date.now();
      if (batch.length >= 50) {
        const measured = (batch.length * 1000) / Math.max(1, now - Math.max(started, this.lastCompletionAt));
        this.rate = this.rate === 0 ? measured : 0.7 * this.rate + 0.3 * measured;
      }
      this.lastCompletionAt = now;
    } catch (err) {
      await previous;
      const hubErr = toHubError(err);
      if (hubErr.code === 'INTERNAL') this.log.error({ err }, 'message batch insert failed');
      else this.log.warn({ code: hubErr.code, size: batch.length }, 'message batch not stored');
      for (const p of batch) {
        // A timed-out insert may still land: if a retry later finds it stored, announce it then.
        if (hubErr.code === 'UNAVAILABLE') addBounded(this.uncertain, p.message.id);
        p.reject(hubErr);
      }
      return;
    }
    await previous;
    this.stats.batches += 1;
    const retries: Pending[] = [];
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (!outcome || outcome.status === 'stored') {
        this.stats.messages += 1;
        this.settle(p, p.message);
      } else if (outcome.status === 'refused') {
        // Only this message: the rest of the batch is stored and announced as usual.
        this.stats.refused += 1;
        this.log.warn({ messageId: p.message.id, conversationId: p.message.conversationId, reason: outcome.reason }, 'the database refused a message');
        p.reject(new HubError('BAD_REQUEST', 'the message could not be stored as sent (check its metadata: keys and nesting)'));
      } else if (outcome.status === 'duplicate') {
        // A repeated dedupKey: answer with the first message. It is announced (again) when its own
        // insert ended without a known outcome here, or when a client's retry (clientMessageId)
        // finds it stored by another process: that one may have died between storing and
        // announcing (clients merge by id; webhook events and outbox tickets are keyed by it, so a
        // second announcement repeats nothing downstream). The hub's own idempotent writes
        // (greetings, join notices) are never announced twice.
        const existing = outcome.existing;
        const retried = p.message.clientMessageId !== undefined && Date.now() - existing.timestamp.getTime() < REANNOUNCE_WINDOW_MS;
        if (this.uncertain.delete(existing.id) || (retried && !this.announced.has(existing.id))) this.settle(p, existing);
        else p.resolve(existing);
      } else if (p.attempts >= MAX_SEQ_RETRIES) {
        p.reject(new HubError('CONFLICT', 'could not order the message after several attempts; send it again'));
      } else {
        // Another process took this seq: move past it and try again, ahead of newer messages.
        this.counters.set(p.message.conversationId, Math.max(this.counters.get(p.message.conversationId) ?? 0, p.message.seq));
        const seq = this.nextSeq(p.message.conversationId);
        retries.push({ ...p, attempts: p.attempts + 1, message: { ...p.message, seq } });
      }
    });
    this.queue.unshift(...retries);
  }

  /**
   * Inserts messages and gives each its own outcome. The store names documents it refused; when
   * a whole insert fails for another reason than the database being unreachable (a document the
   * driver cannot encode, a store that refuses the batch as a whole), the halves are tried apart
   * until the culprit stands alone and is refused by itself. UNAVAILABLE fails the whole batch.
   */
  private async insertIsolating(messages: StoredMessage[]): Promise<InsertOutcome[]> {
    try {
      return await this.store.insertBatch(messages);
    } catch (err) {
      if (toHubError(err).code === 'UNAVAILABLE') throw err;
      if (messages.length === 1) {
        return [{ status: 'refused', reason: err instanceof Error ? err.message : String(err) }];
      }
      const half = Math.ceil(messages.length / 2);
      const first = await this.insertIsolating(messages.slice(0, half));
      const second = await this.insertIsolating(messages.slice(half));
      return [...first, ...second];
    }
  }

  private settle(p: Pending, stored: StoredMessage): void {
    addBounded(this.announced, stored.id);
    try {
      for (const observer of this.observers) observer(stored);
      p.onStored?.(stored);
    } catch (err) {
      this.log.error({ err }, 'delivery after store failed');
    }
    p.resolve(stored);
  }
}

/** Ids a writer keeps about recent messages: at most this many each, the oldest dropped first. */
const RECENT_IDS = 10_000;

function addBounded(ids: Set<string>, id: string): void {
  if (ids.size >= RECENT_IDS) {
    const oldest = ids.values().next().value;
    if (oldest !== undefined) ids.delete(oldest);
  }
  ids.add(id);
}
