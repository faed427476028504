import { performance } from 'node:perf_hooks';
import type { ChildLogReport } from '../common/child-runner.js';
import { authenticateVisitor, connectChatPluginChannel, sendAsVisitor, type Visitor } from '../common/chat-plugin-client.js';
import { errorText, failureSummary, mapLimit, progress, sleep } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { CpuMeter, SelfCpuMeter } from '../common/proc-probe.js';
import { BURST_LANES, WEBHOOK_VISITORS, type SeedApiConfig } from './seed-api-config.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';
import { countsSince, type SinkCounts, type WebhookSink } from './webhook-sink.js';
import { webhookOutcomes, WebhookWatch } from './webhook-watch.js';

/** One run of sends whose message.created webhooks are awaited: the steady rate or the burst. */
export interface WebhookPhaseResult {
  kind: 'steady' | 'burst';
  label: string;
  /** Sends asked for, answered 200, refused (any other answer or no answer). */
  offered: number;
  accepted: number;
  refused: number;
  refusals: string;
  /** Steady: sends started per second, first → last start. Burst: accepted per second, first start → last answer. */
  sendRate: number;
  /** First send started → last send answered. */
  sendSeconds: number;
  /** POST /chatplugin.send, request → answer. */
  sendLatency: LatencySummary;
  /** Accepted messages whose message.created arrived. */
  arrived: number;
  /** The message's sent_at (hub clock) → the sink read the webhook. */
  lag: LatencySummary;
  /** First send started → the phase's last webhook. */
  deliverSeconds: number;
  /** Last send answered → the phase's last webhook (0 when the webhooks kept up). */
  drainSeconds: number;
  /** arrived / deliverSeconds. */
  eventsPerSec: number;
  /** Webhooks that came after the last send was answered, per second of drainSeconds: the rate of the backlog alone. */
  drainPerSec: number;
  /** Webhooks of the phase per second, from its first send. */
  perSecond: number[];
  /** Highest hub_webhook_outbox_pending sampled (events the hub holds: unstored, due, in flight). */
  outboxPeak: number | undefined;
  /** What the sink received during the phase (requests, signatures, repeats, types). */
  sink: SinkCounts;
  /** Set when the wait for webhooks ended before all arrived. */
  stalled: string;
  hubCpuPercent: number | undefined;
  storeCpuPercent: number | undefined;
  clientCpuPercent: number;
}

export interface WebhookRunResult {
  visitors: number;
  setupSeconds: number;
  /** Each visitor's first message (it queues the conversation), before the measured phases. */
  warmup: { sent: number; arrived: number; seconds: number };
  phases: WebhookPhaseResult[];
  /** hub_webhook_events_total by outcome at the end (delivered, retried, failed, dropped). */
  hubOutcomes: Record<string, number>;
  /** message.created for messages the bench never sent. */
  strangers: number;
  problems: string[];
  hubLog?: ChildLogReport | undefined;
}

/** Waits for the webhooks of a phase: until each arrived, or nothing new came for this long. */
const STALL_MS = 15_000;
/** Bound on one wait for webhooks, so a store that cannot keep up does not hold the bench. */
const DRAIN_BUDGET_MS = 120_000;
/** Steady sends beyond this many unanswered are skipped (the client is not the thing measured). */
const MAX_IN_FLIGHT = 500;

interface SendOutcome {
  id: string | undefined;
  startedAt: number;
  endedAt: number;
  error: unknown;
}

async function timedSend(baseUrl: string, visitor: Visitor, text: string): Promise<SendOutcome> {
  const startedAt = performance.now();
  try {
    const message = await sendAsVisitor(baseUrl, visitor, text);
    return { id: message.id, startedAt, endedAt: performance.now(), error: undefined };
  } catch (error) {
    return { id: undefined, startedAt, endedAt: performance.now(), error };
  }
}

/** Sends `count` messages at `rate` per second, round robin over the visitors. */
async function sendSteady(baseUrl: string, visitors: readonly Visitor[], count: number, rate: number, watch: WebhookWatch): Promise<SendOutcome[]> {
  const t0 = performance.now();
  const pending: Promise<SendOutcome>[] = [];
  let inFlight = 0;
  for (let i = 0; i < count; i += 1) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const visitor = visitors[i % visitors.length] as Visitor;
    if (inFlight >= MAX_IN_FLIGHT) {
      pending.push(Promise.resolve({ id: undefined, startedAt: performance.now(), endedAt: performance.now(), error: new Error(`skipped: ${MAX_IN_FLIGHT} sends unanswered`) }));
      continue;
    }
    inFlight += 1;
    watch.sent += 1;
    pending.push(
      timedSend(baseUrl, visitor, `steady ${i}`).then((o) => {
        inFlight -= 1;
        if (o.id) watch.expect(o.id);
        return o;
      }),
    );
  }
  return Promise.all(pending);
}

/** Sends `count` messages with BURST_LANES in flight, round robin over the visitors. */
async function sendBurst(baseUrl: string, visitors: readonly Visitor[], count: number, watch: WebhookWatch): Promise<SendOutcome[]> {
  const results = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    BURST_LANES,
    async (i) => {
      watch.sent += 1;
      const o = await timedSend(baseUrl, visitors[i % visitors.length] as Visitor, `burst ${i}`);
      if (o.id) watch.expect(o.id);
      return o;
    },
  );
  return results.map((r) => (r.status === 'fulfilled' ? r.value : { id: undefined, startedAt: Number.NaN, endedAt: Number.NaN, error: r.reason }));
}

/** One phase: sends, then the wait for their webhooks, with the figures of both. */
async function runPhase(
  kind: 'steady' | 'burst',
  hub: HubTarget,
  baseUrl: string,
  sink: WebhookSink,
  visitors: readonly Visitor[],
  known: Set<string>,
  storePid: number | undefined,
  config: SeedApiConfig,
): Promise<WebhookPhaseResult> {
  const count = kind === 'steady' ? config.rate * config.seconds : config.burst;
  const label = kind === 'steady' ? `steady: ${fmt(config.rate)} msg/s for ${config.seconds} s` : `burst: ${fmt(config.burst)} messages, ${BURST_LANES} in flight`;
  progress(`seed API webhooks ${label} (${fmt(count)} chatplugin.send over ${visitors.length} visitors)…`);
  const before = sink.snapshot();
  const hubCpu = new CpuMeter(hub.pid);
  const storeCpu = new CpuMeter(storePid);
  const clientCpu = new SelfCpuMeter();
  const watch = new WebhookWatch(`seed API webhooks ${kind}`, hub, sink, count);
  watch.start();
  const t0 = performance.now();
  const outcomes = kind === 'steady' ? await sendSteady(baseUrl, visitors, count, config.rate, watch) : await sendBurst(baseUrl, visitors, count, watch);
  const accepted = outcomes.filter((o) => o.id !== undefined);
  const lastAnswer = Math.max(t0, ...outcomes.map((o) => o.endedAt).filter(Number.isFinite));
  const lastStart = Math.max(t0, ...outcomes.map((o) => o.startedAt).filter(Number.isFinite));
  progress(`seed API webhooks ${kind}: ${fmt(accepted.length)}/${fmt(count)} sends accepted in ${fmt((lastAnswer - t0) / 1000, 1)} s; waiting for their webhooks…`);
  const stalled = await watch.untilArrived(STALL_MS, lastAnswer + DRAIN_BUDGET_MS);
  const hubCpuPercent = hubCpu.percent();
  const storeCpuPercent = storeCpu.percent();
  const clientCpuPercent = clientCpu.percent();
  await watch.close();
  const ids = accepted.map((o) => o.id as string);
  for (const id of ids) known.add(id);
  const receipts = ids.map((id) => sink.receipt(id)).filter((r) => r !== undefined);
  const lastWebhook = Math.max(0, ...receipts.map((r) => r.at));
  const perSecond: number[] = [];
  for (const r of receipts) {
    const second = Math.max(0, Math.floor((r.at - t0) / 1000));
    while (perSecond.length <= second) perSecond.push(0);
    perSecond[second] = (perSecond[second] ?? 0) + 1;
  }
  const deliverSeconds = receipts.length > 0 ? (lastWebhook - t0) / 1000 : Number.NaN;
  const sendSeconds = (lastAnswer - t0) / 1000;
  const result: WebhookPhaseResult = {
    kind,
    label,
    offered: count,
    accepted: accepted.length,
    refused: count - accepted.length,
    refusals: failureSummary(outcomes.filter((o) => o.error !== undefined).map((o) => ({ status: 'rejected', reason: o.error }) as const)),
    sendRate: kind === 'steady' ? (count > 1 ? (count - 1) / ((lastStart - t0) / 1000) : Number.NaN) : accepted.length / sendSeconds,
    sendSeconds,
    sendLatency: summarize(accepted.map((o) => o.endedAt - o.startedAt)),
    arrived: receipts.length,
    lag: summarize(receipts.map((r) => r.lagMs)),
    deliverSeconds,
    drainSeconds: receipts.length > 0 ? Math.max(0, lastWebhook - lastAnswer) / 1000 : Number.NaN,
    eventsPerSec: receipts.length / deliverSeconds,
    drainPerSec: receipts.filter((r) => r.at > lastAnswer).length / Math.max(0, (lastWebhook - lastAnswer) / 1000),
    perSecond,
    outboxPeak: watch.outboxPeak,
    sink: countsSince(before, sink.snapshot()),
    stalled,
    hubCpuPercent,
    storeCpuPercent,
    clientCpuPercent,
  };
  progress(
    `seed API webhooks ${label}: ${fmt(result.arrived)}/${fmt(result.accepted)} webhooks in ${fmt(deliverSeconds, 1)} s (${fmt(result.eventsPerSec)} events/s), ` +
      `drain ${fmt(result.drainSeconds, 1)} s after the last send (${fmt(result.drainPerSec)} events/s); send p50/p99 ${fmt(result.sendLatency.p50, 1)}/${fmt(result.sendLatency.p99, 1)} ms; ` +
      `sent_at → webhook p50/p99/max ${fmt(result.lag.p50)}/${fmt(result.lag.p99)}/${fmt(result.lag.max)} ms; CPU hub/store ${fmt(result.hubCpuPercent)}/${fmt(result.storeCpuPercent)}%` +
      (stalled ? `; STALLED: ${stalled}` : ''),
  );
  return result;
}

/** What contradicts "each accepted message exactly one correctly signed message.created". */
function phaseProblems(p: WebhookPhaseResult): string[] {
  const out: string[] = [];
  const s = p.sink;
  if (p.arrived < p.accepted) out.push(`${p.kind}: ${p.accepted - p.arrived} of ${p.accepted} accepted messages got no message.created${p.stalled ? ` (${p.stalled})` : ''}`);
  if (s.invalidSignatures > 0) out.push(`${p.kind}: ${s.invalidSignatures} requests with an invalid X-Hub-Signature-256`);
  if (s.duplicateEventIds > 0) out.push(`${p.kind}: ${s.duplicateEventIds} requests repeated an event id already received (answered 200 the first time)`);
  if (s.duplicateMessages > 0) out.push(`${p.kind}: ${s.duplicateMessages} messages got a second message.created under another event id`);
  if (s.unparsable > 0) out.push(`${p.kind}: ${s.unparsable} bodies were not JSON`);
  const others = Object.entries(s.byType).filter(([t]) => t !== 'message.created');
  if (others.length > 0) out.push(`${p.kind}: unexpected event types ${others.map(([t, n]) => `${t}×${n}`).join(', ')}`);
  return out;
}

/**
 * The webhook half of the seed API case against a hub started with WEBHOOK_URL = the sink:
 * chat plugin visitors send at a steady rate, then in a burst, and every accepted message's
 * message.created is awaited at the sink, which checks each signature.
 */
export async function runSeedWebhookBench(hub: HubTarget, baseUrl: string, systemToken: string, sink: WebhookSink, storePid: number | undefined, config: SeedApiConfig): Promise<WebhookRunResult> {
  const started = performance.now();
  const channelId = await connectChatPluginChannel(baseUrl, systemToken, 'Bench webhooks');
  const opened = await mapLimit(Array.from({ length: WEBHOOK_VISITORS }, (_, i) => i), 10, () => authenticateVisitor(baseUrl, channelId));
  const visitors = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (visitors.length === 0) throw new Error(`no visitor could authenticate: ${failureSummary(opened)}`);
  const setupSeconds = (performance.now() - started) / 1000;
  progress(`seed API webhooks: ${visitors.length} chat plugin visitors authenticated in ${fmt(setupSeconds, 1)} s; each sends its first message (warm-up)…`);

  const result: WebhookRunResult = { visitors: visitors.length, setupSeconds, warmup: { sent: 0, arrived: 0, seconds: 0 }, phases: [], hubOutcomes: {}, strangers: 0, problems: [] };
  const warm = new WebhookWatch('seed API webhooks warm-up', hub, sink, visitors.length);
  const w0 = performance.now();
  const sent = await Promise.allSettled(visitors.map((v, i) => sendAsVisitor(baseUrl, v, `hello ${i}`)));
  for (const r of sent) if (r.status === 'fulfilled') warm.expect(r.value.id);
  warm.sent = visitors.length;
  const warmNote = await warm.untilArrived(STALL_MS, w0 + 60_000);
  result.warmup = { sent: warm.expected.size, arrived: sink.arrivedOf(warm.expected), seconds: (performance.now() - w0) / 1000 };
  const known = new Set(warm.expected);
  progress(`seed API webhooks warm-up: ${result.warmup.arrived}/${result.warmup.sent} webhooks in ${fmt(result.warmup.seconds, 1)} s${warmNote ? ` (${warmNote})` : ''}`);
  await sleep(1000); // the last deliveries' archive writes

  for (const kind of ['steady', 'burst'] as const) {
    try {
      const phase = await runPhase(kind, hub, baseUrl, sink, visitors, known, storePid, config);
      result.phases.push(phase);
      result.problems.push(...phaseProblems(phase));
    } catch (err) {
      result.problems.push(`${kind}: ${errorText(err)}`);
    }
    await sleep(1000);
  }
  result.strangers = sink.strangers(known);
  if (result.strangers > 0) result.problems.push(`${result.strangers} message.created webhooks for messages the bench never sent`);
  result.hubOutcomes = await webhookOutcomes(hub);
  return result;
}
