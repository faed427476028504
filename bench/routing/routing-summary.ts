import type { RoutingResult, RoutingRunResult } from './routing-runner.js';
import { fmt, formatTable, type LatencySummary } from '../common/stats.js';

const trio = (l: LatencySummary | undefined): string => (l && l.count > 0 ? `${fmt(l.p50)} / ${fmt(l.p99)} / ${fmt(l.max)}` : 'n/a');

function runRow(r: RoutingRunResult): string[] {
  return [
    r.kind,
    `${fmt(r.assigned)}/${fmt(r.expected)}`,
    trio(r.joinedLatency),
    trio(r.hubJoinedLatency),
    trio(r.readyToJoined),
    fmt(r.drainSeconds, 2),
    `${r.perAgent.min}–${r.perAgent.max}`,
    fmt(r.viaInfo),
    `${fmt(r.initLatency.p50)} / ${fmt(r.initLatency.p99)}`,
    `${fmt(r.serverCpuPercent)}/${fmt(r.storeCpuPercent)}/${fmt(r.clientCpuPercent)}`,
    r.problems.length ? `FAILED (${r.problems.length})` : 'ok',
  ];
}

function runLine(r: RoutingRunResult): string {
  const s = r.store;
  const store = s
    ? `store after the run: ${fmt(s.active)} active / ${fmt(s.queued)} queued of ${fmt(s.conversations)}, ${fmt(s.agentJoins)} agent participantJoined stored, ` +
      `agents' load sum ${fmt(s.loadSum)} (max ${fmt(s.maxLoad)})`
    : 'store not read';
  const setup =
    r.kind === 'drain'
      ? `${fmt(r.opened)}/${fmt(r.requested)} customers queued in ${fmt(r.setupSeconds, 1)} s (${fmt(r.noAgentNotices)} told noAgentAvailable); ready acks within ${fmt(r.readyAckSeconds, 2)} s`
      : `agents ready in ${fmt(r.setupSeconds, 1)} s; ${fmt(r.opened)}/${fmt(r.requested)} customers at ${fmt(r.achievedRate, 1)} inits/s`;
  return `${r.label}: ${setup}${r.openFailures ? ` (failures: ${r.openFailures})` : ''}; hub queue assignments ${fmt(r.hubAssignments)}; ${store}`;
}

/** The routing section of the report. */
export function routingSection(t: RoutingResult | undefined): string[] {
  if (!t) return ['', '=== Routing: not run ==='];
  const { config } = t;
  const out = [
    '',
    `=== Routing: ${fmt(config.conversations)} conversations, ${config.agents} agents with maxChats ${config.maxChats}; each run on its own hub process and fresh database ===`,
    formatTable(
      [
        'run',
        'assigned',
        'init→joined p50/p99/max ms',
        'init→hub stamp p50/p99/max ms',
        'ready→joined p50/p99/max ms',
        'drain s',
        'per agent',
        'via info',
        'init p50/p99 ms',
        'CPU% hub/store/client',
        'checks',
      ],
      t.runs.map(runRow),
    ),
    '(init→joined = POST /api/customer/init sent → the customer receives the agent\'s participantJoined; init→hub stamp = to that message\'s timestamp, ' +
      'i.e. without the customer\'s own connect and join; ready→joined = from the first agentState ready (drain); drain s = first ready → last participantJoined (drain), ' +
      'last init sent → last participantJoined (steady); via info = customers who found it in conversationInfo, assigned before their join completed; ' +
      'checks: every conversation exactly one agent (customer, agent sockets and store agree), no agent above maxChats)',
  ];
  for (const r of t.runs) {
    out.push(runLine(r));
    if (r.perSecond.length > 0) {
      out.push(`  assigned per second (from ${r.kind === 'drain' ? 'the first ready' : 'the first init'}): ${r.perSecond.slice(0, 60).map((n) => fmt(n)).join(', ')}`);
    }
    for (const p of r.problems) out.push(`  PROBLEM: ${p}`);
    if (r.hubLog && r.hubLog.warn + r.hubLog.error > 0) {
      out.push(`  this run's hub logged ${r.hubLog.warn} warnings and ${r.hubLog.error} errors; the first:`);
      for (const sample of r.hubLog.samples.slice(0, 3)) out.push(`    ${sample}`);
    }
  }
  return out;
}

/** One summary row per routing run. */
export function routingSummaryRows(t: RoutingResult | undefined): string[][] {
  if (!t) return [['routing: init → agent assigned', 'not run', 'no goal', 'n/a']];
  return t.runs.map((r) => {
    const l = r.joinedLatency;
    const tail = r.kind === 'drain' ? `drain ${fmt(r.drainSeconds, 2)} s` : `at ${fmt(r.achievedRate, 1)} inits/s`;
    const figure = `init → participantJoined p50 ${fmt(l.p50)} / p99 ${fmt(l.p99)} ms, ${fmt(r.assigned)}/${fmt(r.expected)} assigned, ${tail}`;
    return [`routing ${r.kind} (${fmt(r.requested)} conversations, ${t.config.agents} agents)`, figure, 'no goal', r.problems.length ? 'CHECK FAILED' : 'checks ok'];
  });
}
