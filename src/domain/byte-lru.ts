export interface ByteLruOptions {
  /** Total approximate bytes held; least recently used entries go first beyond it. */
  maxBytes: number;
  /** Entries larger than this are not kept at all (a set of one drops any older value of the key). */
  maxEntryBytes: number;
}

/** Bytes a Map slot and its key cost besides the value. */
const ENTRY_OVERHEAD = 64;

/**
 * A least-recently-used map bounded by the approximate bytes of its entries, not their count:
 * a cache of large values then holds few of them, and one of small values many. Written here
 * because the caches need their own size estimate per entry, which `Map` subclasses in lru
 * libraries would recompute on every access.
 */
export class ByteLru<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private total = 0;

  constructor(private readonly options: ByteLruOptions) {}

  /** The most it holds (0: nothing is ever kept). */
  get capacity(): number {
    return this.options.maxBytes;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Reads and marks the entry most recently used. */
  touch(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Keeps `value` (about `bytes` large) unless it is over the per-entry limit; returns whether it was kept. */
  set(key: string, value: V, bytes: number): boolean {
    this.delete(key);
    const size = bytes + ENTRY_OVERHEAD + 2 * key.length;
    if (size > this.options.maxEntryBytes || size > this.options.maxBytes) return false;
    this.entries.set(key, { value, bytes: size });
    this.total += size;
    this.evict();
    return true;
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.total -= entry.bytes;
    this.entries.delete(key);
    return true;
  }

  private evict(): void {
    while (this.total > this.options.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }
}
