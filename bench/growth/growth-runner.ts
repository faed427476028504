import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'socket.io-client';
import { encodeCursor } from '../../src/domain/cursor.js';
import type { AckResponse } from '../common/bench-events.js';
import { identifyContact, listMessages } from '../common/chat-plugin-client.js';
import { connectSocket, errorText, postJson, progress, sleep } from '../common/client-util.js';
import { CpuMeter } from '../common/proc-probe.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';
import type { SeedStep, GrowthSeeder, SeededConversation } from './growth-seed.js';

/** The operations timed at each size, in the order the table lists them. */
export const GROWTH_OPS = ['join after restart', 'history page (rejoin)', 'messages.list older page', 'contacts.identify', 'routing claim'] as const;
export type GrowthOp = (typeof GROWTH_OPS)[number];

export interface GrowthConfig {
  sizes: number[];
  /** Repetitions of each operation but the claim. */
  reps: number;
  /** Routing claims per size (each a new agent and a new queued conversation). */
  claims: number;
  /** Seconds one operation's repetitions may take at one size; the rest are left out (and counted). */
  opSeconds: number;
  perConversation: number;
  batch: number;
  inFlight: number;
  /** The whole case's budget; seeding stops at it and what was reached is measured. */
  budgetSeconds: number;
}

export interface GrowthOpResult {
  latency: LatencySummary;
  /** Repetitions asked for; fewer ran when the operation's time cap was reached. */
  asked: number;
  failures: number;
  firstError: string | undefined;
  storeCpuPercent: number | undefined;
  hubCpuPercent: number | undefined;
}

export interface GrowthSizeResult {
  /** The size asked for and the messages stored when measured. */
  asked: number;
  messages: number;
  conversations: number;
  contacts: number;
  seed: SeedStep;
  /** Hub process start → GET /ready answering 200, on the grown database. */
  hubStartSeconds: number;
  /** The very first joinConversation after the restart (also in the join row). */
  firstJoinMs: number | undefined;
  ops: Partial<Record<GrowthOp, GrowthOpResult>>;
}

export interface GrowthResult {
  config: GrowthConfig;
  sizes: GrowthSizeResult[];
  /** Sizes left out (budget) or failed, with why. */
  notes: string[];
  seconds: number;
}

/** A hub process the runner may use (run.ts owns starting and stopping it). */
export interface GrowthHub {
  url: string;
  systemToken: string;
  pid: number;
}

interface ConversationInfo {
  conversation?: { id?: string };
  messages?: unknown[];
  role?: string;
}

const ACK_MS = 30_000;

/** `n` distinct items drawn at random (all of them when there are fewer). */
function sample<T>(items: readonly T[], n: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = randomInt(i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, n);
}

async function agentToken(hub: GrowthHub, id: string, name: string, maxChats: number): Promise<string> {
  const res = await postJson<{ token: string }>(`${hub.url}/api/agents/token`, { id, name, skills: [], maxChats }, hub.systemToken);
  return res.token;
}

/** An agent socket whose conversationInfo events resolve waiters by conversation id. */
class AgentSocket {
  private readonly waiters = new Map<string, (info: ConversationInfo) => void>();
  private constructor(readonly socket: Socket) {}

  static async open(url: string, token: string): Promise<AgentSocket> {
    let self: AgentSocket | undefined;
    const early: ConversationInfo[] = [];
    const socket = await connectSocket<Socket>(url, { token }, 20_000, (s) => {
      s.on('conversationInfo', (info: ConversationInfo) => {
        if (self) self.seen(info);
        else early.push(info);
      });
    });
    self = new AgentSocket(socket);
    for (const info of early) self.seen(info);
    return self;
  }

  private seen(info: ConversationInfo): void {
    const id = info.conversation?.id;
    if (!id) return;
    const waiter = this.waiters.get(id);
    if (waiter) {
      this.waiters.delete(id);
      waiter(info);
    }
  }

  /** Resolves with the next conversationInfo for `conversationId`. */
  info(conversationId: string, timeoutMs = ACK_MS): Promise<ConversationInfo> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(conversationId);
        reject(new Error(`no conversationInfo for ${conversationId} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiters.set(conversationId, (info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }

  emit(event: string, payload: unknown): Promise<AckResponse & Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.socket.timeout(ACK_MS).emit(event, payload, (err: Error | null, res: AckResponse & Record<string, unknown>) => {
        if (err) reject(new Error(`${event} ack timed out`));
        else if (!res.ok) reject(new Error(`${event} refused: ${res.error?.code ?? '?'} ${res.error?.message ?? ''}`));
        else resolve(res);
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** What every timed operation of one size shares. */
interface RunContext {
  hubPid: number;
  storePid: number | undefined;
  opSeconds: number;
}

/**
 * Times `op` over `items` one at a time (never concurrently), with the hub's and the store's CPU
 * over the whole run; an op that returns a number times itself (its setup left out).
 */
async function timed<T>(
  what: string,
  items: readonly T[],
  run: RunContext,
  op: (item: T, index: number) => Promise<number | void>,
): Promise<GrowthOpResult & { samples: number[] }> {
  const { hubPid, storePid } = run;
  const samples: number[] = [];
  const deadline = performance.now() + run.opSeconds * 1000;
  let failures = 0;
  let firstError: string | undefined;
  const hubCpu = new CpuMeter(hubPid);
  const storeCpu = new CpuMeter(storePid);
  for (const [i, item] of items.entries()) {
    if (performance.now() > deadline) break;
    const t0 = performance.now();
    try {
      const own = await op(item, i);
      samples.push(typeof own === 'number' ? own : performance.now() - t0);
    } catch (err) {
      failures += 1;
      firstError ??= errorText(err);
    }
  }
  const result = { latency: summarize(samples), asked: items.length, failures, firstError, storeCpuPercent: storeCpu.percent(), hubCpuPercent: hubCpu.percent(), samples };
  progress(
    `growth: ${what}: ${samples.length}/${items.length}${samples.length + failures < items.length ? ` (time cap ${run.opSeconds} s)` : ''} p50/p99/max ${fmt(result.latency.p50, 1)}/${fmt(result.latency.p99, 1)}/${fmt(result.latency.max, 1)} ms; ` +
      `CPU hub/store ${fmt(result.hubCpuPercent)}/${fmt(result.storeCpuPercent)}%${failures ? `; ${failures} failed (${firstError})` : ''}`,
  );
  return result;
}

/**
 * Joins right after the hub started, then rejoins: a staff reader (an agent token) joins ended
 * seeded conversations (a join changes nothing in an ended conversation: no write, only the
 * conversation's read and its history read), timed from the emit to its conversationInfo. The
 * first pass finds every cache cold (the process just started); the second finds the
 * conversations cached and reads the history from the store again (the history cache holds only
 * conversations this process opened).
 */
async function joins(hub: GrowthHub, conversations: readonly SeededConversation[], run: RunContext, size: GrowthSizeResult): Promise<void> {
  const readerId = `growth-reader-${randomInt(1_000_000)}`;
  const reader = await AgentSocket.open(hub.url, await agentToken(hub, readerId, 'Growth Reader', 1));
  try {
    const join = async (c: SeededConversation): Promise<void> => {
      const info = reader.info(c.id);
      await reader.emit('joinConversation', { conversationId: c.id, id: readerId, name: 'Growth Reader' });
      const got = await info;
      if (!Array.isArray(got.messages) || got.messages.length === 0) throw new Error(`conversationInfo of ${c.id} carried no history`);
    };
    const cold = await timed('joinConversation right after the restart', conversations, run, join);
    size.firstJoinMs = cold.samples[0];
    size.ops['join after restart'] = cold;
    size.ops['history page (rejoin)'] = await timed('rejoin (conversation cached, history from the store)', conversations.slice(0, cold.samples.length + cold.failures), run, join);
  } finally {
    reader.close();
  }
}

/** messages.list with the system token: the page of 20 chat messages before the newest 20 or so (a cursor to an older page). */
async function lists(hub: GrowthHub, conversations: readonly SeededConversation[], run: RunContext, size: GrowthSizeResult): Promise<void> {
  size.ops['messages.list older page'] = await timed('messages.list, an older page by cursor', conversations, run, async (c) => {
    const before = Math.max(2, c.messages - 20);
    const page = await listMessages(hub.url, hub.systemToken, c.id, 20, encodeCursor('m', [c.id, 'b', before]));
    if (page.pagination_data.total !== c.chat) throw new Error(`messages.list total ${page.pagination_data.total}, ${c.chat} seeded`);
    if (page.data.length === 0) throw new Error('messages.list answered an empty page');
  });
}

/** contacts.identify of returning seeded contacts (every conversation of theirs ended: identify opens a new one). */
async function identifies(hub: GrowthHub, seeder: GrowthSeeder, used: Set<string>, run: RunContext, reps: number, size: GrowthSizeResult): Promise<void> {
  const contacts = sample(
    seeder.contacts.filter((c) => c.allEnded && !used.has(c.id)),
    reps,
  );
  size.ops['contacts.identify'] = await timed('contacts.identify (returning contact)', contacts, run, async (c) => {
    used.add(c.id);
    const res = await identifyContact(hub.url, hub.systemToken, seeder.channelId, c.externalId);
    if (res.contact.id !== c.id) throw new Error(`identify answered contact ${res.contact.id}, seeded ${c.id}`);
    if (!res.conversations.some((v) => v.status !== 'ended' && v.resume_token)) throw new Error('identify answered without an open conversation');
  });
}

/**
 * Routing claims: per repetition a customer opens a conversation (init: it waits in the queue, no
 * agent ready), then a new agent (maxChats 1, connected, not ready) emits agentState ready; timed
 * from that emit to the agent's conversationInfo for the conversation (ready → its load rebuilt →
 * dispatch reads the queue → slot, claim, participantJoined). The agent then disconnects, full.
 */
async function claims(hub: GrowthHub, count: number, run: RunContext, size: GrowthSizeResult): Promise<void> {
  const tag = `${size.asked}-${randomInt(1_000_000)}`;
  const reps = Array.from({ length: count }, (_, i) => i);
  size.ops['routing claim'] = await timed('routing claim (agent ready → conversationInfo)', reps, run, async (i) => {
    const agentId = `growth-claim-${tag}-${i}`;
    const agent = await AgentSocket.open(hub.url, await agentToken(hub, agentId, `Growth Claim ${i}`, 1));
    try {
      const init = await postJson<{ conversationId: string }>(`${hub.url}/api/customer/init`, {
        firstName: `Growth${i}`,
        lastName: tag,
        email: `growth-${tag}-${i}@example.com`,
        channel: 'web',
      });
      // Let the init's own work (hand-off notice, the noAgentAvailable check) pass first.
      await sleep(50);
      const info = agent.info(init.conversationId);
      const t0 = performance.now();
      await agent.emit('agentState', { state: 'ready' });
      await info;
      return performance.now() - t0;
    } finally {
      agent.close();
    }
  });
}

/** Every operation once at the current size; the hub must have just (re)started on the grown database. */
export async function measureGrowthSize(hub: GrowthHub, seeder: GrowthSeeder, config: GrowthConfig, storePid: number | undefined, usedContacts: Set<string>, size: GrowthSizeResult): Promise<void> {
  const ended = seeder.conversations.filter((c) => c.ended && c.messages > 40);
  const picked = sample(ended, config.reps);
  if (picked.length < config.reps) progress(`growth: only ${picked.length} ended conversations to join at ${fmt(size.messages)} messages`);
  const run: RunContext = { hubPid: hub.pid, storePid, opSeconds: config.opSeconds };
  await joins(hub, picked, run, size);
  await lists(hub, sample(ended, config.reps), run, size);
  await identifies(hub, seeder, usedContacts, run, config.reps, size);
  await claims(hub, config.claims, run, size);
}
