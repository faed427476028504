import { cpus } from 'node:os';
import type { StoreRateResult } from '../common/store-rate.js';
import { fmt, formatTable } from '../common/stats.js';
import type { ClusterConfig, ClusterRun, FailoverResult } from './cluster-runner.js';

export interface ClusterResult {
  config: ClusterConfig;
  runs: ClusterRun[];
  failover?: FailoverResult | undefined;
  /** Problems of the case (e.g. a size that could not run), for the report. */
  notes: string[];
}

function rows(run: ClusterRun): string[][] {
  return run.phases.map((p) => [
    String(run.hubs),
    `${fmt(run.crossShare * 100)}%`,
    `${p.spec.key}) ${p.spec.label}`,
    fmt(p.achievedPerSec),
    fmt(p.latency.p50, 2),
    fmt(p.latency.p99, 2),
    fmt(p.latency.max, 1),
    `${fmt(p.ackOk)}/${fmt(p.sent)}`,
    `${p.ackFailed + p.ackTimedOut}${Object.keys(p.failureCodes).length > 0 ? ` (${Object.entries(p.failureCodes).map(([code, n]) => `${code}:${n}`).join(' ')}${p.ackTimedOut ? ` timeout:${p.ackTimedOut}` : ''})` : ''}`,
    String(p.missing),
    `${fmt(p.serverCpuPercent)}/${fmt(p.storeCpuPercent)}/${fmt(p.clientCpuPercent)}`,
  ]);
}

const maxOf = (run: ClusterRun | undefined): number | undefined => run?.phases.find((p) => p.spec.key === 'm')?.achievedPerSec;

/** The cluster case (issue 15): the same load through 1, 2, 3 hub processes, then a kill -9 under traffic. */
export function clusterSection(result: ClusterResult | undefined, store: StoreRateResult | undefined): string[] {
  if (!result) return ['', '=== Cluster (hub processes on one store and one Redis): not run ==='];
  const c = result.config;
  const out = [
    '',
    `=== Cluster: ${c.pairs} pairs through ${c.sizes.join(', ')} hub processes (one store, one redis-server, REDIS_URL on every hub, also the single one); ` +
      `customer of pair i on hub i mod n, its agent on hub (i+1) mod n; latency = emit → other side's messageArrived ===`,
    formatTable(
      ['hubs', 'cross-process', 'phase', 'arrived msg/s', 'p50 ms', 'p99 ms', 'max ms', 'acked/sent', 'failed', 'missing', 'CPU% hubs/store/client'],
      result.runs.flatMap(rows),
    ),
  ];
  for (const run of result.runs) for (const p of run.phases) if (p.notes) out.push(`${run.hubs} hub(s) ${p.spec.key}): ${p.notes}`);
  const one = maxOf(result.runs.find((r) => r.hubs === 1));
  for (const run of result.runs) {
    const max = maxOf(run);
    if (run.hubs > 1 && one !== undefined && max !== undefined && one > 0) out.push(`max through ${run.hubs} processes: ${fmt(max / one, 2)}× of one process`);
  }
  out.push(
    store ? `the store's own insert rate (insertMany batches of 500, one in flight): ${fmt(store.docsPerSec)} docs/s` : "the store's own insert rate: not measured",
    `cores: ${cpus().length}. Every hub, the store, redis-server and the load generator share them, so more processes cannot mean more throughput on this machine; ` +
      'the figures show what crossing processes (Redis adapter, a second hop) costs, not what several machines would carry.',
  );
  const f = result.failover;
  if (f) {
    out.push(
      `failover: ${f.pairs} pairs over ${f.hubs} hubs at ${fmt(c.rate)} msg/s, one hub killed (SIGKILL) after ${c.killAtSecond} s of ${f.seconds} s; ` +
        `${f.recovered}/${f.affected} of its clients sent again (acked) on another process`,
      formatTable(
        ['from the kill to', 'p50 ms', 'max ms', 'clients'],
        [
          ['the client sees its disconnect', fmt(f.disconnect.p50), fmt(f.disconnect.max), fmt(f.disconnect.count)],
          ['its socket connected to another hub', fmt(f.connect.p50), fmt(f.connect.max), fmt(f.connect.count)],
          ['its joinConversation {afterSeq} acked on another hub', fmt(f.rejoin.p50), fmt(f.rejoin.max), fmt(f.rejoin.count)],
          ['its first send acked there (unacked sends retried first)', fmt(f.resend.p50), fmt(f.resend.max), fmt(f.resend.count)],
        ],
      ),
      `the other clients (not on the killed hub), sendMessage → ack for sends in the 3 s after the kill: p50 ${fmt(f.othersAck.p50)} ms, p99 ${fmt(f.othersAck.p99)} ms, max ${fmt(f.othersAck.max)} ms (${fmt(f.othersAck.count)} sends)`,
      `failover traffic: ${fmt(f.arrivedPerSec)} msg/s arrived live (messageArrived) over the run after its first second; acked ${fmt(f.acked)}, seen by the other party (live or in the catch-up) ${fmt(f.seenByPeer)}; ` +
        `retried with the same clientMessageId ${fmt(f.retried)}; connect attempts ${fmt(f.reconnectAttempts)}; catch-up pages read ${fmt(f.catchUpPages)}; live duplicates ${fmt(f.liveDuplicates)}; failed ${fmt(f.failed)}` +
        (f.note ? ` (${f.note})` : ''),
    );
    if (f.unseen > 0) {
      out.push(
        `PROBLEM: ${fmt(f.unseen)} acked messages never reached the other party (neither live nor in a catch-up) within 12 s after the run; ` +
          `${fmt(f.unseenRetriesPeerStayed)} of them were retries (same clientMessageId) acked on another process while the other party stayed connected ` +
          '(likely: the killed process stored them but died before announcing them, and a duplicate clientMessageId is announced again only when ' +
          "the answering process itself was unsure of the first insert, src/domain/message-writer.ts). E.g.:",
        ...f.unseenSamples.map((line) => `  ${line}`),
      );
    }
  } else out.push('failover: not run');
  for (const note of result.notes) out.push(`note: ${note}`);
  return out;
}

export function clusterSummaryRows(result: ClusterResult | undefined): string[][] {
  if (!result) return [['cluster (issue 15)', 'not run', 'no goal', 'n/a']];
  const maxes = result.runs.map((r) => `${r.hubs}: ${fmt(maxOf(r))}`).join(', ');
  const f = result.failover;
  return [
    ['cluster max msg/s by hub processes', maxes || 'n/a', 'no goal (2 cores: shows the cost)', 'n/a'],
    [
      'cluster failover, kill -9 → acked send',
      f ? `p50 ${fmt(f.resend.p50)} / max ${fmt(f.resend.max)} ms, ${f.recovered}/${f.affected} clients; ${fmt(f.seenByPeer)}/${fmt(f.acked)} acked seen by the other party` : 'not run',
      'no goal (issue 15); every acked message seen',
      f ? (f.unseen === 0 ? 'seen: met' : `seen: NOT met (${fmt(f.unseen)})`) : 'n/a',
    ],
  ];
}
