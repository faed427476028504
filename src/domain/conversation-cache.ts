import type { ConversationStore } from './ports.js';
import type { Conversation } from './types.js';

interface Entry {
  conversation: Conversation;
  at: number;
}

/**
 * A bounded read cache of conversations for the message hot path, so a send does not
 * cost a database read. Every change this process makes updates it at once, so with a
 * single process entries never go stale (ttlMs = Infinity); when several processes share
 * the database, a change made by another one is seen within `ttlMs`.
 */
export class ConversationCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: ConversationStore,
    private readonly ttlMs = 2000,
    private readonly maxEntries = 50_000,
  ) {}

  async get(id: string): Promise<Conversation | null> {
    const hit = this.entries.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.conversation;
    const conversation = await this.store.findById(id);
    if (conversation) this.put(conversation);
    else this.entries.delete(id);
    return conversation;
  }

  put(conversation: Conversation): void {
    this.entries.delete(conversation.id);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(conversation.id, { conversation, at: Date.now() });
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
