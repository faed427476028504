import type { ChildLogReport } from '../common/child-runner.js';
import { BURST_LANES, LIST_PAGE_SIZE, LIST_SEED_LANES, ROUND_TRIP_LANES, WEBHOOK_VISITORS } from './seed-api-config.js';
import { seedApiProblems, type SeedApiResult } from './seed-api-case.js';
import type { WebhookPhaseResult } from './seed-webhook-runner.js';
import { fmt, formatTable, type LatencySummary } from '../common/stats.js';

const trio = (l: LatencySummary | undefined, digits = 0): string =>
  l && l.count > 0 ? `${fmt(l.p50, digits)} / ${fmt(l.p99, digits)} / ${fmt(l.max, digits)}` : 'n/a';

function phaseRow(p: WebhookPhaseResult): string[] {
  const s = p.sink;
  return [
    p.label,
    `${fmt(p.accepted)}/${fmt(p.offered)}`,
    fmt(p.sendRate),
    trio(p.sendLatency, 1),
    `${fmt(p.arrived)}/${fmt(p.accepted)}`,
    trio(p.lag),
    fmt(p.eventsPerSec),
    fmt(p.deliverSeconds, 1),
    fmt(p.drainSeconds, 1),
    p.drainSeconds > 0.5 ? fmt(p.drainPerSec) : 'n/a',
    fmt(p.outboxPeak),
    `${fmt(s.requests - s.invalidSignatures)}/${fmt(s.requests)}`,
    `${s.duplicateEventIds}/${s.duplicateMessages}`,
    `${fmt(p.hubCpuPercent)}/${fmt(p.storeCpuPercent)}/${fmt(p.clientCpuPercent)}`,
  ];
}

function logLines(name: string, log: ChildLogReport | undefined): string[] {
  if (!log || log.warn + log.error === 0) return [];
  return [`  the ${name} logged ${log.warn} warnings and ${log.error} errors; the first:`, ...log.samples.slice(0, 3).map((s) => `    ${s}`)];
}

function webhookLines(t: SeedApiResult): string[] {
  const w = t.webhooks;
  if (!w) return ['webhooks: not run'];
  const out = [
    formatTable(
      ['webhook run', 'accepted', 'send/s', 'send p50/p99/max ms', 'webhooks', 'sent_at→webhook p50/p99/max ms', 'events/s', 'all in s', 'drain s', 'drain events/s', 'outbox peak', 'signed ok', 'dup ids/msgs', 'CPU% hub/store/client'],
      w.phases.map(phaseRow),
    ),
    `(${w.visitors} chat plugin visitors, authenticated in ${fmt(w.setupSeconds, 1)} s; warm-up: each sent one message first, ${w.warmup.arrived}/${w.warmup.sent} webhooks in ${fmt(w.warmup.seconds, 1)} s. ` +
      `send = POST /chatplugin.send; events/s = webhooks / (first send → last webhook) = "all in s"; drain s = last send answered → last webhook, drain events/s = the webhooks of that time per second (the backlog alone); ` +
      `outbox peak = highest hub_webhook_outbox_pending sampled every 2 s; signed ok = requests whose X-Hub-Signature-256 verified / all requests; ` +
      `dup = repeated event ids / messages with a second message.created; burst: ${BURST_LANES} sends in flight)`,
    `hub_webhook_events_total at the end: ${Object.entries(w.hubOutcomes).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'n/a'}; message.created for messages the bench never sent: ${w.strangers}`,
  ];
  for (const p of w.phases) {
    out.push(`${p.kind}: webhooks per second from the first send: ${p.perSecond.slice(0, 90).map((n) => fmt(n)).join(', ')}`);
    if (p.refusals) out.push(`  refused sends: ${p.refusals}`);
    if (p.stalled) out.push(`  STALLED: ${p.stalled}`);
  }
  out.push(...logLines('webhooks hub', w.hubLog));
  return out;
}

function apiLines(t: SeedApiResult): string[] {
  const r = t.roundTrip;
  const l = t.list;
  const id = t.identify;
  const rows: string[][] = [];
  if (id) {
    rows.push([
      'POST /contacts.identify (new external_id, one at a time)',
      fmt(id.latency.count),
      trio(id.latency, 1),
      `${id.identified}/${id.calls} in ${fmt(id.seconds, 1)} s; first/last tenth p50 ${fmt(id.firstTenth.p50, 1)}/${fmt(id.lastTenth.p50, 1)} ms; CPU% hub/store ${fmt(id.hubCpuPercent)}/${fmt(id.storeCpuPercent)}`,
    ]);
  }
  if (r) {
    rows.push(
      ['POST /chatplugin.authenticate {channel_id}', fmt(r.authenticate.count), trio(r.authenticate, 1), 'a new conversation each'],
      ['connect /ws.chatplugin', fmt(r.connect.count), trio(r.connect, 1), 'websocket transport'],
      ['POST /chatplugin.send (first message)', fmt(r.send.count), trio(r.send, 1), 'the conversation is queued for routing meanwhile (not awaited)'],
      ['send → `message` on the visitor socket', fmt(r.roundTrip.count), trio(r.roundTrip, 1), `${r.completed}/${r.visitors} arrived, ${r.foreign} foreign`],
    );
  }
  if (l) {
    rows.push(
      [`POST /chatplugin.send (seeding, ${LIST_SEED_LANES} lanes)`, fmt(l.seedLatency.count), trio(l.seedLatency, 1), `${fmt(l.seeded)}/${fmt(l.size)} in ${fmt(l.seedSeconds, 1)} s = ${fmt(l.seeded / l.seedSeconds)} msg/s`],
      [`POST /messages.list next_cursor (${LIST_PAGE_SIZE}/page)`, fmt(l.pageLatency.count), trio(l.pageLatency, 1), `${l.pages} pages, ${fmt(l.listed)} messages, total ${fmt(l.total)}`],
      ['POST /messages.list previous_cursor', fmt(l.backLatency.count), trio(l.backLatency, 1), `back from the last page; the first step ${fmt(l.previousFromEnd, 1)} ms`],
    );
  }
  if (rows.length === 0) return ['endpoints: not run'];
  const out = [formatTable(['call', 'n', 'p50 / p99 / max ms', 'notes'], rows)];
  if (r) {
    out.push(
      `round trip: ${r.visitors} visitors, ${ROUND_TRIP_LANES} at a time, in ${fmt(r.seconds, 1)} s (CPU% hub/store ${fmt(r.hubCpuPercent)}/${fmt(r.storeCpuPercent)})${r.failures ? `; failures: ${r.failures}` : ''}`,
    );
  }
  if (l) {
    out.push(
      `messages.list: seeding CPU% hub/store ${fmt(l.seedHubCpuPercent)}/${fmt(l.seedStoreCpuPercent)}; paging (forward and back, ${fmt(l.pagingSeconds, 1)} s) ` +
        `CPU% hub/store ${fmt(l.pagingHubCpuPercent)}/${fmt(l.pagingStoreCpuPercent)}; check: ` +
        (l.problems.length === 0
          ? `the pages, concatenated, are every sent message once, each lane in its order, sent_at never going back; the ${l.backPages} pages back match`
          : 'FAILED'),
    );
  }
  out.push(...logLines('seed API hub', t.hubLog));
  return out;
}

/** The seed API section of the report. */
export function seedApiSection(t: SeedApiResult | undefined): string[] {
  if (!t) return ['', '=== Seed API: not run ==='];
  const c = t.config;
  const out = [
    '',
    `=== Seed API (§6, webhooks §7): ${fmt(c.rate)} msg/s for ${c.seconds} s and a burst of ${fmt(c.burst)} over ${WEBHOOK_VISITORS} chat plugin visitors to a signature-checking sink; ` +
      `${c.identifies} identifies; ${c.roundTrips} visitor round trips; messages.list over ${fmt(c.listSize)} messages; two hub processes (webhooks on / off), fresh databases; ${fmt(t.seconds, 1)} s ===`,
    ...webhookLines(t),
    ...apiLines(t),
  ];
  for (const e of t.errors) out.push(`  FAILED: ${e}`);
  for (const p of seedApiProblems(t).filter((x) => !t.errors.includes(x))) out.push(`  PROBLEM: ${p}`);
  return out;
}

/** Summary rows of the seed API case. */
export function seedApiSummaryRows(t: SeedApiResult | undefined): string[][] {
  if (!t) return [['seed API', 'not run', 'no goal', 'n/a']];
  const status = (problems: readonly string[] | undefined): string => (problems === undefined ? 'n/a' : problems.length ? 'CHECK FAILED' : 'checks ok');
  const rows: string[][] = [];
  const hooksStatus = status(t.webhooks?.problems);
  for (const p of t.webhooks?.phases ?? []) {
    const figure =
      p.kind === 'steady'
        ? `${fmt(p.arrived)}/${fmt(p.accepted)} message.created, sent_at → webhook p50 ${fmt(p.lag.p50)} / p99 ${fmt(p.lag.p99)} ms, drained ${fmt(p.drainSeconds, 1)} s after the last send`
        : `${fmt(p.arrived)}/${fmt(p.accepted)} webhooks ${fmt(p.deliverSeconds, 1)} s after the first send, ${fmt(p.eventsPerSec)} events/s (backlog alone ${fmt(p.drainPerSec)}/s)`;
    rows.push([`seed API webhooks, ${p.label}`, figure, 'no goal', hooksStatus]);
  }
  const r = t.roundTrip;
  if (r) {
    rows.push(
      ['seed API chat plugin round trip', `send → socket message p50 ${fmt(r.roundTrip.p50, 1)} / p99 ${fmt(r.roundTrip.p99, 1)} ms (${r.completed}/${r.visitors})`, 'no goal', status(r.problems)],
    );
  }
  const id = t.identify;
  if (id) rows.push(['seed API contacts.identify, one at a time', `p50 ${fmt(id.latency.p50, 1)} / p99 ${fmt(id.latency.p99, 1)} ms (${id.identified}/${id.calls})`, 'no goal', status(id.problems)]);
  const l = t.list;
  if (l) {
    rows.push([
      `seed API messages.list, ${fmt(l.size)} messages by ${LIST_PAGE_SIZE}`,
      `${l.pages} pages p50 ${fmt(l.pageLatency.p50, 1)} / p99 ${fmt(l.pageLatency.p99, 1)} ms; back from the end ${fmt(l.previousFromEnd, 1)} ms; seeded at ${fmt(l.seeded / l.seedSeconds)} msg/s`,
      'no goal',
      status(l.problems),
    ]);
  }
  if (t.errors.length > 0) rows.push(['seed API', `${t.errors.length} parts failed`, 'no goal', 'FAILED']);
  return rows;
}
