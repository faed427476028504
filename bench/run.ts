import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startLocalDocstore, type LocalDocstore } from '../src/devstore/local-docstore.js';
import { BareTarget } from './bare-target.js';
import type { BenchTarget } from './bench-target.js';
import { freePort, startNodeChild, type RunningChild } from './child-runner.js';
import { closeSockets, errorText, progress, sleep, waitForHttp200 } from './client-util.js';
import { HubTarget } from './hub-target.js';
import { runIdle, type IdleResult } from './idle-runner.js';
import { ArrivalRouter, runPhases, type PhaseResult, type PhaseSpec } from './load-runner.js';
import { ephemeralPorts, fileLimits, readProcMemory } from './proc-probe.js';
import { printReport, type BenchReport } from './summary.js';
import { mib } from './stats.js';
import { measureStoreRate, type StoreRateResult } from './store-rate.js';

/** Repository root, from dist/bench/run.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WATCHDOG_MS = 10 * 60_000;

const PHASES: PhaseSpec[] = [
  { key: 'a', label: 'fixed 1,000 msg/s', mode: 'rate', rate: 1000, window: 0, durationMs: 8000, warmupMs: 1000 },
  { key: 'b', label: 'fixed 5,000 msg/s', mode: 'rate', rate: 5000, window: 0, durationMs: 8000, warmupMs: 1000 },
  { key: 'c', label: 'max, 4 in flight/socket', mode: 'window', rate: 0, window: 4, durationMs: 10_000, warmupMs: 1000 },
];

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    progress(`${name}=${raw} is not an integer in [${min}, ${max}]; using ${fallback}`);
    return fallback;
  }
  return value;
}

/** Idle sockets that fit the open-file limit (client and server each hold one fd per socket) and the ephemeral port range. */
function fitIdleCount(requested: number): number {
  const { soft, hard } = fileLimits();
  const ports = ephemeralPorts();
  const fit = Math.min(requested, soft - 1024, ports - 2000);
  const count = Math.max(0, fit - (fit % 2));
  progress(`open-file limit: soft ${soft}, hard ${hard}; ephemeral ports: ${ports}`);
  if (count < requested) {
    progress(
      `ulimit -n ${soft} (or the port range) is too low for ${requested} idle sockets: lowering to ${count}. ` +
        `Node cannot raise it itself; run "ulimit -n ${requested + 2048}" (hard limit ${hard}) in the shell before npm run bench.`,
    );
  }
  return count;
}

interface Resources {
  tmp: string | undefined;
  docstore: LocalDocstore | undefined;
  children: RunningChild[];
}

const resources: Resources = { tmp: undefined, docstore: undefined, children: [] };

async function cleanup(): Promise<void> {
  for (const child of resources.children.reverse()) await child.stop().catch(() => child.killNow());
  resources.children = [];
  await resources.docstore?.stop().catch(() => undefined);
  resources.docstore = undefined;
  if (resources.tmp) await rm(resources.tmp, { recursive: true, force: true }).catch(() => undefined);
  resources.tmp = undefined;
}

/** Load phases against one target; its sockets are closed whatever happens. */
async function loadTarget(target: BenchTarget, pairs: number): Promise<PhaseResult[]> {
  progress(`${target.name}: starting ${pairs} pairs (${pairs * 2} sockets)…`);
  const router = new ArrivalRouter();
  const started = performance.now();
  const endpoints = await target.createPairs(pairs, router);
  try {
    progress(`${target.name}: ${endpoints.length / 2} pairs joined in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (endpoints.length === 0) throw new Error(`${target.name}: no pair could be set up`);
    await sleep(1000); // let join announcements (participantJoined, greetings) pass
    return await runPhases(target.name, endpoints, router, PHASES, target.pid, target.counters);
  } finally {
    closeSockets(endpoints.map((e) => e.socket));
    for (let i = 0; i < 40 && ((await target.connectedSockets()) ?? 0) > 0; i += 1) await sleep(250);
  }
}

let stageFailed = false;

/** Runs one stage; a failure is reported and the run goes on to print what it has. */
async function stage<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    stageFailed = true;
    progress(`${name} FAILED: ${errorText(err)}`);
    for (const child of resources.children) {
      if (!child.alive()) progress(`${child.name} is no longer running; its last output:\n${child.tail().join('\n')}`);
    }
    return undefined;
  }
}

async function main(): Promise<void> {
  const pairs = intEnv('BENCH_PAIRS', 200, 1, 5000);
  const idleCount = fitIdleCount(intEnv('BENCH_IDLE_SOCKETS', 10_000, 0, 200_000));
  resources.tmp = await mkdtemp(join(tmpdir(), 'chat-hub-bench-'));

  let uri = process.env['MONGODB_URI'] ?? '';
  if (uri) progress(`using MONGODB_URI from the environment`);
  else {
    progress('starting the local document store…');
    resources.docstore = await startLocalDocstore({ dataDir: join(resources.tmp, 'store'), progress: (line) => progress(`docstore: ${line}`) });
    uri = resources.docstore.uri;
    progress(`document store (${resources.docstore.kind}) at ${uri}`);
  }

  const bare = startNodeChild('bare relay', join(ROOT, 'dist', 'bench', 'bare-relay.js'), { ...process.env, BARE_PORT: '0' }, ROOT);
  resources.children.push(bare);
  const barePort = Number((await bare.waitForLine(/^BARE_RELAY_PORT=(\d+)$/, 15_000))[1]);
  progress(`bare relay (pid ${bare.pid}) on 127.0.0.1:${barePort}`);

  const hubPort = await freePort();
  const systemToken = randomBytes(24).toString('hex');
  const hub = startNodeChild(
    'hub',
    join(ROOT, 'dist', 'src', 'main.js'),
    {
      ...process.env,
      PORT: String(hubPort),
      HOST: '127.0.0.1',
      MONGODB_URI: uri,
      HUB_SECRET: randomBytes(32).toString('hex'),
      SYSTEM_TOKEN: systemToken,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '100000',
      RATE_LIMIT_INIT_PER_MINUTE: '1000000',
      DATA_DIR: join(resources.tmp, 'hub-data'),
      NODE_ENV: 'production',
    },
    ROOT,
  );
  resources.children.push(hub);
  const hubUrl = `http://127.0.0.1:${hubPort}`;
  await waitForHttp200(`${hubUrl}/ready`, 60_000, () => hub.alive());
  progress(`hub (pid ${hub.pid}) ready on ${hubUrl}; RSS ${mib(readProcMemory(hub.pid)?.rssBytes)}`);

  const hubTarget = new HubTarget(hub.pid, hubUrl, systemToken);
  const bareTarget = new BareTarget(bare.pid, `http://127.0.0.1:${barePort}`);

  const hubLoad = (await stage('hub load', () => loadTarget(hubTarget, pairs))) ?? [];
  progress(`hub RSS after load ${mib(readProcMemory(hub.pid)?.rssBytes)}, peak ${mib(readProcMemory(hub.pid)?.hwmBytes)}`);
  const bareLoad = (await stage('bare load', () => loadTarget(bareTarget, pairs))) ?? [];
  const store: StoreRateResult | undefined = await stage('store rate', () => measureStoreRate(uri));
  let hubIdle: IdleResult | undefined;
  let bareIdle: IdleResult | undefined;
  if (idleCount > 0) {
    hubIdle = await stage('hub idle', () => runIdle(hubTarget, idleCount));
    bareIdle = await stage('bare idle', () => runIdle(bareTarget, idleCount));
  }

  const report: BenchReport = {
    pairs,
    hubLoad,
    bareLoad,
    hubIdle,
    bareIdle,
    store,
    hubMemory: readProcMemory(hub.pid),
    bareMemory: readProcMemory(bare.pid),
    hubLog: hub.logs(),
  };
  progress('done measuring; stopping children…');
  await cleanup();
  printReport(report);
}

const watchdog = setTimeout(() => {
  progress(`watchdog: the bench ran longer than ${WATCHDOG_MS / 60_000} min; aborting`);
  void cleanup().finally(() => process.exit(1));
}, WATCHDOG_MS);
watchdog.unref();

process.once('SIGINT', () => {
  progress('interrupted; cleaning up…');
  void cleanup().finally(() => process.exit(130));
});
// Last resort if the process dies without running cleanup(): never leave a hub or relay behind.
process.once('exit', () => {
  for (const child of resources.children) child.killNow();
});

main()
  .catch(async (err: unknown) => {
    stageFailed = true;
    progress(`bench crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup();
  })
  .finally(() => {
    if (stageFailed) process.exitCode = 1;
  });
