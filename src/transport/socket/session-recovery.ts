import type { Adapter } from 'socket.io-adapter';
import type { Logger } from 'pino';
import type { Membership } from '../../domain/conversation.service.js';

/** What a recovered socket brings back of its joins: names only; rights are checked again. */
export interface RestoredMembership {
  conversationId: string;
  participantId: string;
  participantName: string;
}

type AdapterFactory = (nsp: unknown) => Adapter;

/** Sessions restored at once, per process; more reconnecting clients connect fresh and catch up with afterSeq. */
export const MAX_CONCURRENT_RESTORES = 4;

/** Sessions kept for Socket.IO's connection state recovery: only plain values, never the live objects a socket holds. */
export function restorableData(data: unknown): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  if (!data || typeof data !== 'object') return kept;
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) kept[key] = value;
  }
  const memberships = (data as { memberships?: unknown }).memberships;
  if (memberships instanceof Map) {
    kept['restoredMemberships'] = [...(memberships as Map<string, Membership>).values()].map(
      (m): RestoredMembership => ({ conversationId: m.conversationId, participantId: m.participant.id, participantName: m.participant.name }),
    );
  }
  return kept;
}

/** The joins a recovered socket's session carried (empty for a new socket or a malformed session). */
export function restoredMemberships(data: unknown): RestoredMembership[] {
  const list = (data as { restoredMemberships?: unknown } | undefined)?.restoredMemberships;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (m): m is RestoredMembership =>
      typeof m === 'object' && m !== null && typeof (m as RestoredMembership).conversationId === 'string' && typeof (m as RestoredMembership).participantId === 'string',
  );
}

/**
 * Wraps the Redis adapter's factory so a session is stored as plain data (a socket's data holds
 * timers, maps and links that cannot be serialized), never throws out of a socket's close, and
 * is not stored at all while `skip()` says so (after a Redis outage the stream lacks what other
 * processes broadcast meanwhile, so a "recovered" socket would silently miss it: it must
 * reconnect fresh and catch up with afterSeq).
 */
export function recoverableSessions(factory: AdapterFactory, skip: () => boolean, log: Logger, maxConcurrentRestores = MAX_CONCURRENT_RESTORES): AdapterFactory {
  // One budget for every namespace: a restore reads the stream from the client's offset on.
  let restoring = 0;
  // Socket.IO calls the factory with `new`: a plain function that returns the adapter.
  return function makeAdapter(nsp: unknown): Adapter {
    const adapter = factory(nsp);
    const restore = adapter.restoreSession.bind(adapter);
    // A restore holds up to the whole stream (maxLen entries) in memory: a few at a time, and the
    // rest (e.g. every client of a drained process at once) connect fresh and catch up with afterSeq.
    adapter.restoreSession = async (pid, offset) => {
      if (restoring >= maxConcurrentRestores) return Promise.reject(new Error('too many sessions being restored'));
      restoring += 1;
      try {
        return await restore(pid, offset);
      } finally {
        restoring -= 1;
      }
    };
    const persist = adapter.persistSession.bind(adapter);
    adapter.persistSession = (session) => {
      if (skip()) return;
      try {
        persist({ ...session, data: restorableData(session.data) });
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not keep a session for recovery; the client will catch up with afterSeq');
      }
    };
    return adapter;
  };
}
