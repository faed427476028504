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
 * the database, each change is announced to the others (onChange → forget) and, should that
 * hint be lost (Redis away), an entry still lives at most `ttlMs`. Bounded by the
 * approximate bytes of the conversations (their participants and customer fields grow),
 * least recently used first; a conversation over the per-entry bound is read each time.
 */
export class ConversationCache {
  private readonly entries: ByteLru<Entry>;
  /** One database read per conversation at a time, however many sends miss together. */
  private readonly loading = new Map<string, Promise<Conversation | null>>();
  private readonly changeListeners: Array<(id: string) => void> = [];
  /** Loads that started before another process's change: their result must not be kept. */
  private readonly staleLoads = new WeakSet<Promise<Conversation | null>>();

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
      const pending: Promise<Conversation | null> = this.store.findById(id).then((conversation) => {
        if (this.staleLoads.has(pending)) return conversation;
        if (conversation) this.keep(conversation);
        else this.entries.delete(id);
        return conversation;
      });
      load = pending;
      this.loading.set(id, load);
      const done = (): void => {
        if (this.loading.get(id) === pending) this.loading.delete(id);
      };
      load.then(done, done);
    }
    return load;
  }

  /** This process wrote `conversation`: keep the new version, and tell the listeners (other processes drop theirs). */
  put(conversation: Conversation): void {
    this.keep(conversation);
    this.changed(conversation.id);
  }

  delete(id: string): void {
    this.entries.delete(id);
    this.changed(id);
  }

  /** Another process changed the conversation: the next read goes to the database. */
  forget(id: string): void {
    this.entries.delete(id);
    const load = this.loading.get(id);
    if (load) {
      this.staleLoads.add(load);
      this.loading.delete(id);
    }
  }

  /** Calls `listener` with the id of every conversation this process changes. */
  onChange(listener: (id: string) => void): void {
    this.changeListeners.push(listener);
  }

  private keep(conversation: Conversation): void {
    this.entries.set(conversation.id, { conversation, at: Date.now() }, approxBytes(conversation));
  }

  private changed(id: string): void {
    for (const listener of this.changeListeners) listener(id);
  }
}
