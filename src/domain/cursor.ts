import { HubError } from '../contracts/errors.js';

/** The error for a cursor this hub did not issue (or one that names an impossible position). */
export function invalidCursor(): HubError {
  return new HubError('BAD_REQUEST', 'cursor is not one this hub issued', [{ field: 'cursor', message: 'is not a valid cursor' }]);
}

/** Opaque page cursors: a tag (which listing issued it) and a JSON position, base64url-encoded. */
export function encodeCursor(tag: string, position: unknown[]): string {
  return Buffer.from(JSON.stringify([tag, ...position])).toString('base64url');
}

/** The position of a cursor `tag`'s listing issued; BAD_REQUEST for anything else. */
export function decodeCursor(tag: string, cursor: string): unknown[] {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(decoded) && decoded[0] === tag) return decoded.slice(1);
  } catch {
    // Falls through to the error below.
  }
  throw invalidCursor();
}

/** A page cut from `limit + 1` items read: the first `limit`, and the cursor after the last when there were more. */
export function pageOf<T>(items: T[], limit: number, tag: string, position: (last: T) => unknown[]): { data: T[]; nextCursor: string | null } {
  const data = items.slice(0, limit);
  const last = data[data.length - 1];
  return { data, nextCursor: items.length > limit && last !== undefined ? encodeCursor(tag, position(last)) : null };
}
