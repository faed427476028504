import type { AttackResult, AttackRun } from './attack-runner.js';
import { fmt, formatTable, mib } from '../common/stats.js';

function row(run: AttackRun): string[] {
  const p = run.phase;
  return [
    run.label,
    fmt(p?.achievedPerSec),
    fmt(p?.latency.p50, 2),
    fmt(p?.latency.p99, 2),
    fmt(p?.latency.max, 1),
    `${fmt(p?.ackOk)}/${fmt(p?.sent)}`,
    fmt(p?.missing),
    mib(run.peakHeap),
    mib(run.peakRss),
    `${fmt(run.healthMaxMs)} / ${fmt(run.healthFailures)}`,
  ];
}

/** The "under attack" case: the legitimate figures with and without the attack, then what the attack met. */
export function attackSection(result: AttackResult | undefined): string[] {
  if (!result) return ['', '=== Under attack: not run ==='];
  const c = result.config;
  const out = [
    '',
    `=== Under attack: ${c.pairs} legitimate pairs at ${c.rate} msg/s for ${c.seconds} s; attack = ${c.hostileSockets} hostile sockets over ${c.hostileCustomers} customers ` +
      `(${c.historyMessages} messages of ~220 KB each), ${c.joinsPerSocket} joins per socket, never reading, and ${c.transcriptRequests} unread transcript requests ===`,
    formatTable(
      ['run', 'arrived msg/s', 'p50 ms', 'p99 ms', 'max ms', 'acked/sent', 'missing', 'hub peak heap', 'hub peak RSS', '/health max ms / failures'],
      result.runs.map(row),
    ),
  ];
  for (const run of result.runs) {
    const h = run.hostile;
    if (!h) continue;
    const refused = Object.entries(h.refused)
      .map(([reason, n]) => `${n}× ${reason}`)
      .join('; ');
    const statuses = Object.entries(h.transcriptStatus)
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ');
    out.push(
      `${run.label}: hostile sockets connected ${fmt(h.socketsConnected)}/${fmt(h.socketsAsked)}` +
        `${refused ? ` (refused: ${refused})` : ''}; still connected at the end ${fmt(h.hostileStillConnected)}; ` +
        `joins sent ${fmt(h.joinsSent)}; transcript answers ${statuses || 'none'}; attack prepared in ${fmt(h.prepareSeconds, 1)} s`,
    );
    const codes = Object.entries(run.phase?.failureCodes ?? {})
      .map(([code, n]) => `${code}:${n}`)
      .join(' ');
    if (codes) out.push(`${run.label}: legitimate send failures ${codes}`);
  }
  return out;
}
