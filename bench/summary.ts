import type { AttackResult } from './attack/attack-runner.js';
import { attackSection } from './attack/attack-summary.js';
import { clusterSection, clusterSummaryRows, type ClusterResult } from './cluster/cluster-summary.js';
import type { IdleShape } from './common/bench-target.js';
import { describeShape, type IdleResult } from './idle/idle-runner.js';
import type { PhaseResult } from './load/load-runner.js';
import type { ChildLogReport } from './common/child-runner.js';
import type { ConnectorResult, ConnectorRunResult } from './connector/connector-runner.js';
import type { ProcMemory } from './common/proc-probe.js';
import type { RoutingResult } from './routing/routing-runner.js';
import { routingSection, routingSummaryRows } from './routing/routing-summary.js';
import type { SeedApiResult } from './seed-api/seed-api-case.js';
import { seedApiSection, seedApiSummaryRows } from './seed-api/seed-api-summary.js';
import { fmt, formatTable, kib, mib } from './common/stats.js';
import type { GrowthResult } from './growth/growth-runner.js';
import { growthSection, growthSummaryRows } from './growth/growth-summary.js';
import type { StoreRateResult } from './common/store-rate.js';
import type { TranscriptResult } from './transcript/transcript-runner.js';
import { transcriptSection, transcriptSummaryRows } from './transcript/transcript-summary.js';

/** A per-socket figure from fewer sockets than this is mostly GC noise. */
const MIN_IDLE_SOCKETS = 200;

export interface BenchReport {
  pairs: number;
  hubLoad: PhaseResult[];
  bareLoad: PhaseResult[];
  /** How the idle sockets were spread over conversations (bare: rooms) and tabs. */
  idleShape?: IdleShape | undefined;
  hubIdle?: IdleResult | undefined;
  bareIdle?: IdleResult | undefined;
  store?: StoreRateResult | undefined;
  /** Documents in the hub's database after the load stage, as the store counts them. */
  storeCounts?: Record<string, number> | undefined;
  /** Messages the hub says it stored (hub_messages_stored_total) by the end of the load stage. */
  hubStored?: number | undefined;
  memory: Record<string, ProcMemory | undefined>;
  /** The local document store the bench started, if any (undefined with MONGODB_URI). */
  storeKind?: 'mongod' | 'ferretdb' | undefined;
  hubLogs: ChildLogReport[];
  /** The connector stage (undefined when skipped or failed). */
  connector?: ConnectorResult | undefined;
  /** The transcripts case (undefined when skipped or failed). */
  transcripts?: TranscriptResult | undefined;
  /** The routing case (undefined when skipped or failed before any run finished). */
  routing?: RoutingResult | undefined;
  /** The seed API case (undefined when skipped). */
  seedApi?: SeedApiResult | undefined;
  /** The under-attack case (undefined when skipped). */
  attack?: AttackResult | undefined;
  /** The cluster case, issue 15 (undefined when skipped). */
  cluster?: ClusterResult | undefined;
  /** The data-growth case (undefined when skipped). */
  growth?: GrowthResult | undefined;
}

const phase = (results: readonly PhaseResult[], key: string): PhaseResult | undefined => results.find((r) => r.spec.key === key);

function loadRows(target: string, results: readonly PhaseResult[]): string[][] {
  return results.map((r) => {
    const codes = Object.entries(r.failureCodes)
      .map(([c, n]) => `${c}:${n}`)
      .join(' ');
    return [
      target,
      `${r.spec.key}) ${r.spec.label}`,
      fmt(r.achievedPerSec),
      fmt(r.latency.p50, 2),
      fmt(r.latency.p99, 2),
      fmt(r.latency.max, 1),
      fmt(r.latency.count),
      fmt(r.sent),
      `${r.ackFailed}${codes ? ` (${codes})` : ''}`,
      String(r.ackTimedOut),
      String(r.missing),
      String(r.skipped),
      `${fmt(r.serverCpuPercent)}/${fmt(r.storeCpuPercent)}/${fmt(r.clientCpuPercent)}`,
    ];
  });
}

function ratio(a: number | undefined, b: number | undefined, digits = 2): string {
  return a !== undefined && b !== undefined && b !== 0 && Number.isFinite(a) && Number.isFinite(b) ? `${fmt(a / b, digits)}×` : 'n/a';
}

function idleRows(r: IdleResult | undefined, name: string): string[] {
  if (!r) return [name, 'not run'];
  const trio = (a: number | undefined, b: number | undefined, c: number | undefined): string => `${mib(a)} → ${mib(b)} → ${mib(c)}`;
  return [
    name,
    `${fmt(r.joined)}/${fmt(r.connected)}/${fmt(r.requested)}`,
    `${fmt(r.connectSeconds, 1)}/${fmt(r.joinSeconds, 1)} (${fmt(r.firstJoins.seconds, 1)} + ${fmt(r.tabJoins.seconds, 1)})`,
    trio(r.before.rss, r.afterConnect.rss, r.afterJoin.rss),
    trio(r.before.heap, r.afterConnect.heap, r.afterJoin.heap),
    kib(r.connectedPerSocket.rss),
    kib(r.connectedPerSocket.heap),
    ...(r.joined >= MIN_IDLE_SOCKETS ? [kib(r.joinedPerSocket.rss), kib(r.joinedPerSocket.heap)] : [`n/a (${r.joined} joined)`, 'n/a']),
  ];
}

function connectorRow(r: ConnectorRunResult | undefined): string[] {
  if (!r) return ['not run'];
  const codes = Object.entries(r.refusedCodes)
    .map(([c, n]) => `${c}:${n}`)
    .join(' ');
  const trio = (l: ConnectorRunResult['handler']): string => `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} / ${fmt(l.max, 1)}`;
  return [
    r.label,
    fmt(r.sent),
    fmt(r.delivered),
    fmt(r.deliveredPerSec),
    trio(r.handler),
    trio(r.deliveredLatency),
    String(r.failed),
    `${r.refused}${codes ? ` (${codes})` : ''}`,
    String(r.sendTimedOut),
    String(r.undelivered),
    fmt(r.seconds, 1),
    fmt(r.drainSeconds, 1),
    `${fmt(r.serverCpuPercent)}/${fmt(r.storeCpuPercent)}/${fmt(r.clientCpuPercent)}`,
  ];
}

function connectorSection(c: ConnectorResult | undefined): string[] {
  if (!c) return ['', '=== Connector delivery: not run ==='];
  const { config } = c;
  const out = [
    '',
    `=== Connector delivery: ${config.connectors} SDK connectors in one pool, ${config.conversations} SMS conversations opened by inbound messages, ` +
      'one agent each; the handler acks at once; each run on its own hub process and fresh database ===',
    formatTable(
      ['run', 'sent', 'DELIVERED', 'DELIVERED/s', 'send→handler p50/p99/max ms', 'send→DELIVERED p50/p99/max ms', 'failed', 'refused', 'ack timeout', 'undelivered', 'run s', 'drain s', 'CPU% hub/store/client'],
      c.runs.map(connectorRow),
    ),
    "(send = the agent emits sendMessage; handler = the SDK connector's onMessage gets the messageArrived; DELIVERED = the agent gets messageUpdated " +
      "with state DELIVERED after the connector's ack; run s = first send → last update; drain s = last send → last update)",
  ];
  for (const r of c.runs) {
    out.push(
      `${r.label}: ${r.conversations}/${config.conversations} conversations set up in ${fmt(r.setupSeconds, 1)} s${r.setupFailures ? ` (failures: ${r.setupFailures})` : ''}; ` +
        `warm-up ${r.warmup.delivered}/${r.warmup.sent} DELIVERED in ${fmt(r.warmup.seconds, 1)} s; ` +
        `hub hand-overs ${fmt(r.handovers)} (retries ${fmt(r.retries)}), distinct messages at the handler ${fmt(r.handedOver)}` +
        `${r.handedAgain ? ` (+${r.handedAgain} again)` : ''}${r.skipped ? `, ${fmt(r.skipped)} sends skipped (client behind schedule)` : ''}; ` +
        `out-of-order hand-overs ${r.outOfOrder}, stray events ${r.stray}, connector SDK warnings ${r.connectorWarnings.count}`,
    );
    if (r.perSecond.length > 0) out.push(`  DELIVERED per second: ${r.perSecond.slice(0, 60).map((n) => fmt(n)).join(', ')}`);
    if (r.stalled) out.push(`  STALLED: ${r.stalled}`);
    for (const sample of r.connectorWarnings.samples) out.push(`  connector: ${sample}`);
    if (r.hubLog && r.hubLog.warn + r.hubLog.error > 0) {
      out.push(`  this run's hub logged ${r.hubLog.warn} warnings and ${r.hubLog.error} errors; the first:`);
      for (const sample of r.hubLog.samples.slice(0, 3)) out.push(`    ${sample}`);
    }
  }
  return out;
}

type Verdict = 'met' | 'NOT met' | 'n/a';

function latencyVerdict(r: PhaseResult | undefined, limitMs: number): { figure: string; verdict: Verdict } {
  if (!r) return { figure: 'not run', verdict: 'n/a' };
  if (r.latency.count === 0) return { figure: `nothing arrived after warm-up (${fmt(r.sent)} sent)`, verdict: 'NOT met' };
  const reached = r.achievedPerSec >= 0.95 * r.spec.rate;
  const figure = `p99 ${fmt(r.latency.p99, 2)} ms at ${fmt(r.achievedPerSec)} msg/s${reached ? '' : ' (rate not reached)'}`;
  return { figure, verdict: reached && r.latency.p99 <= limitMs ? 'met' : 'NOT met' };
}

/** Prints every figure of the run and the targets beside them; never judges the exit code. */
export function printReport(report: BenchReport): void {
  const out: string[] = [];
  out.push('', `=== Load: ${report.pairs} customer/agent pairs (${report.pairs * 2} sockets); latency = emit → other side's messageArrived ===`);
  out.push(
    formatTable(
      ['target', 'phase', 'arrived msg/s', 'p50 ms', 'p99 ms', 'max ms', 'samples', 'sent', 'ack failed', 'ack timeout', 'missing', 'skipped', 'CPU% srv/store/client'],
      [...loadRows('hub', report.hubLoad), ...loadRows('bare', report.bareLoad)],
    ),
  );
  for (const r of report.hubLoad) if (r.notes) out.push(`hub ${r.spec.key}): ${r.notes}`);
  const hubC = phase(report.hubLoad, 'c');
  const bareC = phase(report.bareLoad, 'c');
  out.push(`max-throughput ratio hub/bare: ${ratio(hubC?.achievedPerSec, bareC?.achievedPerSec)} (${fmt(hubC?.achievedPerSec)} vs ${fmt(bareC?.achievedPerSec)} msg/s)`);

  const hi = report.hubIdle;
  const bi = report.bareIdle;
  const shape = report.idleShape ?? hi?.shape ?? bi?.shape;
  out.push(
    '',
    `=== Idle sockets on fresh server processes (hub: fresh database): ${shape ? describeShape(shape) : 'not run'}; memory before → connected → joined ===`,
  );
  out.push(
    formatTable(
      ['target', 'joined/connected/asked', 'connect/join s (first + tabs)', 'RSS', 'heap used', 'RSS/conn', 'heap/conn', 'RSS/joined', 'heap/joined'],
      [idleRows(hi, 'hub'), idleRows(bi, 'bare')],
    ),
  );
  out.push('(…/conn = per connected socket before joining; …/joined = that plus the join increment per joined socket)');
  out.push(
    '(bare: the same shape with rooms for conversations; "first" = each participant\'s first socket, on the hub its first join, which writes to the database; ' +
      '"tabs" = its further sockets, rejoins without a database write)',
  );
  for (const r of [hi, bi]) {
    if (!r) continue;
    out.push(
      `${r.target} joins: first sockets ${fmt(r.firstJoins.joined)}/${fmt(r.firstJoins.asked)} in ${fmt(r.firstJoins.seconds, 1)} s` +
        ` (${fmt(r.firstJoins.seconds > 0 ? r.firstJoins.joined / r.firstJoins.seconds : undefined)}/s), ` +
        `further tabs ${fmt(r.tabJoins.joined)}/${fmt(r.tabJoins.asked)} in ${fmt(r.tabJoins.seconds, 1)} s` +
        ` (${fmt(r.tabJoins.seconds > 0 ? r.tabJoins.joined / r.tabJoins.seconds : undefined)}/s)`,
    );
  }
  for (const r of [hi, bi]) {
    if (r?.connectFailures) out.push(`${r.target} connect failures: ${r.connectFailures}`);
    if (r?.joinFailures) out.push(`${r.target} join failures: ${r.joinFailures}`);
  }
  const joinedOk = (hi?.joined ?? 0) >= MIN_IDLE_SOCKETS && (bi?.joined ?? 0) >= MIN_IDLE_SOCKETS;
  out.push(
    `ratio hub/bare: connected heap/socket ${ratio(hi?.connectedPerSocket.heap, bi?.connectedPerSocket.heap)}, ` +
      `connected RSS/socket ${ratio(hi?.connectedPerSocket.rss, bi?.connectedPerSocket.rss)}, ` +
      (joinedOk
        ? `joined heap/socket ${ratio(hi?.joinedPerSocket.heap, bi?.joinedPerSocket.heap)}, joined RSS/socket ${ratio(hi?.joinedPerSocket.rss, bi?.joinedPerSocket.rss)}`
        : `joined: n/a (fewer than ${MIN_IDLE_SOCKETS} sockets joined on one side)`),
  );

  out.push(...connectorSection(report.connector));
  out.push(...transcriptSection(report.transcripts));
  out.push(...routingSection(report.routing));
  out.push(...seedApiSection(report.seedApi));
  out.push(...attackSection(report.attack));
  out.push(...clusterSection(report.cluster, report.store));
  out.push(...growthSection(report.growth));

  out.push('', '=== Process memory (from /proc/<pid>/status, read at the end of each stage) ===');
  for (const [name, m] of Object.entries(report.memory)) out.push(`${name.padEnd(18)} peak RSS (VmHWM) ${mib(m?.hwmBytes)}, RSS ${mib(m?.rssBytes)}`);

  out.push('', '=== Document store ===');
  if (report.storeKind === 'ferretdb') {
    out.push(
      'FerretDB 1.24 on PostgreSQL (tools/docstore): a GIN index on _id and on the leading field of every index the hub declares; ' +
        'FerretDB pushes equality filters down to PostgreSQL (those indexes serve them) but sorts and limits itself, so a query costs about as many ' +
        'documents as its pushed-down filter selects (e.g. one conversation\'s messages), not the page it returns; store CPU = tools/docstore plus its PostgreSQL processes.',
    );
  }
  const counts = report.storeCounts;
  if (counts) {
    out.push(
      `after the load stage the store holds ${fmt(counts['messages'])} messages and ${fmt(counts['conversations'])} conversations; ` +
        `the hub reported ${fmt(report.hubStored)} messages stored (hub_messages_stored_total, incl. join announcements)`,
    );
  }
  const store = report.store;
  out.push(
    store
      ? `insertMany ×${store.batches} batches of 500: ${fmt(store.docsPerSec)} docs/s${store.error ? ` (stopped by error: ${store.error})` : ''}` +
          (hubC ? `; hub max throughput is ${ratio(hubC.achievedPerSec, store.docsPerSec)} of it` : '')
      : 'not run',
  );

  const tput = hubC && bareC && bareC.achievedPerSec > 0 ? hubC.achievedPerSec / bareC.achievedPerSec : undefined;
  const a = latencyVerdict(phase(report.hubLoad, 'a'), 10);
  const b = latencyVerdict(phase(report.hubLoad, 'b'), 50);
  // A per-socket figure from a handful of sockets is mostly GC noise: require a few hundred.
  const hubJoined = (hi?.joined ?? 0) >= MIN_IDLE_SOCKETS ? hi?.joinedPerSocket.heap : undefined;
  const hubConnected = (hi?.connected ?? 0) >= MIN_IDLE_SOCKETS ? hi?.connectedPerSocket.heap : undefined;
  const bareJoined = (bi?.joined ?? 0) >= MIN_IDLE_SOCKETS ? bi?.joinedPerSocket.heap : undefined;
  let heapFigure: string;
  let heapVerdict: string;
  if (hubJoined !== undefined && bareJoined !== undefined && bareJoined > 0) {
    heapFigure = `${kib(hubJoined)} vs ${kib(bareJoined)} (${ratio(hubJoined, bareJoined)}) per joined socket`;
    heapVerdict = hubJoined <= 2 * bareJoined ? 'met' : 'NOT met';
  } else if (hubConnected !== undefined && bareJoined !== undefined && bareJoined > 0) {
    // Only connected hub sockets to go by: a lower bound of the joined cost.
    heapFigure = `only ${fmt(hi?.joined ?? 0)} hub sockets joined; connected-only ${kib(hubConnected)} vs bare joined ${kib(bareJoined)} (${ratio(hubConnected, bareJoined)})`;
    heapVerdict = hubConnected > 2 * bareJoined ? 'NOT met (lower bound)' : 'n/a (too few joined)';
  } else {
    heapFigure = 'n/a';
    heapVerdict = 'n/a';
  }
  const rows: string[][] = [
    ['max throughput vs bare relay', tput !== undefined ? `${fmt(tput, 2)}× of bare` : 'n/a', '≥ 0.33×', tput === undefined ? 'n/a' : tput >= 1 / 3 ? 'met' : 'NOT met'],
    ['p99 latency at 1,000 msg/s', a.figure, '≤ 10 ms', a.verdict],
    ['p99 latency at 5,000 msg/s', b.figure, '≤ 50 ms', b.verdict],
    ['idle heap per socket vs bare', heapFigure, '≤ 2× bare', heapVerdict],
  ];
  const cl = report.connector?.runs.find((r) => r.kind === 'latency');
  const ct = report.connector?.runs.find((r) => r.kind === 'throughput');
  rows.push(
    [
      'connector delivery latency',
      cl
        ? `send → DELIVERED p50 ${fmt(cl.deliveredLatency.p50, 1)} / p99 ${fmt(cl.deliveredLatency.p99, 1)} ms at ${fmt(cl.deliveredPerSec)} msg/s (${cl.label})` +
          (cl.stalled ? ', STALLED' : '')
        : 'not run',
      'no goal (issue 3)',
      'n/a',
    ],
    [
      'connector delivery throughput',
      ct ? `${fmt(ct.deliveredPerSec)} DELIVERED/s, ${fmt(ct.delivered)}/${fmt(ct.sent)} in ${fmt(ct.seconds, 1)} s (${ct.label})${ct.stalled ? ', STALLED' : ''}` : 'not run',
      'no goal (issue 3)',
      'n/a',
    ],
  );
  rows.push(...transcriptSummaryRows(report.transcripts));
  rows.push(...routingSummaryRows(report.routing));
  rows.push(...seedApiSummaryRows(report.seedApi));
  rows.push(...clusterSummaryRows(report.cluster));
  rows.push(...growthSummaryRows(report.growth));
  out.push('', '=== Summary against targets ===', formatTable(['target', 'figure', 'goal', 'status'], rows));

  const errors = [...report.hubLoad, ...report.bareLoad].reduce((n, r) => n + r.ackFailed + r.ackTimedOut + r.missing, 0);
  out.push('', `delivery problems across all load phases (failed + timed out + missing): ${fmt(errors)}`);
  const connectorRuns = report.connector?.runs ?? [];
  if (connectorRuns.length > 0) {
    const problems = connectorRuns.reduce((n, r) => n + r.failed + r.refused + r.sendTimedOut + r.undelivered, 0);
    out.push(`connector delivery problems (failed + refused + ack timeouts + undelivered): ${fmt(problems)}`);
  }
  const routingRuns = report.routing?.runs ?? [];
  if (routingRuns.length > 0) {
    out.push(`routing check problems (double assignments, agents above maxChats, conversations left without an agent): ${fmt(routingRuns.reduce((n, r) => n + r.problems.length, 0))}`);
  }
  const warn = report.hubLogs.reduce((n, l) => n + l.warn, 0);
  const error = report.hubLogs.reduce((n, l) => n + l.error, 0);
  out.push(`hub log lines at warn: ${warn}, at error or on stderr: ${error}`);
  for (const sample of report.hubLogs.flatMap((l) => l.samples).slice(0, 8)) out.push(`  ${sample}`);
  console.log(out.join('\n'));
}
