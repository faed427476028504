import { createHash, randomUUID } from 'node:crypto';
import type { Principal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { InitRequest } from '../contracts/schemas.js';
import type { Conversation } from './types.js';

/** Channels whose customers only a connector can reach: conversations on them send replies out through it. */
export const CONNECTOR_ONLY_CHANNELS: ReadonlySet<string> = new Set(['sms', 'fb', 'twitter']);

/** Fields of an init body that describe its sending, not the request: a retry may change them. */
const NOT_FINGERPRINTED = new Set(['requestId', 'timestamp']);

/** Whose requestIds these are: a requestId is only ever matched against the same caller's earlier ones. */
export function initScope(principal: Principal | undefined): string {
  if (!principal) return 'anonymous';
  if (principal.kind === 'system') return 'system';
  if (principal.kind === 'agent') return `agent:${principal.agentId}`;
  return `customer:${principal.participantId}`;
}

/**
 * Refuses an init that may not open a conversation on its channel: a conversation on a connector
 * channel sends the agents' replies as SMS or Messenger messages to the number or account it names,
 * so only connectors and campaigns (the system token) start those; anyone else gets a web conversation.
 */
export function assertMayOpen(request: InitRequest, principal: Principal | undefined): void {
  if (CONNECTOR_ONLY_CHANNELS.has(request.channel) && principal?.kind !== 'system') {
    throw new HubError(
      'FORBIDDEN',
      `channel "${request.channel}" conversations are started by its connector or by a campaign with the system token; an init without the system token opens a "web" conversation`,
      [{ field: 'channel', message: 'must be "web" without the system token' }],
    );
  }
}

/** The canonical JSON of a value: object keys sorted, so the same request always gives the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What an init request asks for, as a digest: a replay must ask for exactly the same. */
export function initFingerprint(request: InitRequest): string {
  const asked = Object.fromEntries(Object.entries(request).filter(([key]) => !NOT_FINGERPRINTED.has(key)));
  return createHash('sha256').update(canonical(asked)).digest('base64url');
}

/** The creation key and replay record of an init: keys live under `init:<scope>:`, apart from the hub's own. */
export function initIdentity(request: InitRequest, principal: Principal | undefined): { key: string; initRequest: { requestId: string; fingerprint: string } } {
  const requestId = request.requestId ?? randomUUID();
  return { key: `init:${initScope(principal)}:${requestId}`, initRequest: { requestId, fingerprint: initFingerprint(request) } };
}

/**
 * Checks that `existing`, the conversation an earlier init with this requestId opened, may be
 * answered again: the same request, within the replay window. Anything else is a CONFLICT, so a
 * guessed or reused requestId never hands out someone else's conversation.
 */
export function assertReplay(existing: Conversation, fingerprint: string, windowMs: number, now = Date.now()): void {
  const requestId = existing.initRequest?.requestId ?? 'this requestId';
  if (existing.initRequest?.fingerprint !== fingerprint) {
    throw new HubError('CONFLICT', `requestId "${requestId}" was already used for a different init request; send a new requestId to open a new conversation`, [
      { field: 'requestId', message: 'already used for a different request' },
    ]);
  }
  if (now - existing.createdAt.getTime() > windowMs) {
    const hours = Math.round((windowMs / 3_600_000) * 10) / 10;
    throw new HubError('CONFLICT', `requestId "${requestId}" was used more than ${hours} h ago; a repeated request is answered only within that window, send a new requestId`, [
      { field: 'requestId', message: 'already used, outside the replay window' },
    ]);
  }
}
