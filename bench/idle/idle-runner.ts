import { performance } from 'node:perf_hooks';
import type { BenchSocket } from '../common/bench-events.js';
import type { BenchTarget, IdleShape, IdleSocketPlan } from '../common/bench-target.js';
import { closeSockets, failureSummary, mapLimit, progress, sleep } from '../common/client-util.js';
import { readProcMemory } from '../common/proc-probe.js';
import { fmt, kib, mib } from '../common/stats.js';

/** Server memory at one point of the idle stage. */
export interface MemoryPoint {
  rss: number | undefined;
  heap: number | undefined;
}

/** One pass of joins: participants' first joins, or their further tabs. */
export interface JoinPass {
  asked: number;
  joined: number;
  seconds: number;
  failures: string;
}

export interface IdleResult {
  target: string;
  shape: IdleShape;
  requested: number;
  connected: number;
  joined: number;
  connectFailures: string;
  joinFailures: string;
  connectSeconds: number;
  joinSeconds: number;
  /** Each participant's first socket (hub: the joins that write to the database). */
  firstJoins: JoinPass;
  /** The further tabs of participants already joined (hub: rejoins, no database write). */
  tabJoins: JoinPass;
  before: MemoryPoint;
  afterConnect: MemoryPoint;
  afterJoin: MemoryPoint;
  /** Cost of a connected (authenticated, not yet joined) socket. */
  connectedPerSocket: MemoryPoint;
  /** Cost of a connected and joined socket: the connected cost plus the join increment per joined socket. */
  joinedPerSocket: MemoryPoint;
  serverCounted: number | undefined;
}

export interface IdleBudget {
  /** For creating what the sockets will join (hub: conversations). */
  prepareMs: number;
  connectMs: number;
  /** For all joins together: first joins, then tabs with what is left. */
  joinMs: number;
}

/**
 * Spreads `sockets` over `conversations` conversations, half customer tabs and half agent tabs
 * each; with fewer than two sockets per conversation, one conversation per customer/agent pair.
 * Sockets that do not fill a whole conversation are left out.
 */
export function idleShape(sockets: number, conversations: number): IdleShape {
  const rooms = Math.max(0, Math.min(conversations, Math.floor(sockets / 2)));
  const tabs = rooms > 0 ? Math.floor(sockets / (2 * rooms)) : 0;
  return { conversations: rooms, customerTabs: tabs, agentTabs: tabs, sockets: rooms * 2 * tabs };
}

/** E.g. "10,000 sockets = 500 conversations × (10 customer tabs + 10 agent tabs)". */
export function describeShape(shape: IdleShape, unit = 'conversations'): string {
  return `${fmt(shape.sockets)} sockets = ${fmt(shape.conversations)} ${unit} × (${shape.customerTabs} customer tab${shape.customerTabs === 1 ? '' : 's'} + ${shape.agentTabs} agent tab${shape.agentTabs === 1 ? '' : 's'})`;
}

const CONNECT_CONCURRENCY = 200;
/**
 * First joins write to the hub's database (and announce the join, another write). A store that
 * serialises writes gains nothing from more in flight, only longer queues: past the hub's database
 * deadline (4 s) or its writer's (2 s), joins and join announcements fail. So only a few at once.
 */
const FIRST_JOIN_CONCURRENCY = 5;
/** Further tabs of a joined participant cost the hub no database write. */
const TAB_JOIN_CONCURRENCY = 100;
/** A progress line about every this many joins (more often when a pass is shorter). */
const JOIN_PROGRESS_EVERY = 2000;
const SETTLE_MS = 3000;
/** Give up early when a step is clearly failing (the server cannot keep up): after this many, at this failure ratio. */
const GIVE_UP_AFTER = 100;
const GIVE_UP_RATIO = 0.9;

/** The smallest of a few heap readings: the one least inflated by garbage not yet collected. */
async function measure(target: BenchTarget, samples = 3): Promise<MemoryPoint> {
  let heap: number | undefined;
  for (let i = 0; i < samples; i += 1) {
    const reading = await target.heapUsed();
    if (reading !== undefined && (heap === undefined || reading < heap)) heap = reading;
    if (i + 1 < samples) await sleep(300);
  }
  return { rss: readProcMemory(target.pid)?.rssBytes, heap };
}

const delta = (a: number | undefined, b: number | undefined, n: number): number | undefined =>
  a !== undefined && b !== undefined && n > 0 ? (b - a) / n : undefined;

const sum = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined ? a + b : undefined);

function describe(point: MemoryPoint): string {
  return `RSS ${mib(point.rss)}, heap used ${mib(point.heap)}`;
}

/** Runs `step` over `items` within a time budget, giving up early when almost everything fails. */
async function bounded<T>(
  items: readonly T[],
  concurrency: number,
  budgetMs: number,
  label: string,
  step: (item: T) => Promise<void>,
  every = Math.max(1, Math.floor(items.length / 5)),
) {
  let attempted = 0;
  let failed = 0;
  const started = performance.now();
  const results = await mapLimit(
    items,
    concurrency,
    async (item) => {
      try {
        await step(item);
      } catch (err) {
        failed += 1;
        throw err;
      } finally {
        attempted += 1;
      }
    },
    (done) => {
      if (done % every === 0 && done < items.length) progress(`${label}: ${done}/${items.length} done (${failed} failed)`);
    },
    { deadline: started + budgetMs, stop: () => attempted >= GIVE_UP_AFTER && failed / attempted >= GIVE_UP_RATIO },
  );
  return { seconds: (performance.now() - started) / 1000, failures: failureSummary(results) };
}

/**
 * Connects `count` sockets, then joins them, and measures what they cost the server after
 * each step. Connect and join are separate so a slow join path still yields the connected figure.
 */
export async function runIdle(target: BenchTarget, shape: IdleShape, budget: IdleBudget): Promise<IdleResult> {
  progress(`${target.name} idle: ${describeShape(shape, target.name === 'bare' ? 'rooms' : 'conversations')}`);
  const plans = await target.prepareIdle(shape, performance.now() + budget.prepareMs);
  await sleep(1000);
  const before = await measure(target);
  progress(`${target.name} idle: before connecting: ${describe(before)}`);

  const connected: Array<{ socket: BenchSocket; plan: IdleSocketPlan }> = [];
  try {
    const label = `${target.name} idle connect`;
    progress(`${label}: ${plans.length} sockets (concurrency ${CONNECT_CONCURRENCY}, budget ${budget.connectMs / 1000} s)…`);
    const c = await bounded(plans, CONNECT_CONCURRENCY, budget.connectMs, label, async (plan) => {
      connected.push({ socket: await plan.connect(), plan });
    });
    progress(`${label}: ${connected.length}/${plans.length} in ${fmt(c.seconds, 1)} s${c.failures ? `; failures: ${c.failures}` : ''}`);
    await sleep(SETTLE_MS);
    const afterConnect = await measure(target);

    // Each participant's first socket joins first (on the hub, those are the database writes:
    // customers before agents, so one conversation's two first joins do not race); then the tabs.
    const joinStarted = performance.now();
    const joinDeadline = joinStarted + budget.joinMs;
    let joined = 0;
    const pass = async (label: string, items: typeof connected, concurrency: number): Promise<JoinPass> => {
      const remainingMs = Math.max(0, joinDeadline - performance.now());
      const every = Math.max(1, Math.min(JOIN_PROGRESS_EVERY, Math.floor(items.length / 4)));
      progress(`${label}: ${fmt(items.length)} sockets (concurrency ${concurrency}, ${fmt(remainingMs / 1000, 1)} s of the join budget left)…`);
      let passJoined = 0;
      const r = await bounded(
        items,
        concurrency,
        remainingMs,
        label,
        async ({ socket, plan }) => {
          await plan.join(socket);
          passJoined += 1;
          joined += 1;
        },
        every,
      );
      progress(`${label}: ${fmt(passJoined)}/${fmt(items.length)} in ${fmt(r.seconds, 1)} s${r.failures ? `; failures: ${r.failures}` : ''}`);
      return { asked: items.length, joined: passJoined, seconds: r.seconds, failures: r.failures };
    };
    const firsts = [...connected.filter((c) => c.plan.first && c.plan.role === 'customer'), ...connected.filter((c) => c.plan.first && c.plan.role === 'agent')];
    const tabs = connected.filter((c) => !c.plan.first);
    const firstJoins = await pass(`${target.name} idle join, first sockets`, firsts, FIRST_JOIN_CONCURRENCY);
    const tabJoins = await pass(`${target.name} idle join, further tabs`, tabs, TAB_JOIN_CONCURRENCY);
    const joinSeconds = (performance.now() - joinStarted) / 1000;
    const joinFailures = [firstJoins.failures && `first: ${firstJoins.failures}`, tabJoins.failures && `tabs: ${tabJoins.failures}`].filter(Boolean).join('; ');
    progress(
      `${target.name} idle join: ${fmt(joined)}/${fmt(connected.length)} in ${fmt(joinSeconds, 1)} s ` +
        `(first sockets ${fmt(firstJoins.joined)} in ${fmt(firstJoins.seconds, 1)} s, further tabs ${fmt(tabJoins.joined)} in ${fmt(tabJoins.seconds, 1)} s)`,
    );
    await sleep(SETTLE_MS);
    const afterJoin = await measure(target);
    const serverCounted = await target.connectedSockets();

    const connectedPerSocket = {
      rss: delta(before.rss, afterConnect.rss, connected.length),
      heap: delta(before.heap, afterConnect.heap, connected.length),
    };
    const joinedPerSocket = {
      rss: sum(connectedPerSocket.rss, delta(afterConnect.rss, afterJoin.rss, joined)),
      heap: sum(connectedPerSocket.heap, delta(afterConnect.heap, afterJoin.heap, joined)),
    };
    progress(
      `${target.name} idle: connected ${describe(afterConnect)} (${kib(connectedPerSocket.heap)} heap/socket); ` +
        `joined ${describe(afterJoin)} (${kib(joinedPerSocket.heap)} heap/joined socket); server counts ${fmt(serverCounted)} sockets`,
    );
    return {
      target: target.name,
      shape,
      requested: plans.length,
      connected: connected.length,
      joined,
      connectFailures: c.failures,
      joinFailures,
      connectSeconds: c.seconds,
      joinSeconds,
      firstJoins,
      tabJoins,
      before,
      afterConnect,
      afterJoin,
      connectedPerSocket,
      joinedPerSocket,
      serverCounted,
    };
  } finally {
    closeSockets(connected.map((c) => c.socket));
    for (let i = 0; i < 60 && ((await target.connectedSockets()) ?? 0) > 0; i += 1) await sleep(250);
    progress(`${target.name} idle: sockets closed`);
  }
}
