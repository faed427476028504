import { fmt, formatTable } from '../common/stats.js';
import { GROWTH_OPS, type GrowthResult, type GrowthSizeResult } from './growth-runner.js';

function sizeLabel(s: GrowthSizeResult): string {
  const n = s.messages;
  const short = n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : fmt(n);
  return `${short} msgs${s.seed.partial ? ' (partial)' : ''}`;
}

/** The growth case: one row per operation, one column per size, cells p50 / p99 ms. */
export function growthSection(g: GrowthResult | undefined): string[] {
  if (!g) return ['', '=== Data growth: not run ==='];
  const { config } = g;
  const out = [
    '',
    `=== Data growth: one database grown to ${config.sizes.map((n) => fmt(n)).join(' → ')} stored messages (~${config.perConversation} per conversation, ` +
      `2 conversations per contact) by insertMany straight into the store (batches of ${fmt(config.batch)}, ${config.inFlight} in flight), ` +
      `the hub restarted on it at each size; p50 / p99 ms over ${config.reps} repetitions (claims: ${config.claims}), one at a time, ` +
      `at most ${config.opSeconds} s per operation and size (n = fewer when that cut it short) ===`,
  ];
  if (g.sizes.length === 0) {
    out.push('no size was measured', ...g.notes.map((n) => `  ${n}`));
    return out;
  }
  const cell = (s: GrowthSizeResult, op: (typeof GROWTH_OPS)[number]): string => {
    const r = s.ops[op];
    if (!r) return 'not run';
    const short = r.latency.count + r.failures < r.asked ? ` (n=${r.latency.count})` : '';
    return `${fmt(r.latency.p50, 1)} / ${fmt(r.latency.p99, 1)}${short}${r.failures ? ` (${r.failures} failed)` : ''}`;
  };
  const rows: string[][] = GROWTH_OPS.map((op) => [op, ...g.sizes.map((s) => cell(s, op))]);
  rows.push(
    ['first join after restart', ...g.sizes.map((s) => (s.firstJoinMs === undefined ? 'n/a' : `${fmt(s.firstJoinMs, 1)}`))],
    ['hub restart → /ready (s)', ...g.sizes.map((s) => fmt(s.hubStartSeconds, 1))],
    ['seeded this step (docs)', ...g.sizes.map((s) => `${fmt(s.seed.docs)} in ${fmt(s.seed.seconds, 1)} s`)],
    ['store insertMany docs/s', ...g.sizes.map((s) => (s.seed.docs > 0 ? fmt(s.seed.docsPerSec) : 'n/a'))],
    ['conversations / contacts', ...g.sizes.map((s) => `${fmt(s.conversations)} / ${fmt(s.contacts)}`)],
  );
  out.push(formatTable(['operation (p50 / p99 ms)', ...g.sizes.map(sizeLabel)], rows));
  out.push(
    '(join after restart: the first joinConversation of each of the sampled ended conversations right after the hub process restarted, a staff reader, emit → conversationInfo; ' +
      'history page: the same conversations joined again (conversation cached, history read from the store); messages.list: 20 chat messages before the newest 20, system token; ' +
      'contacts.identify: a returning seeded contact whose conversations all ended (identify opens a new one); routing claim: a new agent emits agentState ready → its conversationInfo ' +
      'for the one queued conversation)',
  );
  const cpuRow = (s: GrowthSizeResult): string =>
    GROWTH_OPS.map((op) => {
      const r = s.ops[op];
      return r ? `${op} ${fmt(r.hubCpuPercent)}/${fmt(r.storeCpuPercent)}` : '';
    })
      .filter(Boolean)
      .join(', ');
  for (const s of g.sizes) out.push(`CPU% hub/store at ${sizeLabel(s)}: ${cpuRow(s)}`);
  const first = g.sizes[0];
  const last = g.sizes[g.sizes.length - 1];
  if (first && last && first !== last) {
    const growth = GROWTH_OPS.map((op) => {
      const a = first.ops[op]?.latency.p50;
      const b = last.ops[op]?.latency.p50;
      return `${op} ${a !== undefined && b !== undefined && a > 0 ? `${fmt(b / a, 2)}×` : 'n/a'}`;
    });
    out.push(`p50 at ${sizeLabel(last)} vs ${sizeLabel(first)}: ${growth.join(', ')}`);
  }
  for (const note of g.notes) out.push(`note: ${note}`);
  out.push(`growth case took ${fmt(g.seconds, 1)} s`);
  return out;
}

/** One row for the summary: how much the slowest-growing operation's p50 grew from the smallest to the largest size. */
export function growthSummaryRows(g: GrowthResult | undefined): string[][] {
  if (!g || g.sizes.length === 0) return [['data growth (p50 largest vs smallest size)', 'not run', 'flat (no goal)', 'n/a']];
  const first = g.sizes[0] as GrowthSizeResult;
  const last = g.sizes[g.sizes.length - 1] as GrowthSizeResult;
  const parts = GROWTH_OPS.map((op) => {
    const a = first.ops[op]?.latency.p50;
    const b = last.ops[op]?.latency.p50;
    return `${op} ${fmt(a, 1)}→${fmt(b, 1)}`;
  });
  return [[`data growth p50 ms, ${sizeLabel(first)} → ${sizeLabel(last)}`, parts.join('; '), 'flat (no goal)', 'n/a']];
}
