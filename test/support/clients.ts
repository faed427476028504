import { io, type Socket } from 'socket.io-client';
import { SYSTEM_TOKEN } from './hub.js';

export type AnyAck = { ok: true; [key: string]: unknown } | { ok: false; error: { code: string; message: string; details?: unknown } };

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** POSTs JSON (or a raw string body) and parses the JSON answer. */
export async function postJson<T = Record<string, unknown>>(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
}

export interface InitBody {
  conversationId: string;
  participant: { id: string; name: string; role: string };
  requestId: string;
  timestamp: string;
  token: string;
}

let counter = 0;
/** Opens a web conversation for a fresh customer (`headers`: e.g. the system token, for a trusted init). */
export async function initCustomer(baseUrl: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<InitBody> {
  counter += 1;
  const res = await postJson<InitBody>(`${baseUrl}/api/customer/init`, {
    firstName: 'Jane',
    lastName: `Doe${counter}`,
    email: `jane${counter}@example.org`,
    channel: 'web',
    ...extra,
  }, headers);
  if (res.status !== 200) throw new Error(`init failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function agentToken(baseUrl: string, id: string, name = `Agent ${id}`, skills: string[] = [], maxChats?: number): Promise<string> {
  const res = await postJson<{ token: string }>(
    `${baseUrl}/api/agents/token`,
    maxChats === undefined ? { id, name, skills } : { id, name, skills, maxChats },
    { authorization: `Bearer ${SYSTEM_TOKEN}` },
  );
  if (res.status !== 200) throw new Error(`agent token failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token;
}

const open = new Set<Socket>();

/** Connects a real socket.io-client and waits until the handshake is accepted. */
export async function connect(baseUrl: string, auth: Record<string, unknown> = {}, listen?: (socket: Socket) => void): Promise<Socket> {
  const socket = io(baseUrl, { transports: ['websocket'], auth, reconnection: false, forceNew: true });
  open.add(socket);
  // Listeners go on before the handshake: events sent right after it can arrive in the same read.
  listen?.(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  return socket;
}

/** Connects expecting the handshake to be refused; resolves with the refusal. */
export async function connectRefused(baseUrl: string, auth: Record<string, unknown>): Promise<Error & { data?: { code?: string } }> {
  const socket = io(baseUrl, { transports: ['websocket'], auth, reconnection: false, forceNew: true });
  open.add(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connection was accepted')));
    socket.once('connect_error', (err) => resolve(err as Error & { data?: { code?: string } }));
  });
}

export function closeAllSockets(): void {
  for (const s of open) s.close();
  open.clear();
}

/** Emits with an acknowledgement and resolves with it (rejects if none comes within `ms`). */
export function emitAck(socket: Socket, event: string, payload: unknown, ms = 8000): Promise<AnyAck> {
  return socket.timeout(ms).emitWithAck(event, payload) as Promise<AnyAck>;
}

/** Resolves with the next `event` matching `match`, or rejects after `ms`. */
export function nextEvent<T = Record<string, unknown>>(socket: Socket, event: string, match: (p: T) => boolean = () => true, ms = 5000): Promise<T> {
  const skipped: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no matching ${event} within ${ms} ms (socket ${socket.id}, connected: ${socket.connected}; other ${event}s: ${skipped.join(' | ').slice(0, 500)})`));
    }, ms);
    const handler = (payload: T): void => {
      if (!match(payload)) {
        skipped.push(JSON.stringify(payload).slice(0, 120));
        return;
      }
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(payload);
    };
    socket.on(event, handler);
  });
}

/** Records every `event` a socket receives from now on. */
export function record<T = Record<string, unknown>>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

/** Awaits later; a failure before then is reported by what failed first, not as an unhandled rejection. */
export function pending<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A customer (init + socket + join) and its conversation. */
export interface JoinedCustomer {
  init: InitBody;
  socket: Socket;
  info: Record<string, unknown>;
}

export async function joinedCustomer(baseUrl: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<JoinedCustomer> {
  const init = await initCustomer(baseUrl, extra, headers);
  const socket = await connect(baseUrl, { token: init.token });
  const infoPromise = nextEvent(socket, 'conversationInfo');
  const ack = await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: init.participant.name });
  if (!ack.ok) throw new Error(`join failed: ${JSON.stringify(ack)}`);
  return { init, socket, info: await infoPromise };
}

export async function joinedAgent(baseUrl: string, conversationId: string, agentId = 'agent-1'): Promise<{ socket: Socket; info: Record<string, unknown> }> {
  const token = await agentToken(baseUrl, agentId);
  const socket = await connect(baseUrl, { token });
  const infoPromise = nextEvent<{ conversation: { id: string } }>(socket, 'conversationInfo', (i) => i.conversation.id === conversationId);
  const ack = await emitAck(socket, 'joinConversation', { conversationId, id: agentId, name: 'ignored' });
  if (!ack.ok) throw new Error(`agent join failed: ${JSON.stringify(ack)}`);
  return { socket, info: await infoPromise };
}
