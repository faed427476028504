import { approxBytes } from './approx-size.js';
import { ByteLru, type ByteLruOptions } from './byte-lru.js';
import type { ConversationStore } from './ports.js';
import type { Conversation } from './types.js';

interface Entry {
  conversation: Conversation;
  at: number;
}

/** Bounds of the conversation cache: 32 MiB in all, 256 KiB for one conversation. */
export const CONVERSATION_CACHE_DEFAULTS: ByteLruOptions = { maxBytes: 32 * 1024 * 1024, maxEntryBytes: 256 * 1024 };

/**
 * A bounded read cache of conversations for the message hot path, so a send does not
 * cost a database read. Every change this process makes updates it at once, so with a
 * single process entries never go stale (ttlMs = Infinity); when several processes share
 * the database, a change made by another one is seen within `ttlMs`. Bounded by the
 * approximate bytes of the conversations (their participants and customer fields grow),
 * least recently used first; a conversation over the per-entry bound is read each time.
 */
export class ConversationCache {
  private readonly entries: ByteLru<Entry>;
  /** One database read per conversation at a time, however many sends miss together. */
  private readonly loading = new Map<string, Promise<Conversation | null>>();

  constructor(
    private readonly store: ConversationStore,
    private readonly ttlMs = 2000,
    bounds: ByteLruOptions = CONVERSATION_CACHE_DEFAULTS,
  ) {
    this.entries = new ByteLru(bounds);
  }

  /** Approximate bytes held, for the metrics. */
  get bytes(): number {
    return this.entries.bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(id: string): Promise<Conversation | null> {
    const hit = this.entries.touch(id);
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
    this.entries.set(conversation.id, { conversation, at: Date.now() }, approxBytes(conversation));
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
