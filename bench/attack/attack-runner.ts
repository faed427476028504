import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'socket.io-client';
import { closeSockets, connectSocket, errorText, mapLimit, postJson, progress, sleep } from '../common/client-util.js';
import { metricValue, type HubTarget } from '../common/hub-target.js';
import { ArrivalRouter, runPhase, type PhaseResult, type PhaseSpec } from '../load/load-runner.js';
import { readProcMemory } from '../common/proc-probe.js';

/**
 * The "under attack" case: legitimate customer/agent pairs send at a fixed rate while hostile
 * clients open many sockets, spam joinConversation on conversations with a large history, never
 * read what the hub writes to them, and ask for large transcripts they never read. The same
 * legitimate load runs once on a hub without the attack, so the two rows compare.
 */

export interface AttackConfig {
  /** Legitimate customer/agent pairs. */
  pairs: number;
  /** Legitimate msg/s across all pairs. */
  rate: number;
  seconds: number;
  /** Hostile sockets opened (all of them try; the hub's caps refuse most). */
  hostileSockets: number;
  /** Hostile customers (each a conversation with a large history); the sockets are spread over them. */
  hostileCustomers: number;
  /** Messages of about 220 KB each in every hostile conversation. */
  historyMessages: number;
  /** joinConversation events each hostile socket sends before it stops reading. */
  joinsPerSocket: number;
  /** Transcript requests for a long ended conversation, never read. */
  transcriptRequests: number;
}

export interface HostileFigures {
  socketsAsked: number;
  socketsConnected: number;
  /** connect_error messages, by text (the hub's refusal reasons). */
  refused: Record<string, number>;
  joinsSent: number;
  /** Hub sockets still connected at the end of the attack (hub_connected_sockets minus the legitimate ones). */
  hostileStillConnected: number | undefined;
  transcriptStatus: Record<string, number>;
  prepareSeconds: number;
}

export interface AttackRun {
  label: string;
  phase: PhaseResult | undefined;
  /** Peak of nodejs_heap_size_used_bytes sampled every 250 ms from the start of the attack (or the phase) to its end. */
  peakHeap: number | undefined;
  /** VmHWM of the hub process at the end. */
  peakRss: number | undefined;
  hostile?: HostileFigures | undefined;
  /** /health answers during the phase: slowest answer in ms, and failures. */
  healthMaxMs: number | undefined;
  healthFailures: number;
}

export interface AttackResult {
  config: AttackConfig;
  runs: AttackRun[];
}

const ATTACHMENT_BYTES = 200_000;
const TEXT_CHARS = 19_000;

/** Samples the hub's heap (from /metrics) and /health's answer time until stopped. */
class HubWatch {
  peakHeap: number | undefined;
  healthMaxMs: number | undefined;
  healthFailures = 0;
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(private readonly baseUrl: string) {
    this.loops = [this.heapLoop(), this.healthLoop()];
  }

  private async heapLoop(): Promise<void> {
    while (this.running) {
      try {
        const res = await fetch(`${this.baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
        const heap = metricValue(await res.text(), 'nodejs_heap_size_used_bytes');
        if (heap !== undefined) this.peakHeap = Math.max(this.peakHeap ?? 0, heap);
      } catch {
        // a hub too busy to answer shows up in the health figures
      }
      await sleep(250);
    }
  }

  private async healthLoop(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      try {
        const res = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (!res.ok) this.healthFailures += 1;
      } catch {
        this.healthFailures += 1;
      }
      this.healthMaxMs = Math.max(this.healthMaxMs ?? 0, performance.now() - started);
      await sleep(500);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

interface HostileCustomer {
  conversationId: string;
  id: string;
  name: string;
  token: string;
}

interface InitAnswer {
  conversationId: string;
  participant: { id: string; name: string };
  token: string;
}

async function hostileInit(baseUrl: string, n: number): Promise<HostileCustomer> {
  const res = await postJson<InitAnswer>(`${baseUrl}/api/customer/init`, { firstName: `Mallory${n}`, email: `mallory-${n}@example.com`, channel: 'web' });
  return { conversationId: res.conversationId, id: res.participant.id, name: res.participant.name, token: res.token };
}

type AckAnswer = { ok: boolean; error?: { code?: string } };

function emitWithAck(socket: Socket, event: string, payload: unknown, timeoutMs = 30_000): Promise<AckAnswer> {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, payload, (err: Error | null, res: AckAnswer) => (err ? reject(new Error(`${event}: no ack`)) : resolve(res)));
  });
}

/** A customer socket that joined its own conversation. */
async function customerSocket(baseUrl: string, c: HostileCustomer): Promise<Socket> {
  const socket = (await connectSocket(baseUrl, { token: c.token }, 20_000)) as unknown as Socket;
  const joined = await emitWithAck(socket, 'joinConversation', { conversationId: c.conversationId, id: c.id, name: c.name });
  if (!joined.ok) throw new Error(`hostile join refused: ${joined.error?.code ?? '?'}`);
  return socket;
}

/** Fills a hostile conversation with `count` messages of about 220 KB (text plus a data-URL attachment). */
async function fillHistory(baseUrl: string, c: HostileCustomer, count: number, withAttachment: boolean): Promise<void> {
  const socket = await customerSocket(baseUrl, c);
  const blob = Buffer.alloc(Math.floor((ATTACHMENT_BYTES * 3) / 4), 7).toString('base64');
  try {
    for (let i = 0; i < count; i += 1) {
      const text = `${'All work and no play makes Jack a dull boy. '.repeat(Math.ceil(TEXT_CHARS / 44)).slice(0, TEXT_CHARS)} #${i}`;
      const attachments = withAttachment ? [{ type: 'image/png', name: `big-${i}.png`, contentUrl: `data:image/png;base64,${blob}` }] : [];
      const payload = { conversationId: c.conversationId, type: 'ChatMessage', from: { id: c.id, name: c.name }, text, attachments };
      let ack = await emitWithAck(socket, 'sendMessage', payload);
      // The hub's event budget per credential: wait for the next second, as a patient client would.
      for (let tries = 0; !ack.ok && ack.error?.code === 'RATE_LIMITED' && tries < 5; tries += 1) {
        await sleep(1100);
        ack = await emitWithAck(socket, 'sendMessage', payload);
      }
      if (!ack.ok) throw new Error(`hostile history message ${i} refused: ${ack.error?.code ?? '?'}`);
    }
  } finally {
    socket.disconnect();
  }
}

/** Stops reading a socket's TCP stream: what the hub writes to it piles up on the hub's side. */
function stopReading(socket: Socket): void {
  const ws = (socket.io.engine as unknown as { transport?: { ws?: { _socket?: { pause(): void } } } }).transport?.ws;
  ws?._socket?.pause();
}

/** Asks for a transcript and never reads the body; returns the status (or the error) and the request, to destroy later. */
function unreadTranscript(baseUrl: string, c: HostileCustomer): { done: Promise<string>; req: http.ClientRequest } {
  const url = new URL(`/api/customer/transcript/${c.conversationId}/pdf`, baseUrl);
  let settle: (s: string) => void = () => undefined;
  const done = new Promise<string>((resolve) => (settle = resolve));
  const req = http.get(url, { headers: { authorization: `Bearer ${c.token}` } }, (res) => {
    if (res.statusCode === 200) {
      res.pause(); // never read
      settle('200');
      return;
    }
    // A refusal is small JSON: its code says why (queue full, deadline, database).
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => {
      let code = '';
      try {
        code = (JSON.parse(body) as { code?: string }).code ?? '';
      } catch {
        // not JSON
      }
      settle(`${res.statusCode ?? '?'}${code ? ` ${code}` : ''}`);
    });
  });
  req.on('error', (err) => settle(`error: ${err.message}`));
  req.setTimeout(60_000, () => {
    settle('no answer within 60 s');
    req.destroy();
  });
  return { done, req };
}

const count = (into: Record<string, number>, key: string): void => {
  into[key] = (into[key] ?? 0) + 1;
};

interface LaunchedAttack {
  figures: HostileFigures;
  sockets: Socket[];
  requests: http.ClientRequest[];
  transcriptsAnswered: Promise<void>;
}

/** Prepares the hostile conversations, then opens the hostile sockets and requests; they stay open until closed. */
async function launchAttack(baseUrl: string, config: AttackConfig): Promise<LaunchedAttack> {
  const started = performance.now();
  const customers: HostileCustomer[] = [];
  for (let i = 0; i < config.hostileCustomers; i += 1) customers.push(await hostileInit(baseUrl, i));
  progress(`attack: filling ${customers.length} hostile conversations with ${config.historyMessages} messages of ~220 KB each…`);
  await mapLimit(customers, 2, async (c, i) => {
    await fillHistory(baseUrl, c, config.historyMessages, true);
    progress(`attack: hostile conversation ${i + 1}/${customers.length} filled`);
  });
  // A long ended conversation for the transcript requests: text only (attachments are not rendered).
  const transcriptOwner = await hostileInit(baseUrl, config.hostileCustomers);
  await fillHistory(baseUrl, transcriptOwner, config.historyMessages, false);
  const owner = await customerSocket(baseUrl, transcriptOwner);
  const ended = await emitWithAck(owner, 'endConversation', { conversationId: transcriptOwner.conversationId });
  owner.disconnect();
  if (!ended.ok) throw new Error(`could not end the transcript conversation: ${ended.error?.code ?? '?'}`);
  const figures: HostileFigures = {
    socketsAsked: config.hostileSockets,
    socketsConnected: 0,
    refused: {},
    joinsSent: 0,
    hostileStillConnected: undefined,
    transcriptStatus: {},
    prepareSeconds: (performance.now() - started) / 1000,
  };
  progress(`attack: prepared in ${figures.prepareSeconds.toFixed(1)} s; opening ${config.hostileSockets} hostile sockets…`);

  const sockets: Socket[] = [];
  await mapLimit(
    Array.from({ length: config.hostileSockets }, (_, i) => i),
    50,
    async (i) => {
      const c = customers[i % customers.length] as HostileCustomer;
      let socket: Socket;
      try {
        socket = (await connectSocket(baseUrl, { token: c.token }, 20_000)) as unknown as Socket;
      } catch (err) {
        count(figures.refused, errorText(err).slice(0, 120));
        return;
      }
      figures.socketsConnected += 1;
      sockets.push(socket);
      for (let j = 0; j < config.joinsPerSocket; j += 1) {
        socket.emit('joinConversation', { conversationId: c.conversationId, id: c.id, name: c.name }, () => undefined);
        figures.joinsSent += 1;
      }
      stopReading(socket);
    },
  );
  const requests = Array.from({ length: config.transcriptRequests }, () => unreadTranscript(baseUrl, transcriptOwner));
  const transcriptsAnswered = Promise.all(requests.map(async (r) => count(figures.transcriptStatus, await r.done))).then(() => undefined);
  progress(`attack: ${figures.socketsConnected} hostile sockets connected, ${figures.joinsSent} joins sent, ${requests.length} transcript requests open`);
  return { figures, sockets, requests: requests.map((r) => r.req), transcriptsAnswered };
}

const PHASE_KEY = 'x';

/** One run on a started hub: legitimate pairs at `config.rate`, with or without the attack beside them. */
export async function runAttackCase(
  target: HubTarget,
  baseUrl: string,
  storePid: number | undefined,
  config: AttackConfig,
  withAttack: boolean,
): Promise<AttackRun> {
  const label = withAttack ? 'under attack' : 'without attack';
  const router = new ArrivalRouter();
  const endpoints = await target.createPairs(config.pairs, router, performance.now() + 60_000);
  if (endpoints.length === 0) throw new Error(`${label}: no legitimate pair could be set up`);
  progress(`${label}: ${endpoints.length / 2} legitimate pairs joined`);
  const watch = new HubWatch(baseUrl);
  let attack: LaunchedAttack | undefined;
  try {
    if (withAttack) attack = await launchAttack(baseUrl, config);
    const spec: PhaseSpec = { key: PHASE_KEY, label: `${label}, ${config.rate} msg/s`, mode: 'rate', rate: config.rate, window: 0, durationMs: config.seconds * 1000, warmupMs: 1000 };
    const phase = await runPhase({ target: `hub (${label})`, endpoints, router, serverPid: target.pid, storePid, probe: target.counters }, spec);
    if (attack) {
      await Promise.race([attack.transcriptsAnswered, sleep(5000)]);
      const connected = await target.connectedSockets();
      attack.figures.hostileStillConnected = connected === undefined ? undefined : Math.max(0, connected - endpoints.length);
    }
    await watch.stop();
    return {
      label,
      phase,
      peakHeap: watch.peakHeap,
      peakRss: readProcMemory(target.pid)?.hwmBytes,
      hostile: attack?.figures,
      healthMaxMs: watch.healthMaxMs,
      healthFailures: watch.healthFailures,
    };
  } finally {
    await watch.stop();
    if (attack) {
      for (const req of attack.requests) req.destroy();
      closeSockets(attack.sockets as never);
    }
    closeSockets(endpoints.map((e) => e.socket));
  }
}

