/** Bytes V8 spends on an object or array header, roughly; enough to make empty entries count. */
const OBJECT_OVERHEAD = 32;
/** Bytes per property slot or array element, besides what the value holds. */
const SLOT = 8;
/** Deeper values are counted as one slot: stored data is validated far shallower than this. */
const MAX_DEPTH = 64;

/**
 * An estimate of the heap a plain value holds (strings two bytes a character, headers and slots
 * per object), close enough to bound caches by memory rather than by entry count. It walks the
 * value once and allocates nothing, so it costs about what a JSON.stringify would without the garbage.
 */
export function approxBytes(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return 16 + 2 * value.length;
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return SLOT;
    case 'object': {
      if (value === null) return SLOT;
      if (depth >= MAX_DEPTH) return OBJECT_OVERHEAD;
      if (value instanceof Date) return OBJECT_OVERHEAD;
      if (ArrayBuffer.isView(value)) return OBJECT_OVERHEAD + value.byteLength;
      let bytes = OBJECT_OVERHEAD;
      if (Array.isArray(value)) {
        for (const item of value) bytes += SLOT + approxBytes(item, depth + 1);
        return bytes;
      }
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        bytes += SLOT + 2 * key.length + approxBytes((value as Record<string, unknown>)[key], depth + 1);
      }
      return bytes;
    }
    default:
      return SLOT;
  }
}
