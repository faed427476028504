import { performance } from 'node:perf_hooks';
import type { BenchSocket } from './bench-events.js';
import type { BenchTarget } from './bench-target.js';
import { closeSockets, failureSummary, mapLimit, progress, sleep } from './client-util.js';
import { readProcMemory } from './proc-probe.js';
import { fmt, kib, mib } from './stats.js';

export interface IdleResult {
  target: string;
  requested: number;
  connected: number;
  failures: string;
  connectSeconds: number;
  rssBefore: number | undefined;
  rssAfter: number | undefined;
  heapBefore: number | undefined;
  heapAfter: number | undefined;
  rssPerSocket: number | undefined;
  heapPerSocket: number | undefined;
  serverCounted: number | undefined;
}

const CONNECT_CONCURRENCY = 200;
const SETTLE_MS = 3000;

/** The smallest of a few heap readings: the one least inflated by garbage not yet collected. */
async function lowestHeap(target: BenchTarget, samples = 3): Promise<number | undefined> {
  let lowest: number | undefined;
  for (let i = 0; i < samples; i += 1) {
    const heap = await target.heapUsed();
    if (heap !== undefined && (lowest === undefined || heap < lowest)) lowest = heap;
    if (i + 1 < samples) await sleep(300);
  }
  return lowest;
}

const perSocket = (before: number | undefined, after: number | undefined, n: number): number | undefined =>
  before !== undefined && after !== undefined && n > 0 ? (after - before) / n : undefined;

/** Connects and joins `count` sockets that then sit idle, and measures what they cost the server. */
export async function runIdle(target: BenchTarget, count: number): Promise<IdleResult> {
  const tasks = await target.prepareIdle(count);
  await sleep(1000);
  const rssBefore = readProcMemory(target.pid)?.rssBytes;
  const heapBefore = await lowestHeap(target);
  progress(`${target.name} idle: before connecting: RSS ${mib(rssBefore)}, heap used ${mib(heapBefore)}`);
  progress(`${target.name} idle: connecting and joining ${tasks.length} sockets (concurrency ${CONNECT_CONCURRENCY})…`);

  const sockets: BenchSocket[] = [];
  const started = performance.now();
  const step = Math.max(1, Math.floor(tasks.length / 5));
  const results = await mapLimit(
    tasks,
    CONNECT_CONCURRENCY,
    async (task) => {
      const socket = await task();
      sockets.push(socket);
    },
    (done) => {
      if (done % step === 0 && done < tasks.length) progress(`${target.name} idle: ${done}/${tasks.length} sockets done`);
    },
  );
  const connectSeconds = (performance.now() - started) / 1000;
  const failures = failureSummary(results);
  progress(
    `${target.name} idle: ${sockets.length}/${tasks.length} sockets joined in ${fmt(connectSeconds, 1)} s` +
      `${failures ? `; failures: ${failures}` : ''}; settling ${SETTLE_MS / 1000} s…`,
  );

  await sleep(SETTLE_MS);
  const rssAfter = readProcMemory(target.pid)?.rssBytes;
  const heapAfter = await lowestHeap(target);
  const serverCounted = await target.connectedSockets();
  const result: IdleResult = {
    target: target.name,
    requested: tasks.length,
    connected: sockets.length,
    failures,
    connectSeconds,
    rssBefore,
    rssAfter,
    heapBefore,
    heapAfter,
    rssPerSocket: perSocket(rssBefore, rssAfter, sockets.length),
    heapPerSocket: perSocket(heapBefore, heapAfter, sockets.length),
    serverCounted,
  };
  progress(
    `${target.name} idle: after: RSS ${mib(rssAfter)} (${kib(result.rssPerSocket)}/socket), heap used ${mib(heapAfter)} ` +
      `(${kib(result.heapPerSocket)}/socket); server counts ${fmt(serverCounted)} sockets`,
  );

  closeSockets(sockets);
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const left = await target.connectedSockets();
    if (left === undefined || left === 0) break;
    await sleep(250);
  }
  progress(`${target.name} idle: sockets closed`);
  return result;
}
