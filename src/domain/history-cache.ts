import { approxBytes } from './approx-size.js';
import { isVisibleTo, type StoredMessage } from './types.js';

interface Cached {
  message: StoredMessage;
  bytes: number;
}

interface Entry {
  messages: Cached[];
  /** True while `messages` holds the conversation's whole history. */
  complete: boolean;
  bytes: number;
}

export interface HistoryCacheBounds {
  /** Approximate bytes of all cached messages and conversations together. */
  maxBytes: number;
  /** A message estimated larger than this is not cached: the conversation's older messages are dropped with it. */
  maxMessageBytes: number;
}

export const HISTORY_CACHE_DEFAULTS: HistoryCacheBounds = { maxBytes: 64 * 1024 * 1024, maxMessageBytes: 64 * 1024 };

/** What an entry costs before it holds any message, so empty conversations count and get evicted too. */
const ENTRY_BYTES = 256;

/**
 * The latest messages of conversations this process opened, fed by its own writes, so a
 * join (conversationInfo) costs no query. It is only correct while this process writes
 * every message of those conversations, so it is disabled when several processes share
 * a deployment. Misses (conversations opened before a restart, evicted ones) read the
 * database. Bounded by a total message count and by approximate bytes (empty conversations
 * included), evicting least recently used conversations; an oversized message is not kept,
 * and the conversation's cached history restarts after it (older ones then come from the database).
 */
export class HistoryCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  private totalBytes = 0;

  constructor(
    private readonly perConversation: number,
    private readonly maxMessages: number,
    private readonly bounds: HistoryCacheBounds = HISTORY_CACHE_DEFAULTS,
  ) {}

  get enabled(): boolean {
    return this.maxMessages > 0 && this.bounds.maxBytes > 0;
  }

  /** Approximate bytes held, for the metrics. */
  get bytes(): number {
    return this.totalBytes;
  }

  get conversations(): number {
    return this.entries.size;
  }

  /** Starts tracking a conversation this process has just created (its history is empty). */
  track(conversationId: string): void {
    if (!this.enabled || this.entries.has(conversationId)) return;
    this.entries.set(conversationId, { messages: [], complete: true, bytes: ENTRY_BYTES });
    this.totalBytes += ENTRY_BYTES;
    this.evict();
  }

  /** Records a stored message of a tracked conversation. */
  append(message: StoredMessage): void {
    const entry = this.entries.get(message.conversationId);
    if (!entry) return;
    const bytes = approxBytes(message);
    if (bytes > this.bounds.maxMessageBytes) {
      // Not kept, and what came before it cannot be served without it.
      this.dropThrough(entry, entry.messages.length);
    } else {
      entry.messages.push({ message, bytes });
      entry.bytes += bytes;
      this.total += 1;
      this.totalBytes += bytes;
      if (entry.messages.length > this.perConversation) this.dropThrough(entry, 0);
    }
    // Most recently written last, so eviction takes the idlest conversation.
    this.entries.delete(message.conversationId);
    this.entries.set(message.conversationId, entry);
    this.evict();
  }

  /** The latest `limit` messages the viewer may read, oldest first; undefined when the database must be asked. */
  visible(conversationId: string, viewerId: string, staff: boolean, limit: number): StoredMessage[] | undefined {
    const entry = this.entries.get(conversationId);
    if (!entry) return undefined;
    const readable: StoredMessage[] = [];
    for (const { message } of entry.messages) if (isVisibleTo(message, viewerId, staff)) readable.push(message);
    if (!entry.complete && readable.length < limit) return undefined;
    return readable.slice(-limit);
  }

  /** Replaces a cached message with its updated version (delivery state changes). */
  update(message: StoredMessage): void {
    const entry = this.entries.get(message.conversationId);
    if (!entry) return;
    const at = entry.messages.findIndex((c) => c.message.id === message.id);
    const old = entry.messages[at];
    if (!old) return;
    const bytes = approxBytes(message);
    if (bytes > this.bounds.maxMessageBytes) {
      this.dropThrough(entry, at);
      return;
    }
    entry.messages[at] = { message, bytes };
    entry.bytes += bytes - old.bytes;
    this.totalBytes += bytes - old.bytes;
    this.evict();
  }

  forget(conversationId: string): void {
    const entry = this.entries.get(conversationId);
    if (!entry) return;
    this.total -= entry.messages.length;
    this.totalBytes -= entry.bytes;
    this.entries.delete(conversationId);
  }

  /** Drops the entry's messages up to and including index `last`; the entry no longer holds the whole history. */
  private dropThrough(entry: Entry, last: number): void {
    const dropped = entry.messages.splice(0, last + 1);
    for (const { bytes } of dropped) {
      entry.bytes -= bytes;
      this.totalBytes -= bytes;
    }
    this.total -= dropped.length;
    entry.complete = false;
  }

  private evict(): void {
    while (this.total > this.maxMessages || this.totalBytes > this.bounds.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.forget(oldest);
    }
  }
}
