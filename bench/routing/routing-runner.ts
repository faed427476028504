import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import type { Socket } from 'socket.io-client';
import type { AckResponse } from '../common/bench-events.js';
import type { ChildLogReport } from '../common/child-runner.js';
import { connectSocket, errorText, failureSummary, mapLimit, postJson, progress, sleep } from '../common/client-util.js';
import { type HubTarget } from '../common/hub-target.js';
import { CpuMeter, SelfCpuMeter } from '../common/proc-probe.js';
import { waitForQuiet } from '../common/quiet-wait.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';

export interface RoutingBenchConfig {
  /** Customers (POST /api/customer/init + joinConversation) per run. */
  conversations: number;
  /** Agents, each with its own socket and `maxChats`. */
  agents: number;
  maxChats: number;
  /** Steady run: customer inits per second. */
  rate: number;
}

/**
 * drain: every customer waits in the queue first, then all agents become ready at once;
 * steady: all agents ready first, then customers arrive at a fixed rate.
 */
export type RoutingRunKind = 'drain' | 'steady';

export interface RoutingRunResult {
  kind: RoutingRunKind;
  label: string;
  /** Customers asked for / initialised and joined. */
  requested: number;
  opened: number;
  openFailures: string;
  /** min(opened, agents × maxChats): conversations that should end up with an agent. */
  expected: number;
  /** Customers who saw an agent's participantJoined. */
  assigned: number;
  /** How the customer learnt it: messageArrived, or already in conversationInfo (assigned before the join). */
  viaInfo: number;
  /** POST /api/customer/init, request → answer. */
  initLatency: LatencySummary;
  /** init request start → participantJoined received by the customer. */
  joinedLatency: LatencySummary;
  /** init request start → the hub's timestamp on the participantJoined (same clock: one machine). */
  hubJoinedLatency: LatencySummary;
  /** Drain: the first agentState ready emitted → participantJoined received by the customer. */
  readyToJoined: LatencySummary | undefined;
  /** Drain: first ready emitted → last participantJoined received. Steady: last init start → last participantJoined. */
  drainSeconds: number;
  /** Drain: first ready emitted → last ready ack. */
  readyAckSeconds: number;
  /** Steady: inits started per second, first → last start (the schedule asked for config.rate). */
  achievedRate: number | undefined;
  /** Seconds to open the customers (drain: before any agent), to connect and ready the agents (steady). */
  setupSeconds: number;
  /** Drain: customers who got noAgentAvailable before any agent was ready. */
  noAgentNotices: number;
  /** Customers who saw their agent, per second from the drain's first ready (steady: the first init). */
  perSecond: number[];
  /** Conversations per agent as the agents saw them (conversationInfo), min/max. */
  perAgent: { min: number; max: number };
  /** From the hub's /metrics: hub_routing_assignments_total{via="queue"} during the run. */
  hubAssignments: number | undefined;
  serverCpuPercent: number | undefined;
  storeCpuPercent: number | undefined;
  clientCpuPercent: number;
  /** What the store holds after the run (undefined when it could not be read). */
  store: StoreCheck | undefined;
  /** Everything that contradicts "each conversation exactly one agent, no agent above maxChats". Empty when all is well. */
  problems: string[];
  /** Warnings of this run's hub process (set by the caller, who owns the process). */
  hubLog?: ChildLogReport | undefined;
}

export interface RoutingResult {
  config: RoutingBenchConfig;
  runs: RoutingRunResult[];
}

/** The store's view after a run. */
export interface StoreCheck {
  conversations: number;
  active: number;
  queued: number;
  /** Stored participantJoined ActivityMessages from agents, and conversations with more than one. */
  agentJoins: number;
  conversationsJoinedTwice: number;
  /** Sum of the agents' `load`, the largest `load`, agents whose load differs from active.length. */
  loadSum: number;
  maxLoad: number;
  loadMismatches: number;
}

interface WireMessage {
  id?: string;
  type?: string;
  activityType?: string;
  timestamp?: string;
  from?: { id?: string; role?: string };
  conversationId?: string;
}

interface ConversationInfo {
  conversation?: { id?: string };
  messages?: WireMessage[];
  role?: string;
}

interface InitResponse {
  conversationId: string;
  participant: { id: string; name: string };
  token: string;
}

type RoutingSocket = Socket;

interface Customer {
  index: number;
  conversationId: string;
  socket: RoutingSocket | undefined;
  /** performance.now() and Date.now() at the init request's start. */
  initStart: number;
  initStartWall: number;
  initEnd: number;
  joinedAt: number | undefined;
  joinedVia: 'messageArrived' | 'conversationInfo' | undefined;
  /** Date.parse of the participantJoined's timestamp (hub clock). */
  hubJoinedAt: number | undefined;
  /** Agents announced to this customer, and the distinct participantJoined messages (by id). */
  agents: Set<string>;
  joinMessages: Set<string>;
  noAgent: boolean;
}

interface Agent {
  id: string;
  token: string;
  socket: RoutingSocket | undefined;
  conversations: Set<string>;
}

/** Shared by every socket of one run: which agents got a conversationInfo for each conversation. */
interface RunState {
  customers: Map<string, Customer>;
  agentsOf: Map<string, Set<string>>;
  lastJoinedAt: number;
  assigned: number;
}

const CONNECT_TIMEOUT_MS = 20_000;
const ACK_TIMEOUT_MS = 30_000;
/** Customers opened at once in the drain run (the store writes one command at a time: more only queue there). */
const OPEN_CONCURRENCY = 10;
const BUDGET = { openMs: 120_000, noticeMs: 60_000, quietMs: 10_000, assignMs: 180_000, stallMs: 30_000 };
/** After the last expected assignment: longer than one routing sweep (2 s), so a late second assignment would show. */
const GRACE_MS = 3000;


function emitAck(socket: RoutingSocket, event: string, payload: unknown): Promise<AckResponse & Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err: Error | null, res: AckResponse & Record<string, unknown>) => {
      if (err) reject(new Error(`${event} ack timed out`));
      else if (!res.ok) reject(new Error(`${event} refused: ${res.error?.code ?? '?'} ${res.error?.message ?? ''}`));
      else resolve(res);
    });
  });
}

/** Records a message the customer saw; an agent's participantJoined marks the assignment. */
function customerSaw(state: RunState, c: Customer, m: WireMessage, via: 'messageArrived' | 'conversationInfo'): void {
  if (m.type !== 'ActivityMessage') return;
  if (m.activityType === 'noAgentAvailable') c.noAgent = true;
  if (m.activityType !== 'participantJoined' || m.from?.role !== 'agent' || !m.from.id) return;
  c.agents.add(m.from.id);
  if (m.id) c.joinMessages.add(m.id);
  if (c.joinedAt !== undefined) return;
  c.joinedAt = performance.now();
  c.joinedVia = via;
  const hubAt = m.timestamp ? Date.parse(m.timestamp) : Number.NaN;
  if (Number.isFinite(hubAt)) c.hubJoinedAt = hubAt;
  state.assigned += 1;
  state.lastJoinedAt = c.joinedAt;
}

/** init over HTTP (timed from the request's start), then a socket with listeners and joinConversation. */
async function openCustomer(url: string, state: RunState, index: number, tag: string): Promise<Customer> {
  const initStartWall = Date.now();
  const initStart = performance.now();
  const init = await postJson<InitResponse>(`${url}/api/customer/init`, {
    firstName: `Routing${index}`,
    lastName: tag,
    email: `routing-${tag}-${index}@example.com`,
    channel: 'web',
  });
  const c: Customer = {
    index,
    conversationId: init.conversationId,
    socket: undefined,
    initStart,
    initStartWall,
    initEnd: performance.now(),
    joinedAt: undefined,
    joinedVia: undefined,
    hubJoinedAt: undefined,
    agents: new Set(),
    joinMessages: new Set(),
    noAgent: false,
  };
  state.customers.set(c.conversationId, c);
  c.socket = await connectSocket<RoutingSocket>(url, { token: init.token }, CONNECT_TIMEOUT_MS, (s) => {
    s.on('conversationInfo', (info: ConversationInfo) => {
      for (const m of info.messages ?? []) customerSaw(state, c, m, 'conversationInfo');
    });
    s.on('messageArrived', (m: WireMessage) => customerSaw(state, c, m, 'messageArrived'));
  });
  await emitAck(c.socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: init.participant.name });
  return c;
}

async function agentTokens(url: string, systemToken: string, config: RoutingBenchConfig, tag: string): Promise<Agent[]> {
  return Promise.all(
    Array.from({ length: config.agents }, async (_, i) => {
      const id = `routing-${tag}-agent-${i}`;
      const { token } = await postJson<{ token: string }>(`${url}/api/agents/token`, { id, name: `Routing Agent ${i}`, skills: [], maxChats: config.maxChats }, systemToken);
      return { id, token, socket: undefined, conversations: new Set<string>() };
    }),
  );
}

async function connectAgents(url: string, state: RunState, agents: Agent[]): Promise<void> {
  await Promise.all(
    agents.map(async (a) => {
      a.socket = await connectSocket<RoutingSocket>(url, { token: a.token }, CONNECT_TIMEOUT_MS, (s) => {
        s.on('conversationInfo', (info: ConversationInfo) => {
          const id = info.conversation?.id;
          if (!id || info.role !== 'agent') return;
          a.conversations.add(id);
          let holders = state.agentsOf.get(id);
          if (!holders) state.agentsOf.set(id, (holders = new Set()));
          holders.add(a.id);
        });
      });
    }),
  );
}

/** Every agent emits agentState ready at the same moment; resolves with the first emit's time and when the last ack came. */
async function readyAll(agents: Agent[]): Promise<{ firstReadyAt: number; lastAckAt: number }> {
  const firstReadyAt = performance.now();
  const acks = agents.map((a) => {
    if (!a.socket) throw new Error(`agent ${a.id} has no socket`);
    return emitAck(a.socket, 'agentState', { state: 'ready' });
  });
  await Promise.all(acks);
  return { firstReadyAt, lastAckAt: performance.now() };
}

/** Waits until `count()` reaches `target`, or nothing changed for `stallMs`, or `deadline`; returns a note when it stopped short. */
async function waitFor(count: () => number, target: number, what: string, deadline: number, stallMs: number): Promise<string> {
  let last = count();
  let changedAt = performance.now();
  while (count() < target) {
    const now = performance.now();
    if (now > deadline) return `${what}: ${count()}/${target} when the time budget ran out`;
    if (now - changedAt > stallMs) return `${what}: ${count()}/${target}, nothing new for ${stallMs / 1000} s`;
    await sleep(50);
    if (count() !== last) {
      last = count();
      changedAt = performance.now();
    }
  }
  return '';
}

/** hub_routing_assignments_total{via="queue"} from the hub's /metrics. */
async function queueAssignments(hub: HubTarget): Promise<number | undefined> {
  const text = (await hub.metrics()) ?? '';
  const match = /^hub_routing_assignments_total\{[^}]*via="queue"[^}]*\} ([0-9.eE+-]+)$/m.exec(text);
  return match?.[1] ? Number(match[1]) : undefined;
}

interface StoredConversation {
  _id: string;
  status: string;
  agent: { id: string } | null;
}
interface StoredAgent {
  _id: string;
  load: number;
  maxChats: number;
  active: string[];
}
interface StoredJoin {
  conversationId: string;
  from: { id: string };
}

/** Reads the run's conversations, agents and agent joins back from the store and checks them against each other. */
async function checkStore(dbUri: string, agentIds: ReadonlySet<string>, conversationIds: ReadonlySet<string>, maxChats: number, problems: string[]): Promise<StoreCheck> {
  const db = mongoose.createConnection(dbUri, { serverSelectionTimeoutMS: 5000, maxPoolSize: 2 });
  try {
    await db.asPromise();
    const conversations = (await db.collection('conversations').find({}, { projection: { status: 1, agent: 1 } }).toArray()) as unknown as StoredConversation[];
    const agents = (await db.collection('agents').find({}, { projection: { load: 1, maxChats: 1, active: 1 } }).toArray()) as unknown as StoredAgent[];
    const joins = (await db
      .collection('messages')
      .find({ type: 'ActivityMessage', activityType: 'participantJoined', 'from.role': 'agent' }, { projection: { conversationId: 1, from: 1 } })
      .toArray()) as unknown as StoredJoin[];

    const mine = conversations.filter((c) => conversationIds.has(c._id));
    const holders = new Map<string, string[]>();
    let loadSum = 0;
    let maxLoad = 0;
    let loadMismatches = 0;
    for (const a of agents.filter((x) => agentIds.has(x._id))) {
      loadSum += a.load;
      maxLoad = Math.max(maxLoad, a.load);
      if (a.load !== a.active.length || new Set(a.active).size !== a.active.length) {
        loadMismatches += 1;
        problems.push(`store: agent ${a._id} has load ${a.load} but ${a.active.length} active entries (${new Set(a.active).size} distinct)`);
      }
      if (a.load > maxChats || a.active.length > maxChats) problems.push(`store: agent ${a._id} holds ${a.active.length} conversations (load ${a.load}), above maxChats ${maxChats}`);
      for (const id of a.active) holders.set(id, [...(holders.get(id) ?? []), a._id]);
    }
    let inTwoLists = 0;
    let notInList = 0;
    let wrongHolder = 0;
    for (const c of mine) {
      const held = holders.get(c._id) ?? [];
      if (held.length > 1) inTwoLists += 1;
      if (c.status === 'active' && held.length === 0) notInList += 1;
      if (c.agent && held.length > 0 && !held.includes(c.agent.id)) wrongHolder += 1;
    }
    if (inTwoLists) problems.push(`store: ${inTwoLists} conversations are in the active list of more than one agent`);
    if (notInList) problems.push(`store: ${notInList} active conversations are in no agent's active list`);
    if (wrongHolder) problems.push(`store: ${wrongHolder} conversations are held by an agent other than their assigned agent`);
    const joinsBy = new Map<string, Set<string>>();
    let agentJoins = 0;
    for (const j of joins) {
      if (!conversationIds.has(j.conversationId)) continue;
      agentJoins += 1;
      const set = joinsBy.get(j.conversationId) ?? new Set<string>();
      set.add(j.from.id);
      joinsBy.set(j.conversationId, set);
    }
    const conversationsJoinedTwice = [...joinsBy.values()].filter((s) => s.size > 1).length;
    if (conversationsJoinedTwice) problems.push(`store: ${conversationsJoinedTwice} conversations have participantJoined from more than one agent`);
    const twiceStored = agentJoins - joinsBy.size;
    if (twiceStored > 0) problems.push(`store: ${twiceStored} participantJoined messages from agents stored beyond one per conversation`);
    return {
      conversations: mine.length,
      active: mine.filter((c) => c.status === 'active').length,
      queued: mine.filter((c) => c.status === 'queued').length,
      agentJoins,
      conversationsJoinedTwice,
      loadSum,
      maxLoad,
      loadMismatches,
    };
  } finally {
    await db.close(true).catch(() => undefined);
  }
}

/** What the clients saw: each conversation one agent (customer and agent side agree), no agent above maxChats. */
function checkClients(state: RunState, agents: readonly Agent[], config: RoutingBenchConfig, expected: number, problems: string[]): void {
  const customers = [...state.customers.values()];
  const none = customers.filter((c) => c.agents.size === 0).length;
  const several = customers.filter((c) => c.agents.size > 1);
  const repeated = customers.filter((c) => c.agents.size === 1 && c.joinMessages.size > 1).length;
  if (state.assigned < expected) problems.push(`${expected - state.assigned} of ${expected} customers never saw an agent's participantJoined (${none} customers without one in all)`);
  if (several.length) {
    const sample = several.slice(0, 3).map((c) => `${c.conversationId}: ${[...c.agents].join(', ')}`);
    problems.push(`${several.length} customers saw participantJoined from more than one agent (e.g. ${sample.join('; ')})`);
  }
  if (repeated) problems.push(`${repeated} customers saw the same agent's participantJoined more than once (distinct message ids)`);
  let sharedInfo = 0;
  let disagree = 0;
  let infoMissing = 0;
  for (const c of customers) {
    const holders = state.agentsOf.get(c.conversationId);
    if (holders && holders.size > 1) sharedInfo += 1;
    if (c.agents.size === 1 && !holders) infoMissing += 1;
    if (c.agents.size === 1 && holders && ![...holders].every((h) => c.agents.has(h))) disagree += 1;
  }
  if (sharedInfo) problems.push(`${sharedInfo} conversations were sent (conversationInfo) to more than one agent`);
  if (disagree) problems.push(`${disagree} conversations reached an agent other than the one the customer was told about`);
  if (infoMissing) problems.push(`${infoMissing} assigned conversations never reached their agent's socket (no conversationInfo)`);
  const over = agents.filter((a) => a.conversations.size > config.maxChats);
  if (over.length) problems.push(`${over.length} agents got more than maxChats ${config.maxChats} conversations (${over.map((a) => `${a.id}: ${a.conversations.size}`).join(', ')})`);
}

function closeAll(state: RunState, agents: readonly Agent[]): void {
  for (const c of state.customers.values()) c.socket?.disconnect();
  for (const a of agents) a.socket?.disconnect();
}

/**
 * One routing run against `hub` (its own process, a fresh database): `config.conversations`
 * customers and `config.agents` agents with `config.maxChats` each; times init → the agent's
 * participantJoined at the customer and checks that no conversation went to two agents and no
 * agent above maxChats, from the clients' side and in the store.
 */
export async function runRoutingBench(
  kind: RoutingRunKind,
  hub: HubTarget,
  url: string,
  systemToken: string,
  dbUri: string,
  storePid: number | undefined,
  config: RoutingBenchConfig,
): Promise<RoutingRunResult> {
  const tag = `${kind}${String(randomInt(1000)).padStart(3, '0')}`;
  const state: RunState = { customers: new Map(), agentsOf: new Map(), lastJoinedAt: 0, assigned: 0 };
  const capacity = config.agents * config.maxChats;
  const label =
    kind === 'drain'
      ? `drain: ${fmt(config.conversations)} queued, then ${config.agents} agents ready at once`
      : `steady: ${config.agents} agents ready, then ${fmt(config.conversations)} customers at ${fmt(config.rate)}/s`;
  const agents = await agentTokens(url, systemToken, config, tag);
  try {
    let setupSeconds: number;
    let openFailures = '';
    let opened = 0;
    let noAgentNotices = 0;
    let firstReadyAt = 0;
    let readyAckSeconds = 0;
    let achievedRate: number | undefined;
    let lastInitStart = 0;
    let firstInitStart = 0;
    let cpu: CpuMeter;
    let storeCpu: CpuMeter;
    let clientCpu: SelfCpuMeter;
    let before: number | undefined;

    if (kind === 'drain') {
      progress(`routing ${label}: opening ${config.conversations} customers (init + join, concurrency ${OPEN_CONCURRENCY}) with no agent ready…`);
      const started = performance.now();
      const step = Math.max(1, Math.floor(config.conversations / 4));
      const results = await mapLimit(
        Array.from({ length: config.conversations }, (_, i) => i),
        OPEN_CONCURRENCY,
        (i) => openCustomer(url, state, i, tag),
        (done) => {
          if (done % step === 0 && done < config.conversations) progress(`routing drain: ${done}/${config.conversations} customers waiting`);
        },
        { deadline: started + BUDGET.openMs },
      );
      setupSeconds = (performance.now() - started) / 1000;
      openFailures = failureSummary(results);
      opened = results.filter((r) => r.status === 'fulfilled').length;
      progress(`routing drain: ${opened} customers waiting after ${fmt(setupSeconds, 1)} s${openFailures ? `; failures: ${openFailures}` : ''}`);
      if (opened === 0) throw new Error(`no customer could be opened: ${openFailures}`);
      // Every waiting customer is told noAgentAvailable once; wait for those, then for the store to go idle.
      const customers = [...state.customers.values()];
      const note = await waitFor(() => customers.filter((c) => c.noAgent).length, customers.length, 'noAgentAvailable notices', performance.now() + BUDGET.noticeMs, 15_000);
      noAgentNotices = customers.filter((c) => c.noAgent).length;
      if (note) progress(`routing drain: ${note}`);
      const quiet = await waitForQuiet(hub.counters, storePid, BUDGET.quietMs);
      if (quiet) progress(`routing drain before the agents: ${quiet}`);
      if (state.assigned > 0) throw new Error(`${state.assigned} customers got an agent before any agent was ready`);
      await connectAgents(url, state, agents);
      progress(`routing drain: ${agents.length} agents connected (not ready); all emit agentState ready now…`);
      before = await queueAssignments(hub);
      cpu = new CpuMeter(hub.pid);
      storeCpu = new CpuMeter(storePid);
      clientCpu = new SelfCpuMeter();
      const ready = await readyAll(agents);
      firstReadyAt = ready.firstReadyAt;
      readyAckSeconds = (ready.lastAckAt - ready.firstReadyAt) / 1000;
    } else {
      progress(`routing ${label}: connecting ${config.agents} agents and making them ready…`);
      const started = performance.now();
      await connectAgents(url, state, agents);
      const ready = await readyAll(agents);
      readyAckSeconds = (ready.lastAckAt - ready.firstReadyAt) / 1000;
      setupSeconds = (performance.now() - started) / 1000;
      const quiet = await waitForQuiet(hub.counters, storePid, BUDGET.quietMs);
      if (quiet) progress(`routing steady before the customers: ${quiet}`);
      progress(`routing steady: ${config.agents} agents ready in ${fmt(setupSeconds, 1)} s; ${config.conversations} customers at ${fmt(config.rate)}/s (~${fmt(config.conversations / config.rate, 1)} s)…`);
      before = await queueAssignments(hub);
      cpu = new CpuMeter(hub.pid);
      storeCpu = new CpuMeter(storePid);
      clientCpu = new SelfCpuMeter();
      const t0 = performance.now();
      const pending: Promise<Customer>[] = [];
      for (let i = 0; i < config.conversations; i += 1) {
        const due = t0 + (i * 1000) / config.rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const at = performance.now();
        if (i === 0) firstInitStart = at;
        lastInitStart = at;
        pending.push(openCustomer(url, state, i, tag));
      }
      achievedRate = config.conversations > 1 && lastInitStart > firstInitStart ? (config.conversations - 1) / ((lastInitStart - firstInitStart) / 1000) : undefined;
      const results = await Promise.allSettled(pending);
      openFailures = failureSummary(results);
      opened = results.filter((r) => r.status === 'fulfilled').length;
      if (openFailures) progress(`routing steady: customer failures: ${openFailures}`);
    }

    const expected = Math.min(opened, capacity);
    const note = await waitFor(() => state.assigned, expected, 'customers with an agent', performance.now() + BUDGET.assignMs, BUDGET.stallMs);
    if (note) progress(`routing ${kind}: ${note}`);
    const serverCpuPercent = cpu.percent();
    const storeCpuPercent = storeCpu.percent();
    const clientCpuPercent = clientCpu.percent();
    const after = await queueAssignments(hub);
    // A second assignment of the same conversation, or one beyond capacity, would show within a sweep.
    await sleep(GRACE_MS);

    const problems: string[] = [];
    if (note) problems.push(note);
    checkClients(state, agents, config, expected, problems);
    let store: StoreCheck | undefined;
    try {
      store = await checkStore(dbUri, new Set(agents.map((a) => a.id)), new Set(state.customers.keys()), config.maxChats, problems);
      if (store.active !== expected) problems.push(`store: ${store.active} of the run's conversations are active, ${expected} expected`);
    } catch (err) {
      problems.push(`could not read the store back: ${errorText(err)}`);
    }

    const customers = [...state.customers.values()];
    const joined = customers.filter((c) => c.joinedAt !== undefined);
    const origin = kind === 'drain' ? firstReadyAt : lastInitStart;
    const perSecondFrom = kind === 'drain' ? firstReadyAt : firstInitStart;
    const perSecond: number[] = [];
    for (const c of joined) {
      const second = Math.max(0, Math.floor(((c.joinedAt ?? 0) - perSecondFrom) / 1000));
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second] = (perSecond[second] ?? 0) + 1;
    }
    const counts = agents.map((a) => a.conversations.size);
    const result: RoutingRunResult = {
      kind,
      label,
      requested: config.conversations,
      opened,
      openFailures,
      expected,
      assigned: state.assigned,
      viaInfo: joined.filter((c) => c.joinedVia === 'conversationInfo').length,
      initLatency: summarize(customers.map((c) => c.initEnd - c.initStart)),
      joinedLatency: summarize(joined.map((c) => (c.joinedAt ?? 0) - c.initStart)),
      hubJoinedLatency: summarize(joined.filter((c) => c.hubJoinedAt !== undefined).map((c) => (c.hubJoinedAt ?? 0) - c.initStartWall)),
      readyToJoined: kind === 'drain' ? summarize(joined.map((c) => (c.joinedAt ?? 0) - firstReadyAt)) : undefined,
      drainSeconds: joined.length > 0 ? Math.max(0, state.lastJoinedAt - origin) / 1000 : Number.NaN,
      readyAckSeconds,
      achievedRate,
      setupSeconds,
      noAgentNotices,
      perSecond,
      perAgent: { min: Math.min(...counts), max: Math.max(...counts) },
      hubAssignments: after !== undefined && before !== undefined ? after - before : undefined,
      serverCpuPercent,
      storeCpuPercent,
      clientCpuPercent,
      store,
      problems,
    };
    progress(
      `routing ${label}: ${result.assigned}/${result.expected} assigned; init → participantJoined p50 ${fmt(result.joinedLatency.p50)} / p99 ${fmt(result.joinedLatency.p99)} / ` +
        `max ${fmt(result.joinedLatency.max)} ms; ${kind === 'drain' ? `drain ${fmt(result.drainSeconds, 2)} s` : `last init → last assignment ${fmt(result.drainSeconds, 2)} s`}; ` +
        `per agent ${result.perAgent.min}–${result.perAgent.max}; CPU hub/store/client ${fmt(serverCpuPercent)}/${fmt(storeCpuPercent)}/${fmt(clientCpuPercent)}%` +
        (problems.length ? `; PROBLEMS: ${problems.join('; ')}` : '; checks ok'),
    );
    return result;
  } finally {
    closeAll(state, agents);
  }
}
