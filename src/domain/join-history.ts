import { encodeCursor } from './cursor.js';
import { asSeenBy, toWireMessage, type StoredMessage, type WireMessage } from './types.js';

/** Default bound on the history a join (conversationInfo) or a chat plugin resume carries: 512 KiB of JSON. */
export const JOIN_HISTORY_MAX_BYTES = 512 * 1024;

/** The history a join delivers (conversationInfo), and where older messages are to be read. */
export interface HistoryPage {
  messages: WireMessage[];
  /** Older messages visible to the member exist that `messages` leaves out. */
  hasMore: boolean;
  /** A POST /messages.list cursor for the chat messages before the first one here; null without `hasMore`. */
  olderCursor: string | null;
  /** Bytes of JSON `messages` take (about). */
  bytes: number;
}

/** The message as a member sees it: a customer's carries no staff-only metadata (reply suggestions, delivery errors). */
function wireOf(message: StoredMessage, staff: boolean): WireMessage {
  return toWireMessage(asSeenBy(message, staff));
}

/** Bytes of JSON `message` takes in a member's conversationInfo (with the comma before it), as historyPage counts them. */
export function wireBytes(message: StoredMessage, staff: boolean): number {
  return Buffer.byteLength(JSON.stringify(wireOf(message, staff))) + 1;
}

/**
 * Cuts a member's latest messages (oldest first, read with one more than `limit` so the cut is
 * known) to `limit` messages and `maxBytes` of JSON, keeping the newest. The newest message is
 * always included, however large: one message is already bounded by the payload limits, and a
 * join that showed nothing of a busy conversation would be worse. `staff` members read messages
 * whole; the others get the customer view (types.ts forCustomer).
 */
export function historyPage(conversationId: string, latest: StoredMessage[], limit: number, maxBytes: number, staff: boolean): HistoryPage {
  const candidates = latest.slice(-limit).map((message) => ({ message, wire: wireOf(message, staff) }));
  // The array's brackets take 2 bytes; each message its JSON and the comma before it.
  const { kept, bytes } = newestFitting(candidates, maxBytes - 2, (c) => Buffer.byteLength(JSON.stringify(c.wire)) + 1);
  const hasMore = latest.length > kept.length;
  const first = kept[0];
  return {
    messages: kept.map((c) => c.wire),
    hasMore,
    olderCursor: hasMore && first ? encodeCursor('m', [conversationId, 'b', first.message.seq]) : null,
    bytes: bytes + 2,
  };
}

/**
 * A catch-up page: of `after` (the messages after a seq, oldest first, read with one more than
 * `limit`), the oldest ones within `limit` messages and `maxBytes` of JSON, the first always;
 * `hasMore` when any are left out. No older cursor: the client has everything before.
 */
export function oldestPage(after: StoredMessage[], limit: number, maxBytes: number, staff: boolean): HistoryPage {
  const messages: WireMessage[] = [];
  let bytes = 2;
  for (const message of after.slice(0, limit)) {
    const wire = wireOf(message, staff);
    const size = Buffer.byteLength(JSON.stringify(wire)) + 1;
    if (messages.length > 0 && bytes + size > maxBytes) break;
    messages.push(wire);
    bytes += size;
  }
  return { messages, hasMore: after.length > messages.length, olderCursor: null, bytes };
}

/** Messages a history read asks for first; more only while the byte budget allows. */
const FIRST_PAGE = 10;

/**
 * The newest messages of a history, oldest first: at most `count`, read newest first in pages
 * (`read(beforeSeq, limit)`, undefined = from the newest) and no further than one message past
 * `maxBytes` as `size` counts them. A read of a conversation of large messages then costs about
 * its byte budget, not `count` large messages; the caller's cut knows older ones exist.
 */
export async function readNewestWithin(
  read: (beforeSeq: number | undefined, limit: number) => Promise<StoredMessage[]>,
  count: number,
  maxBytes: number,
  size: (message: StoredMessage) => number,
): Promise<StoredMessage[]> {
  const pages: StoredMessage[][] = [];
  let taken = 0;
  let bytes = 0;
  let pageSize = Math.min(count, FIRST_PAGE);
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await read(beforeSeq, pageSize);
    pages.unshift(page);
    taken += page.length;
    for (const m of page) bytes += size(m);
    const oldest = page[0];
    if (page.length < pageSize || taken >= count || bytes > maxBytes || !oldest) break;
    beforeSeq = oldest.seq;
    // The next page as large as the budget left suggests at the size seen so far, at least a few.
    const perMessage = Math.max(1, bytes / taken);
    pageSize = Math.min(count - taken, Math.max(FIRST_PAGE, Math.ceil((maxBytes - bytes) / perMessage) + 1));
  }
  return pages.flat();
}

/** The newest of `items` (oldest first) that fit in `maxBytes` as `size` counts them, the newest always; with their bytes. */
export function newestFitting<T>(items: T[], maxBytes: number, size: (item: T) => number): { kept: T[]; bytes: number } {
  let bytes = 0;
  let from = items.length;
  while (from > 0) {
    const next = size(items[from - 1] as T);
    if (bytes + next > maxBytes && from < items.length) break;
    bytes += next;
    from -= 1;
  }
  return { kept: items.slice(from), bytes };
}
