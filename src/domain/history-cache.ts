import { isVisibleTo, type StoredMessage } from './types.js';

interface Entry {
  messages: StoredMessage[];
  /** True while `messages` holds the conversation's whole history. */
  complete: boolean;
}

/**
 * The latest messages of conversations this process opened, fed by its own writes, so a
 * join (conversationInfo) costs no query. It is only correct while this process writes
 * every message of those conversations, so it is disabled when several processes share
 * a deployment. Misses (conversations opened before a restart, evicted ones) read the
 * database. Bounded by a total message count, evicting least recently used conversations.
 */
export class HistoryCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(
    private readonly perConversation: number,
    private readonly maxMessages: number,
  ) {}

  get enabled(): boolean {
    return this.maxMessages > 0;
  }

  /** Starts tracking a conversation this process has just created (its history is empty). */
  track(conversationId: string): void {
    if (!this.enabled || this.entries.has(conversationId)) return;
    this.entries.set(conversationId, { messages: [], complete: true });
  }

  /** Records a stored message of a tracked conversation. */
  append(message: StoredMessage): void {
    const entry = this.entries.get(message.conversationId);
    if (!entry) return;
    entry.messages.push(message);
    this.total += 1;
    if (entry.messages.length > this.perConversation) {
      entry.messages.shift();
      this.total -= 1;
      entry.complete = false;
    }
    // Most recently written last, so eviction takes the idlest conversation.
    this.entries.delete(message.conversationId);
    this.entries.set(message.conversationId, entry);
    while (this.total > this.maxMessages) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.total -= this.entries.get(oldest)?.messages.length ?? 0;
      this.entries.delete(oldest);
    }
  }

  /** The latest `limit` messages the viewer may read, oldest first; undefined when the database must be asked. */
  visible(conversationId: string, viewerId: string, staff: boolean, limit: number): StoredMessage[] | undefined {
    const entry = this.entries.get(conversationId);
    if (!entry) return undefined;
    const readable = entry.messages.filter((m) => isVisibleTo(m, viewerId, staff));
    if (!entry.complete && readable.length < limit) return undefined;
    return readable.slice(-limit);
  }

  /** Replaces a cached message with its updated version (delivery state changes). */
  update(message: StoredMessage): void {
    const entry = this.entries.get(message.conversationId);
    if (!entry) return;
    const at = entry.messages.findIndex((m) => m.id === message.id);
    if (at >= 0) entry.messages[at] = message;
  }

  forget(conversationId: string): void {
    const entry = this.entries.get(conversationId);
    if (!entry) return;
    this.total -= entry.messages.length;
    this.entries.delete(conversationId);
  }
}
