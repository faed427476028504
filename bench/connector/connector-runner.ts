import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ChildLogReport } from '../common/child-runner.js';
import { closeSockets, failureSummary, mapLimit, progress, sleep } from '../common/client-util.js';
import { drain, newCounts, offer, saturate, send, ticker, type Lane, type SendCounts } from './connector-load.js';
import { startConnectorPool, type ConnectorPool, type PoolWarnings } from './connector-pool.js';
import { DeliveryRecorder, DeliveryRouter } from './connector-recorder.js';
import { metricValue, type HubTarget } from '../common/hub-target.js';
import { CpuMeter, SelfCpuMeter } from '../common/proc-probe.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';

export interface ConnectorBenchConfig {
  /** SDK connectors in the pool. */
  connectors: number;
  conversations: number;
  /** Messages of each run (latency and throughput). */
  messages: number;
  /** Offered msg/s of the latency run, over all conversations. */
  rate: number;
  /** Throughput run: messages per conversation sent but not yet DELIVERED. */
  window: number;
}

export type ConnectorRunKind = 'latency' | 'throughput';

export interface ConnectorRunResult {
  kind: ConnectorRunKind;
  label: string;
  /** Conversations opened by inbound messages and joined by their agent before the run. */
  conversations: number;
  setupSeconds: number;
  setupFailures: string;
  /** One message per conversation before the run: DELIVERED of sent, and how long it took. */
  warmup: { delivered: number; sent: number; seconds: number };
  /** Set when the run was ended early because nothing was settled for a while. */
  stalled: string | undefined;
  /** Agent sendMessage acked ok (stored by the hub, owed to the connector). */
  sent: number;
  refused: number;
  refusedCodes: Record<string, number>;
  sendTimedOut: number;
  /** Sends the client could not fit into the schedule (latency run; the client itself was behind). */
  skipped: number;
  handedOver: number;
  handedAgain: number;
  delivered: number;
  failed: number;
  /** Sent but neither DELIVERED nor FAILED when the run's time was up. */
  undelivered: number;
  /** First send → last settled update. */
  seconds: number;
  /** Last send → last settled update. */
  drainSeconds: number;
  deliveredPerSec: number;
  perSecond: number[];
  handler: LatencySummary;
  deliveredLatency: LatencySummary;
  serverCpuPercent: number | undefined;
  storeCpuPercent: number | undefined;
  clientCpuPercent: number;
  /** From the hub's /metrics: messageArrived emitted and retried during the run. */
  handovers: number | undefined;
  retries: number | undefined;
  /** Hand-overs whose seq was lower than an earlier one of the same conversation. */
  outOfOrder: number;
  /** Hand-overs and updates that belonged to no run. */
  stray: number;
  connectorWarnings: PoolWarnings;
  /** Warnings of this run's hub process (set by the caller, who owns the process). */
  hubLog?: ChildLogReport | undefined;
}

/** The connector stage: one run of each kind, each on its own hub process and fresh database. */
export interface ConnectorResult {
  config: ConnectorBenchConfig;
  runs: ConnectorRunResult[];
}

/** The store writes one at a time: more concurrent first writes only queue there. */
const SETUP_CONCURRENCY = 5;
const BUDGET = { setupMs: 45_000, warmupMs: 20_000, latencyDrainMs: 20_000, throughputMs: 45_000 };

async function outboxCounters(hub: HubTarget): Promise<{ handovers?: number; retries?: number }> {
  const text = (await hub.metrics()) ?? '';
  const handovers = metricValue(text, 'hub_connector_handovers_total');
  const retries = metricValue(text, 'hub_connector_retries_total');
  return { ...(handovers !== undefined && { handovers }), ...(retries !== undefined && { retries }) };
}

/** What `measured` adds to a run's record besides the counts. */
interface RunSetup {
  kind: ConnectorRunKind;
  label: string;
  conversations: number;
  setupSeconds: number;
  setupFailures: string;
  warmup: ConnectorRunResult['warmup'];
}

/** Runs `body` (the sending and draining of one run) with CPU and hub counters around it, and sums it up. */
async function measured(
  hub: HubTarget,
  storePid: number | undefined,
  setup: RunSetup,
  router: DeliveryRouter,
  pool: ConnectorPool,
  rec: DeliveryRecorder,
  counts: SendCounts,
  body: () => Promise<string | undefined>,
): Promise<ConnectorRunResult> {
  const before = await outboxCounters(hub);
  const cpu = new CpuMeter(hub.pid);
  const storeCpu = new CpuMeter(storePid);
  const clientCpu = new SelfCpuMeter();
  const stalled = await body();
  const serverCpuPercent = cpu.percent();
  const storeCpuPercent = storeCpu.percent();
  const clientCpuPercent = clientCpu.percent();
  const after = await outboxCounters(hub);
  const delta = (key: 'handovers' | 'retries'): number | undefined =>
    after[key] !== undefined && before[key] !== undefined ? (after[key] ?? 0) - (before[key] ?? 0) : undefined;
  const seconds = counts.firstSendAt && rec.lastSettledAt ? Math.max(0, rec.lastSettledAt - counts.firstSendAt) / 1000 : 0;
  const result: ConnectorRunResult = {
    ...setup,
    stalled,
    sent: counts.sent,
    refused: counts.refused,
    refusedCodes: counts.refusedCodes,
    sendTimedOut: counts.timedOut,
    skipped: counts.skipped,
    handedOver: rec.handedOver,
    handedAgain: rec.handedAgain,
    delivered: rec.delivered,
    failed: rec.failed,
    undelivered: Math.max(0, counts.sent - rec.settledCount),
    seconds,
    drainSeconds: rec.lastSettledAt ? Math.max(0, rec.lastSettledAt - counts.lastSendAt) / 1000 : 0,
    deliveredPerSec: seconds > 0 ? rec.delivered / seconds : 0,
    perSecond: rec.perSecond,
    handler: summarize(rec.handlerLatencies),
    deliveredLatency: summarize(rec.deliveredLatencies),
    serverCpuPercent,
    storeCpuPercent,
    clientCpuPercent,
    handovers: delta('handovers'),
    retries: delta('retries'),
    outOfOrder: router.outOfOrder,
    stray: router.stray,
    connectorWarnings: pool.warnings,
  };
  progress(
    `connector ${setup.label}: ${fmt(result.delivered)}/${fmt(result.sent)} DELIVERED in ${fmt(seconds, 1)} s = ${fmt(result.deliveredPerSec)} msg/s; ` +
      `send → handler p50 ${fmt(result.handler.p50, 1)} / p99 ${fmt(result.handler.p99, 1)} ms; ` +
      `send → DELIVERED p50 ${fmt(result.deliveredLatency.p50, 1)} / p99 ${fmt(result.deliveredLatency.p99, 1)} ms; ` +
      `failed ${result.failed}, refused ${result.refused}, ack timeouts ${result.sendTimedOut}, undelivered ${result.undelivered}, ` +
      `drain ${fmt(result.drainSeconds, 1)} s, CPU hub/store/client ${fmt(serverCpuPercent)}/${fmt(storeCpuPercent)}/${fmt(clientCpuPercent)}%` +
      (stalled ? `; STALLED: ${stalled}` : ''),
  );
  return result;
}

let runCounter = 0;

function startRun(router: DeliveryRouter): DeliveryRecorder {
  runCounter += 1;
  const rec = new DeliveryRecorder(runCounter, performance.now());
  router.current = rec;
  return rec;
}

/** Each conversation opened by an inbound SMS from its own number, through the pool, and joined by its own agent. */
async function openLanes(hub: HubTarget, pool: ConnectorPool, router: DeliveryRouter, count: number): Promise<{ lanes: Lane[]; failures: string }> {
  const tag = String(randomInt(1000)).padStart(3, '0');
  const step = Math.max(1, Math.floor(count / 5));
  const lanes: Lane[] = [];
  const results = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    SETUP_CONCURRENCY,
    async (i) => {
      const member = pool.members[i % pool.members.length];
      if (!member) throw new Error('no connector');
      const { conversationId } = await member.sendInbound({
        refId: `+4915${tag}${String(i).padStart(5, '0')}`,
        name: `Bench Customer ${i}`,
        text: 'Hi, where is my order?',
        clientMessageId: `bench-${tag}-${i}`,
      });
      const from = { id: `connector-agent-${i}`, name: `Agent ${i}` };
      const agent = await hub.joined(await hub.agentToken(from.id, from.name), conversationId, from.id, from.name);
      agent.on('messageUpdated', (message) => router.update(message));
      lanes.push({ conversationId, agent, from, outstanding: 0, remaining: 0 });
    },
    (done) => {
      if (done % step === 0 && done < count) progress(`connector: ${done}/${count} conversations opened and joined`);
    },
    { deadline: performance.now() + BUDGET.setupMs },
  );
  return { lanes, failures: failureSummary(results) };
}

/**
 * One run of the connector stage against `hub` (started with CONNECTOR_KEYS, on a fresh database):
 * a pool of SDK connectors, conversations opened by inbound SMS with one agent each, a warm-up
 * message per conversation, then either the latency run (a fixed offered rate) or the
 * throughput run (a window of unsettled messages per conversation).
 */
export async function runConnectorBench(
  kind: ConnectorRunKind,
  hub: HubTarget,
  hubUrl: string,
  key: string,
  storePid: number | undefined,
  config: ConnectorBenchConfig,
): Promise<ConnectorRunResult> {
  const router = new DeliveryRouter();
  progress(`connector ${kind}: starting ${config.connectors} SDK connectors (pool "sms")…`);
  const pool = await startConnectorPool(hubUrl, key, config.connectors, (message) => router.handover(message));
  let lanes: Lane[] = [];
  try {
    progress(`connector ${kind}: opening ${config.conversations} conversations by inbound SMS and joining an agent to each (concurrency ${SETUP_CONCURRENCY})…`);
    const setupStarted = performance.now();
    const opened = await openLanes(hub, pool, router, config.conversations);
    lanes = opened.lanes;
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    progress(`connector ${kind}: ${lanes.length} conversations ready in ${fmt(setupSeconds, 1)} s${opened.failures ? `; failures: ${opened.failures}` : ''}`);
    if (lanes.length === 0) throw new Error(`no connector conversation could be set up: ${opened.failures}`);

    // Warm-up: one message per conversation, end to end; also proves the path works before timing it.
    const warm = startRun(router);
    const warmCounts = newCounts();
    for (const lane of lanes) send(lane, warm, warmCounts);
    const warmStall = await drain(warm, warmCounts, performance.now() + BUDGET.warmupMs);
    const warmup = { delivered: warm.delivered, sent: warmCounts.sent, seconds: (performance.now() - warm.startedAt) / 1000 };
    progress(`connector ${kind} warm-up: ${warm.delivered}/${warmCounts.sent} DELIVERED in ${fmt(warmup.seconds, 1)} s${warmStall ? ` (${warmStall})` : ''}`);
    await sleep(500);

    const label = kind === 'latency' ? `latency, ${fmt(config.rate)} msg/s offered` : `max, ${config.window} in flight/conversation`;
    const setup: RunSetup = { kind, label, conversations: lanes.length, setupSeconds, setupFailures: opened.failures, warmup };
    const rec = startRun(router);
    const counts = newCounts();
    const stop = ticker(kind, rec, counts, config.messages);
    try {
      if (kind === 'latency') {
        progress(`connector ${label}: ${fmt(config.messages)} messages over ${lanes.length} conversations (~${fmt(config.messages / config.rate, 1)} s)…`);
        return await measured(hub, storePid, setup, router, pool, rec, counts, async () => {
          await offer(lanes, rec, counts, config.rate, config.messages);
          return drain(rec, counts, performance.now() + BUDGET.latencyDrainMs);
        });
      }
      progress(`connector ${label}: ${fmt(config.messages)} messages over ${lanes.length} conversations, at most ${BUDGET.throughputMs / 1000} s…`);
      return await measured(hub, storePid, setup, router, pool, rec, counts, () =>
        saturate(lanes, rec, counts, config.window, config.messages, performance.now() + BUDGET.throughputMs),
      );
    } finally {
      stop();
    }
  } finally {
    router.current = undefined;
    closeSockets(lanes.map((lane) => lane.agent));
    await pool.close();
  }
}
