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
  /** One database read per conversation at a time, however many sends miss together. */
  private readonly loading = new Map<string, Promise<Conversation | null>>();

  constructor(
    private readonly store: ConversationStore,
    private readonly ttlMs = 2000,
    private readonly maxEntries = 50_000,
  ) {}

  async get(id: string): Promise<Conversation | null> {
    const hit = this.entries.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.conversation;
    let load = this.loading.get(id);
    if (!load) {
      load = this.store.findById(id).then((conversation) => {
        if (conversation) this.put(conversation);
        else this.entries.delete(id);
        return conversation;
      });
      this.loading.set(id, load);
      const forget = (): void => void this.loading.delete(id);
      load.then(forget, forget);
    }
    return load;
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
