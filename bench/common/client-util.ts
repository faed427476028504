import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import type { AckResponse, BenchSocket } from './bench-events.js';

const startedAt = performance.now();

/** A progress line for whoever watches the run. */
export function progress(message: string): void {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(5);
  console.log(`[bench +${seconds}s] ${message}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Limits for mapLimit: no new item starts after `deadline` (performance.now() ms) or once `stop()` says so. */
export interface MapLimitBounds {
  deadline?: number;
  stop?: () => boolean;
}

/** Raised for items that never started because the time budget ran out or the run was stopped early. */
export class NotStartedError extends Error {
  constructor() {
    super('not started: time budget spent or too many failures');
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; never rejects, one outcome per item. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  onProgress?: (done: number) => void,
  bounds: MapLimitBounds = {},
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  let done = 0;
  const halted = (): boolean => (bounds.deadline !== undefined && performance.now() > bounds.deadline) || (bounds.stop?.() ?? false);
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      if (halted()) {
        results[index] = { status: 'rejected', reason: new NotStartedError() };
        continue;
      }
      const item = items[index] as T;
      try {
        results[index] = { status: 'fulfilled', value: await fn(item, index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
      done += 1;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function errorText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** POSTs JSON and returns the parsed body; throws on a non-2xx status. */
export async function postJson<T>(url: string, body: unknown, bearer?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (bearer) headers['authorization'] = `Bearer ${bearer}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${new URL(url).pathname} -> ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

export async function getText(url: string, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

/** Polls GET `url` until it answers 200, or throws after `timeoutMs`. */
export async function waitForHttp200(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    if (!alive()) throw new Error(`the process behind ${url} exited`);
    try {
      const { status, text } = await getText(url, 2000);
      if (status === 200) return;
      last = `${status} ${text.slice(0, 120)}`;
    } catch (err) {
      last = errorText(err);
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/**
 * One Socket.IO connection of its own (no multiplexing), websocket only, never reconnecting;
 * `listen` attaches listeners before the handshake (events can arrive in the same read).
 */
export function connectSocket<S extends Socket = BenchSocket>(url: string, auth: Record<string, string>, timeoutMs: number, listen?: (socket: S) => void): Promise<S> {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      auth,
    }) as unknown as S;
    listen?.(socket);
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error('connect timed out'));
    }, timeoutMs + 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err: Error) => {
      clearTimeout(timer);
      socket.disconnect();
      reject(new Error(`connect_error: ${err.message}`));
    });
  });
}

/** Emits a join-like event and resolves on `{ok: true}`; throws with the error code otherwise. */
export function joinWithAck(socket: BenchSocket, emit: (timed: ReturnType<BenchSocket['timeout']>, ack: (err: Error | null, res: AckResponse) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    emit(socket.timeout(30_000), (err, res) => {
      if (err) reject(new Error('join ack timed out'));
      else if (!res.ok) reject(new Error(`join refused: ${res.error?.code ?? '?'} ${res.error?.message ?? ''}`));
      else resolve();
    });
  });
}

/** Disconnects every socket (client side closes, so the servers see clean disconnects). */
/** Connects and joins; a socket whose join fails is disconnected, never leaked. */
export async function connectAndJoin(connect: () => Promise<BenchSocket>, join: (socket: BenchSocket) => Promise<void>): Promise<BenchSocket> {
  const socket = await connect();
  try {
    await join(socket);
    return socket;
  } catch (err) {
    socket.disconnect();
    throw err;
  }
}

/** Opens the customer's then the agent's joined socket; if the agent's fails, the customer's is closed. */
export async function joinedPair(openCustomer: () => Promise<BenchSocket>, openAgent: () => Promise<BenchSocket>): Promise<[BenchSocket, BenchSocket]> {
  const customer = await openCustomer();
  try {
    return [customer, await openAgent()];
  } catch (err) {
    customer.disconnect();
    throw err;
  }
}

export function closeSockets(sockets: readonly BenchSocket[]): void {
  for (const socket of sockets) socket.disconnect();
}

/** Counts rejections by message, for one readable line per failure kind. */
export function failureSummary(results: readonly PromiseSettledResult<unknown>[]): string {
  const counts = new Map<string, number>();
  for (const r of results) {
    if (r.status === 'rejected') {
      const key = errorText(r.reason).slice(0, 120);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts.entries()].map(([k, n]) => `${n}× ${k}`).join('; ');
}
