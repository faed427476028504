import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startLocalDocstore, type LocalDocstore } from '../src/devstore/local-docstore.js';
import { startRedis, type RunningRedis } from '../tools/launch/redis.js';
import { runAttackCase, type AttackConfig } from './attack/attack-runner.js';
import { runClusterLoad, runFailover, type ClusterConfig, type ClusterHub } from './cluster/cluster-runner.js';
import type { ClusterResult } from './cluster/cluster-summary.js';
import { BareTarget } from './common/bare-target.js';
import { GrowthSeeder, type SeedStep } from './growth/growth-seed.js';
import { measureGrowthSize, type GrowthConfig, type GrowthResult, type GrowthSizeResult } from './growth/growth-runner.js';
import { connectChatPluginChannel } from './common/chat-plugin-client.js';
import type { BenchTarget } from './common/bench-target.js';
import { killLiveChildren, type RunningChild } from './common/child-runner.js';
import { closeSockets, errorText, progress, sleep } from './common/client-util.js';
import { runConnectorBench, type ConnectorBenchConfig, type ConnectorRunKind } from './connector/connector-runner.js';
import { HubTarget } from './common/hub-target.js';
import type { IdleShape } from './common/bench-target.js';
import { describeShape, idleShape, runIdle, type IdleResult } from './idle/idle-runner.js';
import { ArrivalRouter, runPhases, type PhaseResult, type PhaseSpec } from './load/load-runner.js';
import { ephemeralPorts, fileLimits, findPidByCommandLine, readProcMemory, resetPeakRss } from './common/proc-probe.js';
import { waitForQuiet } from './common/quiet-wait.js';
import { runRoutingBench, type RoutingBenchConfig, type RoutingRunKind } from './routing/routing-runner.js';
import { runSeedApiCase, seedApiProblems, type SeedApiResult, type SeedHubHost } from './seed-api/seed-api-case.js';
import type { SeedApiConfig } from './seed-api/seed-api-config.js';
import { startBareProcess, startHubProcess, withDatabase, type StartedHub, type StartedServer } from './common/server-procs.js';
import { mib } from './common/stats.js';
import { countDocuments, dropDatabase, measureStoreRate } from './common/store-rate.js';
import { printReport, type BenchReport } from './summary.js';
import { runTranscriptBench, type TranscriptBenchConfig } from './transcript/transcript-runner.js';

/** Repository root, from dist/bench/run.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The whole run (about 17 minutes with every stage on the local store, 6 of them growing data, 2.5 the cluster case), with room for a slow machine. */
const WATCHDOG_MS = 30 * 60_000;
/** Time budgets that keep the whole run within the watchdog even when the hub cannot keep up. */
const SETTLE_LIMIT_MS = 10_000;
const PAIR_SETUP_BUDGET_MS = 60_000;
/** joinMs covers every join of a stage: the participants' first joins (hub: database writes), then their further tabs. */
const IDLE_BUDGET = { prepareMs: 25_000, connectMs: 30_000, joinMs: 150_000 };

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

/** A comma-separated list of integers in [min, max], e.g. BENCH_TRANSCRIPT_SIZES=1000,5000. */
function intListEnv(name: string, fallback: number[], min: number, max: number): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const values = raw.split(',').map((v) => Number(v.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < min || v > max)) {
    progress(`${name}=${raw} is not a list of integers in [${min}, ${max}]; using ${fallback.join(',')}`);
    return fallback;
  }
  return values;
}

/** BENCH_ROUTING_RUNS=drain,steady (the default), or one of them. */
function routingRunsEnv(): RoutingRunKind[] {
  const all: RoutingRunKind[] = ['drain', 'steady'];
  const raw = process.env['BENCH_ROUTING_RUNS'];
  if (raw === undefined || raw.trim() === '') return all;
  const asked = raw.split(',').map((v) => v.trim());
  const kinds = all.filter((k) => asked.includes(k));
  if (kinds.length === 0 || asked.some((v) => !all.includes(v as RoutingRunKind))) {
    progress(`BENCH_ROUTING_RUNS=${raw} is not a list of drain, steady; using drain,steady`);
    return all;
  }
  return kinds;
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

const resources: { tmp?: string; docstore?: LocalDocstore; storePid?: number; redis?: RunningRedis; children: RunningChild[] } = { children: [] };

/** Stops one child and forgets it; says so when SIGTERM was not enough. */
async function stopChild(child: RunningChild): Promise<void> {
  const started = performance.now();
  const graceful = await child.stop();
  resources.children = resources.children.filter((c) => c !== child);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  progress(`${child.name} stopped in ${seconds} s${graceful ? '' : ' (did not exit within 5 s of SIGTERM: killed)'}`);
}

async function cleanup(): Promise<void> {
  for (const child of [...resources.children].reverse()) await stopChild(child).catch(() => child.killNow());
  await resources.redis?.stop().catch(() => undefined);
  delete resources.redis;
  await resources.docstore?.stop().catch(() => undefined);
  delete resources.docstore;
  if (resources.tmp) await rm(resources.tmp, { recursive: true, force: true }).catch(() => undefined);
  delete resources.tmp;
}

/** Load phases against one target; its sockets are closed whatever happens. */
async function loadTarget(target: BenchTarget, pairs: number): Promise<PhaseResult[]> {
  progress(`${target.name}: starting ${pairs} pairs (${pairs * 2} sockets)…`);
  const router = new ArrivalRouter();
  const started = performance.now();
  const endpoints = await target.createPairs(pairs, router, started + PAIR_SETUP_BUDGET_MS);
  try {
    progress(`${target.name}: ${endpoints.length / 2} pairs joined in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (endpoints.length === 0) throw new Error(`${target.name}: no pair could be set up`);
    await sleep(1000); // let join announcements (participantJoined, greetings) pass
    const settle = target.counters ? () => waitForQuiet(target.counters, resources.storePid, SETTLE_LIMIT_MS) : undefined;
    const note = settle ? await settle() : '';
    if (note) progress(`${target.name} after setup: ${note}`);
    return await runPhases(
      { target: target.name, endpoints, router, serverPid: target.pid, storePid: resources.storePid, probe: target.counters, settle },
      PHASES,
    );
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

/** Idle sockets against a fresh server process, so leftovers of the load stage do not blur the memory figures. */
async function idleOn(kind: 'hub' | 'bare', uri: string, shape: IdleShape, report: BenchReport): Promise<IdleResult | undefined> {
  const label = `${kind === 'hub' ? 'hub' : 'bare relay'} (idle stage)`;
  let server: StartedServer;
  let target: BenchTarget;
  if (kind === 'hub') {
    const hub = await startHubProcess(ROOT, uri, join(resources.tmp ?? tmpdir(), 'hub-idle'), label);
    server = hub;
    target = new HubTarget(hub.child.pid, hub.url, hub.systemToken);
  } else {
    server = await startBareProcess(ROOT, label);
    target = new BareTarget(server.child.pid, server.url);
  }
  resources.children.push(server.child);
  try {
    return await stage(`${kind} idle`, () => runIdle(target, shape, IDLE_BUDGET));
  } finally {
    report.memory[`${kind} (idle stage)`] = readProcMemory(server.child.pid);
    if (kind === 'hub') report.hubLogs.push(server.child.logs());
    await stopChild(server.child);
  }
}

/** Gives up on an operation after `ms` (e.g. a drop on a database the store no longer answers for). */
function within<T>(ms: number, what: string, op: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([op, late]).finally(() => clearTimeout(timer));
}

/**
 * One connector run on its own hub process (with CONNECTOR_KEYS) and a fresh database: the store
 * may scan a collection on every update and each ack is one, so neither the load stage's messages
 * nor the other run's may be in the way.
 */
async function connectorRunOn(kind: ConnectorRunKind, uri: string, config: ConnectorBenchConfig, report: BenchReport): Promise<void> {
  const key = randomBytes(24).toString('hex');
  const dbUri = withDatabase(uri, `chathub_bench_connector_${randomBytes(4).toString('hex')}`);
  const label = `hub (connector ${kind})`;
  const hub = await startHubProcess(ROOT, dbUri, join(resources.tmp ?? tmpdir(), `hub-connector-${kind}`), label, { CONNECTOR_KEYS: `sms:${key}` });
  resources.children.push(hub.child);
  try {
    const run = await runConnectorBench(kind, new HubTarget(hub.child.pid, hub.url, hub.systemToken), hub.url, key, resources.storePid, config);
    run.hubLog = hub.child.logs();
    (report.connector ??= { config, runs: [] }).runs.push(run);
  } finally {
    report.memory[label] = readProcMemory(hub.child.pid);
    report.hubLogs.push(hub.child.logs());
    await stopChild(hub.child);
    await stage(`drop ${kind} connector database`, () => within(15_000, 'dropDatabase', dropDatabase(dbUri)));
  }
}

/**
 * The transcripts case on its own hub process and fresh database: the store scans a collection
 * for every page a render reads, so earlier stages' messages would blur the figures.
 */
async function transcriptsOn(uri: string, config: TranscriptBenchConfig, report: BenchReport): Promise<void> {
  const dbUri = withDatabase(uri, `chathub_bench_transcripts_${randomBytes(4).toString('hex')}`);
  const label = 'hub (transcripts)';
  const tmp = resources.tmp ?? tmpdir();
  const profileDir = process.env['BENCH_TRANSCRIPT_CPU_PROF'];
  const hub = await startHubProcess(
    ROOT,
    dbUri,
    join(tmp, 'hub-transcripts'),
    label,
    // Every run is one more request of the same caller (the system token).
    { RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: String(Math.max(100, config.sizes.length * config.runs * 2)) },
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : [],
  );
  resources.children.push(hub.child);
  try {
    const target = new HubTarget(hub.child.pid, hub.url, hub.systemToken);
    const result = await runTranscriptBench(target, hub.url, hub.systemToken, dbUri, resources.storePid, tmp, config);
    result.hubLog = hub.child.logs();
    report.transcripts = result;
  } finally {
    report.memory[label] = readProcMemory(hub.child.pid);
    report.hubLogs.push(hub.child.logs());
    await stopChild(hub.child);
    if (profileDir) progress(`transcripts: the hub's CPU profile is in ${resolve(profileDir)}`);
    await stage('drop transcripts database', () => within(15_000, 'dropDatabase', dropDatabase(dbUri)));
  }
}

/**
 * One routing run on its own hub process and a fresh database: the queue is the conversations
 * collection, which the store scans on every dispatch pass, so nothing else may be in it.
 */
async function routingRunOn(kind: RoutingRunKind, uri: string, config: RoutingBenchConfig, report: BenchReport): Promise<void> {
  const dbUri = withDatabase(uri, `chathub_bench_routing_${randomBytes(4).toString('hex')}`);
  const label = `hub (routing ${kind})`;
  const hub = await startHubProcess(ROOT, dbUri, join(resources.tmp ?? tmpdir(), `hub-routing-${kind}`), label);
  resources.children.push(hub.child);
  try {
    const run = await runRoutingBench(kind, new HubTarget(hub.child.pid, hub.url, hub.systemToken), hub.url, hub.systemToken, dbUri, resources.storePid, config);
    run.hubLog = hub.child.logs();
    (report.routing ??= { config, runs: [] }).runs.push(run);
    // The figures are in the report; a broken invariant still fails the bench.
    if (run.problems.length > 0) throw new Error(`routing ${kind} checks failed: ${run.problems.join('; ')}`);
  } finally {
    report.memory[label] = readProcMemory(hub.child.pid);
    report.hubLogs.push(hub.child.logs());
    await stopChild(hub.child);
    await stage(`drop routing ${kind} database`, () => within(15_000, 'dropDatabase', dropDatabase(dbUri)));
  }
}

/**
 * The seed API case: its hub processes each get a fresh database (the webhook outbox and the
 * messages.list reads scan their collections on the local store, so earlier stages' data would blur them).
 */
async function seedApiOn(uri: string, config: SeedApiConfig, report: BenchReport): Promise<void> {
  const databases = new Map<StartedHub, string>();
  const host: SeedHubHost = {
    storePid: resources.storePid,
    async start(label, env) {
      const name = randomBytes(4).toString('hex');
      const dbUri = withDatabase(uri, `chathub_bench_seed_${name}`);
      const hub = await startHubProcess(ROOT, dbUri, join(resources.tmp ?? tmpdir(), `hub-seed-${name}`), label, env);
      resources.children.push(hub.child);
      databases.set(hub, dbUri);
      return hub;
    },
    async finish(hub, label) {
      report.memory[label] = readProcMemory(hub.child.pid);
      report.hubLogs.push(hub.child.logs());
      await stopChild(hub.child);
      const dbUri = databases.get(hub);
      if (dbUri) await stage(`drop ${label} database`, () => within(15_000, 'dropDatabase', dropDatabase(dbUri)));
    },
  };
  const result: SeedApiResult = { config, errors: [], seconds: 0 };
  report.seedApi = result;
  // The store serves every stage: its peak is reset so that VmHWM covers this case alone, where the kernel allows it.
  const storePeakReset = resources.storePid !== undefined && resetPeakRss(resources.storePid);
  await runSeedApiCase(host, config, result);
  if (resources.storePid !== undefined) report.memory[storePeakReset ? 'store (seed API)' : 'store (whole run)'] = readProcMemory(resources.storePid);
  // The figures are in the report; a broken check still fails the bench.
  const problems = seedApiProblems(result);
  if (problems.length > 0) throw new Error(`seed API checks failed: ${problems.join('; ')}`);
}

/**
 * The "under attack" case: the same legitimate load on two fresh hubs (fresh databases), once alone
 * and once beside the hostile clients, so the two rows differ only by the attack.
 */
async function attackOn(uri: string, config: AttackConfig, report: BenchReport): Promise<void> {
  report.attack = { config, runs: [] };
  for (const withAttack of [false, true]) {
    const name = withAttack ? 'attacked' : 'calm';
    const dbUri = withDatabase(uri, `chathub_bench_attack_${name}_${randomBytes(4).toString('hex')}`);
    const label = `hub (attack case, ${name})`;
    // The hub's default bounds (startHubProcess lifts them for the other stages), except the per-address
    // cap: every client of the bench comes from 127.0.0.1, so it would count the legitimate pairs and the
    // attacker as one client; it is raised past both here, and the per-credential caps do the work.
    const hub = await startHubProcess(ROOT, dbUri, join(resources.tmp ?? tmpdir(), `hub-attack-${name}`), label, {
      MAX_SOCKETS_PER_ADDRESS: String(config.hostileSockets + config.pairs * 2 + 100),
      MAX_SOCKETS_PER_PRINCIPAL: '20',
      RATE_LIMIT_JOINS_PER_MINUTE: '30',
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '50',
    });
    resources.children.push(hub.child);
    try {
      const target = new HubTarget(hub.child.pid, hub.url, hub.systemToken);
      report.attack.runs.push(await runAttackCase(target, hub.url, resources.storePid, config, withAttack));
    } finally {
      report.memory[label] = readProcMemory(hub.child.pid);
      report.hubLogs.push(hub.child.logs());
      await stopChild(hub.child);
      await stage(`drop ${name} attack database`, () => within(30_000, 'dropDatabase', dropDatabase(dbUri)));
    }
  }
}

/**
 * The data-growth case: one fresh database grown step by step to each size (insertMany straight
 * into the store, only the difference each step) while no hub runs, then a hub process started on
 * it and every operation timed. The first hub creates the indexes and the chat plugin channel on
 * the empty database, as a deployment would before its data grows.
 */
async function growthOn(uri: string, config: GrowthConfig, report: BenchReport): Promise<void> {
  const started = performance.now();
  const deadline = started + config.budgetSeconds * 1000;
  const result: GrowthResult = { config, sizes: [], notes: [], seconds: 0 };
  report.growth = result;
  const dbUri = withDatabase(uri, `chathub_bench_growth_${randomBytes(4).toString('hex')}`);
  const tmp = join(resources.tmp ?? tmpdir(), 'hub-growth');
  const connection = mongoose.createConnection(dbUri, { serverSelectionTimeoutMS: 5000, maxPoolSize: config.inFlight + 1 });
  try {
    await connection.asPromise();
    const first = await startHubProcess(ROOT, dbUri, tmp, 'hub (growth, empty)');
    resources.children.push(first.child);
    let channelId: string;
    try {
      channelId = await connectChatPluginChannel(first.url, first.systemToken, 'Growth website');
    } finally {
      report.hubLogs.push(first.child.logs());
      await stopChild(first.child);
    }
    const db = connection.db;
    if (!db) throw new Error('growth: no database handle');
    const seeder = new GrowthSeeder(db, channelId, config);
    const usedContacts = new Set<string>();
    // Measuring one size takes about this long; seeding stops early enough to leave it.
    const measureReserveMs = (5 * config.opSeconds + 15) * 1000;
    for (const asked of config.sizes) {
      if (asked <= seeder.messages) {
        result.notes.push(`size ${asked} skipped: ${seeder.messages} messages are stored already`);
        continue;
      }
      if (performance.now() > deadline - measureReserveMs) {
        result.notes.push(`size ${asked} not measured: the case's budget (BENCH_GROWTH_BUDGET_SECONDS=${config.budgetSeconds}) was spent`);
        break;
      }
      const seed: SeedStep = await seeder.growTo(asked, deadline - measureReserveMs);
      if (seed.partial) {
        result.notes.push(
          `size ${asked}: seeding stopped at ${seeder.messages} messages when the budget ran out (the store took ${seed.docsPerSec.toFixed(0)} docs/s); measured at that size`,
        );
      }
      const label = `hub (growth, ${seeder.messages} msgs)`;
      const t0 = performance.now();
      const hub = await startHubProcess(ROOT, dbUri, tmp, label);
      const hubStartSeconds = (performance.now() - t0) / 1000;
      resources.children.push(hub.child);
      const size: GrowthSizeResult = {
        asked,
        messages: seeder.messages,
        conversations: seeder.conversations.length,
        contacts: seeder.contacts.length,
        seed,
        hubStartSeconds,
        firstJoinMs: undefined,
        ops: {},
      };
      result.sizes.push(size);
      try {
        await measureGrowthSize({ url: hub.url, systemToken: hub.systemToken, pid: hub.child.pid }, seeder, config, resources.storePid, usedContacts, size);
      } finally {
        report.memory[label] = readProcMemory(hub.child.pid);
        report.hubLogs.push(hub.child.logs());
        await stopChild(hub.child);
      }
      if (seed.partial) break;
    }
  } finally {
    await connection.close(true).catch(() => undefined);
    result.seconds = (performance.now() - started) / 1000;
    progress(`growth case took ${result.seconds.toFixed(1)} s`);
    await stage('drop growth database', () => within(120_000, 'dropDatabase', dropDatabase(dbUri)));
  }
}

/**
 * The cluster case (issue 15): for each size n, n hub processes on a fresh database and one
 * redis-server (REDIS_URL on every hub, the single one too), sharing HUB_SECRET and the system
 * token as a deployment's processes do; then the failover run on its own fresh cluster.
 */
async function clusterOn(uri: string, config: ClusterConfig, report: BenchReport): Promise<void> {
  const result: ClusterResult = { config, runs: [], notes: [] };
  report.cluster = result;
  resources.redis = await startRedis();
  progress(`redis-server (pid ${resources.redis.pid() ?? '?'}) on ${resources.redis.url}`);
  const redisUrl = resources.redis.url;
  const withCluster = async (n: number, name: string, fn: (hubs: ClusterHub[], started: StartedHub[]) => Promise<void>): Promise<void> => {
    const dbUri = withDatabase(uri, `chathub_bench_cluster_${name}_${randomBytes(4).toString('hex')}`);
    const shared = { REDIS_URL: redisUrl, HUB_SECRET: randomBytes(32).toString('hex'), SYSTEM_TOKEN: randomBytes(24).toString('hex') };
    const started: StartedHub[] = [];
    try {
      for (let i = 0; i < n; i += 1) {
        const label = `hub ${i + 1}/${n} (cluster ${name})`;
        const hub = await startHubProcess(ROOT, dbUri, join(resources.tmp ?? tmpdir(), `hub-cluster-${name}-${i}`), label, shared);
        resources.children.push(hub.child);
        started.push(hub);
      }
      await fn(
        started.map((h) => ({ target: new HubTarget(h.child.pid, h.url, h.systemToken), url: h.url, pid: h.child.pid })),
        started,
      );
    } finally {
      for (const hub of started) {
        if (hub.child.alive()) report.memory[`hub ${started.indexOf(hub) + 1}/${n} (cluster ${name})`] = readProcMemory(hub.child.pid);
        report.hubLogs.push(hub.child.logs());
      }
      for (const hub of [...started].reverse()) await stopChild(hub.child);
      await stage(`drop cluster ${name} database`, () => within(30_000, 'dropDatabase', dropDatabase(dbUri)));
    }
  };
  try {
    for (const n of config.sizes) {
      await stage(`cluster ×${n}`, () =>
        withCluster(n, `x${n}`, async (hubs) => {
          result.runs.push(await runClusterLoad(hubs, config, resources.storePid));
        }),
      );
    }
    if (config.failoverHubs > 1) {
      await stage('cluster failover', () =>
        withCluster(config.failoverHubs, 'failover', async (hubs, started) => {
          result.failover = await runFailover(hubs, config, (i) => {
            progress(`failover: kill -9 hub ${i + 1} (pid ${started[i]?.child.pid})`);
            started[i]?.child.killNow();
          });
        }),
      );
    } else result.notes.push('failover not run: BENCH_CLUSTER_FAILOVER_HUBS < 2');
  } finally {
    await resources.redis?.stop().catch(() => undefined);
    delete resources.redis;
  }
}

/** The load stage: the bare relay, then the hub, each with the same pairs and phases. */
async function loadStage(uri: string, pairs: number, report: BenchReport): Promise<void> {
  const bare = await startBareProcess(ROOT, 'bare relay');
  resources.children.push(bare.child);
  const hub = await startHubProcess(ROOT, uri, join(resources.tmp ?? tmpdir(), 'hub-data'), 'hub');
  resources.children.push(hub.child);
  const hubTarget = new HubTarget(hub.child.pid, hub.url, hub.systemToken);

  // The bare relay goes first: it never touches the store, so the hub's leftover writes cannot disturb it.
  report.bareLoad = (await stage('bare load', () => loadTarget(new BareTarget(bare.child.pid, bare.url), pairs))) ?? [];
  report.hubLoad = (await stage('hub load', () => loadTarget(hubTarget, pairs))) ?? [];
  report.hubStored = (await hubTarget.counters())['stored'];
  report.memory['hub (load stage)'] = readProcMemory(hub.child.pid);
  report.memory['bare (load stage)'] = readProcMemory(bare.child.pid);
  report.hubLogs.push(hub.child.logs());
  progress(`hub after load: RSS ${mib(report.memory['hub (load stage)']?.rssBytes)}, peak ${mib(report.memory['hub (load stage)']?.hwmBytes)}`);
  await stopChild(hub.child);
  await stopChild(bare.child);
  report.storeCounts = await stage('store count', () => countDocuments(uri, ['messages', 'conversations']));
}

async function main(): Promise<void> {
  const pairs = intEnv('BENCH_PAIRS', 200, 1, 5000);
  const idleCount = fitIdleCount(intEnv('BENCH_IDLE_SOCKETS', 10_000, 0, 200_000));
  // Several sockets per participant (tabs): only each participant's first join writes to the hub's
  // database, so 10,000 joined sockets stay within reach of a store whose every write scans a collection.
  const idle = idleShape(idleCount, intEnv('BENCH_IDLE_CONVERSATIONS', 500, 1, 100_000));
  if (idle.sockets > 0) progress(`idle stage: ${describeShape(idle)}`);
  if (idle.sockets < idleCount) progress(`idle stage: ${idleCount - idle.sockets} sockets left out (they do not fill a whole conversation)`);
  const skipLoad = process.env['BENCH_SKIP_LOAD'] === '1';
  const skipConnector = process.env['BENCH_SKIP_CONNECTOR'] === '1';
  const skipTranscripts = process.env['BENCH_SKIP_TRANSCRIPT'] === '1';
  const skipRouting = process.env['BENCH_SKIP_ROUTING'] === '1';
  const skipSeedApi = process.env['BENCH_SKIP_SEED_API'] === '1';
  const skipAttack = process.env['BENCH_SKIP_ATTACK'] === '1';
  const skipGrowth = process.env['BENCH_SKIP_GROWTH'] === '1';
  const skipCluster = process.env['BENCH_SKIP_CLUSTER'] === '1';
  const clusterConfig: ClusterConfig = {
    // 0 alone runs no load sizes (the failover run only).
    sizes: intListEnv('BENCH_CLUSTER_SIZES', [1, 2, 3], 0, 8).filter((n) => n > 0),
    pairs: intEnv('BENCH_CLUSTER_PAIRS', 100, 1, 2000),
    rate: intEnv('BENCH_CLUSTER_RATE', 500, 1, 100_000),
    window: intEnv('BENCH_CLUSTER_WINDOW', 4, 1, 100),
    seconds: intEnv('BENCH_CLUSTER_SECONDS', 8, 2, 600),
    failoverHubs: intEnv('BENCH_CLUSTER_FAILOVER_HUBS', 3, 0, 8),
    failoverSeconds: intEnv('BENCH_CLUSTER_FAILOVER_SECONDS', 12, 4, 600),
    killAtSecond: 0,
  };
  clusterConfig.killAtSecond = Math.min(4, Math.floor(clusterConfig.failoverSeconds / 3));
  const growthConfig: GrowthConfig = {
    sizes: intListEnv('BENCH_GROWTH_SIZES', [10_000, 100_000, 1_000_000], 1, 10_000_000),
    reps: intEnv('BENCH_GROWTH_REPS', 60, 1, 10_000),
    claims: intEnv('BENCH_GROWTH_CLAIMS', 30, 1, 1000),
    opSeconds: intEnv('BENCH_GROWTH_OP_SECONDS', 10, 1, 600),
    perConversation: intEnv('BENCH_GROWTH_PER_CONVERSATION', 100, 3, 100_000),
    batch: intEnv('BENCH_GROWTH_BATCH', 1000, 1, 100_000),
    inFlight: intEnv('BENCH_GROWTH_IN_FLIGHT', 4, 1, 64),
    budgetSeconds: intEnv('BENCH_GROWTH_BUDGET_SECONDS', 360, 10, 7200),
  };
  const attackConfig: AttackConfig = {
    pairs: intEnv('BENCH_ATTACK_PAIRS', 50, 1, 2000),
    rate: intEnv('BENCH_ATTACK_RATE', 500, 1, 100_000),
    seconds: intEnv('BENCH_ATTACK_SECONDS', 15, 2, 600),
    hostileSockets: intEnv('BENCH_ATTACK_SOCKETS', 1000, 0, 20_000),
    hostileCustomers: intEnv('BENCH_ATTACK_CUSTOMERS', 4, 1, 1000),
    historyMessages: intEnv('BENCH_ATTACK_HISTORY', 100, 1, 1000),
    joinsPerSocket: intEnv('BENCH_ATTACK_JOINS', 20, 1, 1000),
    transcriptRequests: intEnv('BENCH_ATTACK_TRANSCRIPTS', 20, 0, 1000),
  };
  const seedApiConfig: SeedApiConfig = {
    rate: intEnv('BENCH_SEED_RATE', 100, 1, 10_000),
    seconds: intEnv('BENCH_SEED_SECONDS', 20, 1, 600),
    burst: intEnv('BENCH_SEED_BURST', 2000, 1, 100_000),
    listSize: intEnv('BENCH_SEED_LIST_SIZE', 5000, 1, 200_000),
    roundTrips: intEnv('BENCH_SEED_ROUND_TRIPS', 200, 1, 10_000),
    identifies: intEnv('BENCH_SEED_IDENTIFIES', 200, 1, 10_000),
  };
  const routingKinds = routingRunsEnv();
  const routingConfig: RoutingBenchConfig = {
    conversations: intEnv('BENCH_ROUTING_CONVERSATIONS', 200, 1, 20_000),
    agents: intEnv('BENCH_ROUTING_AGENTS', 20, 1, 1000),
    maxChats: intEnv('BENCH_ROUTING_MAX_CHATS', 10, 1, 1000),
    rate: intEnv('BENCH_ROUTING_RATE', 20, 1, 10_000),
  };
  const transcriptConfig: TranscriptBenchConfig = {
    sizes: intListEnv('BENCH_TRANSCRIPT_SIZES', [1000, 5000], 1, 200_000),
    runs: intEnv('BENCH_TRANSCRIPT_RUNS', 1, 1, 20),
  };
  const connectorConfig: ConnectorBenchConfig = {
    connectors: intEnv('BENCH_CONNECTORS', 2, 1, 64),
    conversations: intEnv('BENCH_CONNECTOR_CONVERSATIONS', 100, 1, 5000),
    messages: intEnv('BENCH_CONNECTOR_MESSAGES', 3000, 1, 1_000_000),
    rate: intEnv('BENCH_CONNECTOR_RATE', 500, 1, 100_000),
    window: intEnv('BENCH_CONNECTOR_WINDOW', 4, 1, 1000),
  };
  resources.tmp = await mkdtemp(join(tmpdir(), 'chat-hub-bench-'));
  const report: BenchReport = { pairs, hubLoad: [], bareLoad: [], memory: {}, hubLogs: [] };

  let uri = process.env['MONGODB_URI'] ?? '';
  if (uri) progress('using MONGODB_URI from the environment');
  else {
    progress('starting the local document store…');
    resources.docstore = await startLocalDocstore({ dataDir: join(resources.tmp, 'store'), progress: (line) => progress(`docstore: ${line}`) });
    uri = resources.docstore.uri;
    report.storeKind = resources.docstore.kind;
    const pid = findPidByCommandLine(resources.docstore.dataDir);
    if (pid !== undefined) resources.storePid = pid;
    progress(`document store (${resources.docstore.kind}, pid ${pid ?? '?'}) at ${uri}`);
  }

  if (skipLoad) progress('load stage skipped (BENCH_SKIP_LOAD=1)');
  else await loadStage(uri, pairs, report);
  report.store = await stage('store rate', () => measureStoreRate(uri));
  if (skipConnector) progress('connector stage skipped (BENCH_SKIP_CONNECTOR=1)');
  else {
    const started = performance.now();
    for (const kind of ['latency', 'throughput'] as const) await stage(`connector ${kind}`, () => connectorRunOn(kind, uri, connectorConfig, report));
    progress(`connector stage took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  if (skipTranscripts) progress('transcripts stage skipped (BENCH_SKIP_TRANSCRIPT=1)');
  else {
    const started = performance.now();
    await stage('transcripts', () => transcriptsOn(uri, transcriptConfig, report));
    progress(`transcripts stage took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  if (skipRouting) progress('routing stage skipped (BENCH_SKIP_ROUTING=1)');
  else {
    const started = performance.now();
    for (const kind of routingKinds) await stage(`routing ${kind}`, () => routingRunOn(kind, uri, routingConfig, report));
    progress(`routing stage took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  if (skipSeedApi) progress('seed API stage skipped (BENCH_SKIP_SEED_API=1)');
  else await stage('seed API', () => seedApiOn(uri, seedApiConfig, report));
  if (skipAttack) progress('under-attack stage skipped (BENCH_SKIP_ATTACK=1)');
  else {
    const started = performance.now();
    await stage('under attack', () => attackOn(uri, attackConfig, report));
    progress(`under-attack stage took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  if (skipCluster) progress('cluster stage skipped (BENCH_SKIP_CLUSTER=1)');
  else {
    const started = performance.now();
    await stage('cluster', () => clusterOn(uri, clusterConfig, report));
    progress(`cluster stage took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  if (skipGrowth) progress('growth stage skipped (BENCH_SKIP_GROWTH=1)');
  else await stage('data growth', () => growthOn(uri, growthConfig, report));
  if (idle.sockets > 0) {
    report.idleShape = idle;
    report.bareIdle = await idleOn('bare', uri, idle, report);
    const idleUri = withDatabase(uri, 'chathub_bench_idle');
    report.hubIdle = await idleOn('hub', idleUri, idle, report);
    await stage('drop idle database', () => dropDatabase(idleUri));
  }
  progress('done measuring; cleaning up…');
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
// Last resort if the process dies without running cleanup(): never leave a hub or relay behind,
// also not one that was still starting when the run was interrupted (not yet in resources.children).
process.once('exit', () => {
  for (const child of resources.children) child.killNow();
  killLiveChildren();
  const redisPid = resources.redis?.isRunning() ? resources.redis.pid() : undefined;
  if (redisPid !== undefined) {
    try {
      process.kill(redisPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
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
