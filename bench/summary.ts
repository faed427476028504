import type { IdleResult } from './idle-runner.js';
import type { PhaseResult } from './load-runner.js';
import type { ProcMemory } from './proc-probe.js';
import { fmt, formatTable, kib, mib } from './stats.js';
import type { StoreRateResult } from './store-rate.js';

export interface BenchReport {
  pairs: number;
  hubLoad: PhaseResult[];
  bareLoad: PhaseResult[];
  hubIdle: IdleResult | undefined;
  bareIdle: IdleResult | undefined;
  store: StoreRateResult | undefined;
  hubMemory: ProcMemory | undefined;
  bareMemory: ProcMemory | undefined;
  hubLog: { warn: number; error: number; samples: string[] };
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
      fmt(r.serverCpuPercent),
    ];
  });
}

function ratio(a: number | undefined, b: number | undefined, digits = 2): string {
  return a !== undefined && b !== undefined && b !== 0 && Number.isFinite(a) && Number.isFinite(b) ? `${fmt(a / b, digits)}×` : 'n/a';
}

function idleRows(r: IdleResult | undefined, name: string): string[] {
  if (!r) return [name, 'not run', '', '', '', '', '', ''];
  return [
    name,
    `${fmt(r.connected)}/${fmt(r.requested)}`,
    fmt(r.connectSeconds, 1),
    mib(r.rssBefore),
    mib(r.rssAfter),
    kib(r.rssPerSocket),
    `${mib(r.heapBefore)} → ${mib(r.heapAfter)}`,
    kib(r.heapPerSocket),
  ];
}

type Verdict = 'met' | 'NOT met' | 'n/a';

function latencyVerdict(r: PhaseResult | undefined, limitMs: number): { figure: string; verdict: Verdict } {
  if (!r || r.latency.count === 0) return { figure: 'no samples', verdict: 'n/a' };
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
      ['target', 'phase', 'arrived msg/s', 'p50 ms', 'p99 ms', 'max ms', 'samples', 'sent', 'ack failed', 'ack timeout', 'missing', 'skipped', 'server CPU%'],
      [...loadRows('hub', report.hubLoad), ...loadRows('bare', report.bareLoad)],
    ),
  );
  for (const r of report.hubLoad) if (r.notes) out.push(`hub ${r.spec.key}): ${r.notes}`);
  const hubC = phase(report.hubLoad, 'c');
  const bareC = phase(report.bareLoad, 'c');
  out.push(`max-throughput ratio hub/bare: ${ratio(hubC?.achievedPerSec, bareC?.achievedPerSec)} (${fmt(hubC?.achievedPerSec)} vs ${fmt(bareC?.achievedPerSec)} msg/s)`);

  out.push('', '=== Idle sockets (connected and joined, then left idle; per-socket = (after − before) / joined) ===');
  out.push(
    formatTable(
      ['target', 'joined', 'connect s', 'RSS before', 'RSS after', 'RSS/socket', 'heap used before → after', 'heap/socket'],
      [idleRows(report.hubIdle, 'hub'), idleRows(report.bareIdle, 'bare')],
    ),
  );
  out.push(
    `ratio hub/bare: RSS/socket ${ratio(report.hubIdle?.rssPerSocket, report.bareIdle?.rssPerSocket)}, ` +
      `heap/socket ${ratio(report.hubIdle?.heapPerSocket, report.bareIdle?.heapPerSocket)}`,
  );

  out.push('', '=== Process memory (from /proc/<pid>/status) ===');
  out.push(`hub:  peak RSS (VmHWM) ${mib(report.hubMemory?.hwmBytes)}, RSS at end ${mib(report.hubMemory?.rssBytes)}`);
  out.push(`bare: peak RSS (VmHWM) ${mib(report.bareMemory?.hwmBytes)}, RSS at end ${mib(report.bareMemory?.rssBytes)}`);

  out.push('', '=== Document store ===');
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
  const hubHeap = report.hubIdle?.heapPerSocket;
  const bareHeap = report.bareIdle?.heapPerSocket;
  const heapOk = hubHeap !== undefined && bareHeap !== undefined && bareHeap > 0 ? hubHeap <= 2 * bareHeap : undefined;
  const rows: string[][] = [
    ['max throughput vs bare relay', tput !== undefined ? `${fmt(tput, 2)}× of bare` : 'n/a', '≥ 0.33×', tput === undefined ? 'n/a' : tput >= 1 / 3 ? 'met' : 'NOT met'],
    ['p99 latency at 1,000 msg/s', a.figure, '≤ 10 ms', a.verdict],
    ['p99 latency at 5,000 msg/s', b.figure, '≤ 50 ms', b.verdict],
    ['idle heap per socket vs bare', `${kib(hubHeap)} vs ${kib(bareHeap)} (${ratio(hubHeap, bareHeap)})`, '≤ 2× bare', heapOk === undefined ? 'n/a' : heapOk ? 'met' : 'NOT met'],
  ];
  out.push('', '=== Summary against targets ===', formatTable(['target', 'figure', 'goal', 'status'], rows));

  const errors = [...report.hubLoad, ...report.bareLoad].reduce((n, r) => n + r.ackFailed + r.ackTimedOut + r.missing, 0);
  out.push('', `delivery problems across all load phases (failed + timed out + missing): ${fmt(errors)}`);
  out.push(`hub log lines at warn: ${report.hubLog.warn}, at error or stderr: ${report.hubLog.error}`);
  for (const sample of report.hubLog.samples) out.push(`  ${sample}`);
  console.log(out.join('\n'));
}
