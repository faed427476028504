import { performance } from 'node:perf_hooks';
import type { BenchSocket } from './bench-events.js';
import type { BenchTarget, IdleSocketPlan } from './bench-target.js';
import { closeSockets, failureSummary, mapLimit, progress, sleep } from './client-util.js';
import { readProcMemory } from './proc-probe.js';
import { fmt, kib, mib } from './stats.js';

/** Server memory at one point of the idle stage. */
export interface MemoryPoint {
  rss: number | undefined;
  heap: number | undefined;
}

export interface IdleResult {
  target: string;
  requested: number;
  connected: number;
  joined: number;
  connectFailures: string;
  joinFailures: string;
  connectSeconds: number;
  joinSeconds: number;
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
  joinMs: number;
}

const CONNECT_CONCURRENCY = 200;
/** Joins touch the hub's database, so fewer run at once than connects. */
const JOIN_CONCURRENCY = 20;
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
async function bounded<T>(items: readonly T[], concurrency: number, budgetMs: number, label: string, step: (item: T) => Promise<void>) {
  let attempted = 0;
  let failed = 0;
  const started = performance.now();
  const every = Math.max(1, Math.floor(items.length / 5));
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
export async function runIdle(target: BenchTarget, count: number, budget: IdleBudget): Promise<IdleResult> {
  const plans = await target.prepareIdle(count, performance.now() + budget.prepareMs);
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

    const joinLabel = `${target.name} idle join`;
    progress(`${joinLabel}: ${connected.length} sockets (concurrency ${JOIN_CONCURRENCY}, budget ${budget.joinMs / 1000} s)…`);
    let joined = 0;
    const j = await bounded(connected, JOIN_CONCURRENCY, budget.joinMs, joinLabel, async ({ socket, plan }) => {
      await plan.join(socket);
      joined += 1;
    });
    progress(`${joinLabel}: ${joined}/${connected.length} in ${fmt(j.seconds, 1)} s${j.failures ? `; failures: ${j.failures}` : ''}`);
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
      requested: plans.length,
      connected: connected.length,
      joined,
      connectFailures: c.failures,
      joinFailures: j.failures,
      connectSeconds: c.seconds,
      joinSeconds: j.seconds,
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
