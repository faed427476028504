import { performance } from 'node:perf_hooks';
import { authenticateVisitor, connectVisitorSocket, sendAsVisitor, type VisitorSocket } from '../common/chat-plugin-client.js';
import { failureSummary, mapLimit, progress, sleep } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { CpuMeter } from '../common/proc-probe.js';
import { ROUND_TRIP_LANES } from './seed-api-config.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';

export interface RoundTripResult {
  visitors: number;
  completed: number;
  failures: string;
  /** POST /chatplugin.authenticate {channel_id}: request → answer (a new conversation each). */
  authenticate: LatencySummary;
  /** io(url + '/ws.chatplugin') → connect. */
  connect: LatencySummary;
  /** POST /chatplugin.send: request → answer (the first message also queues the conversation). */
  send: LatencySummary;
  /** POST /chatplugin.send started → the visitor's socket gets `message` with that id. */
  roundTrip: LatencySummary;
  /** Messages of another conversation that reached a visitor's socket (must be 0). */
  foreign: number;
  seconds: number;
  hubCpuPercent: number | undefined;
  storeCpuPercent: number | undefined;
  problems: string[];
}

/** How long a visitor waits for its own message on the socket after the send was answered. */
const ECHO_TIMEOUT_MS = 10_000;

interface Trip {
  authenticate: number;
  connect: number;
  send: number;
  roundTrip: number;
}

/** One visitor: authenticate, connect to /ws.chatplugin, send, and wait for the message on the socket. */
async function trip(baseUrl: string, channelId: string, index: number, sockets: VisitorSocket[], foreign: { count: number }): Promise<Trip> {
  const a0 = performance.now();
  const visitor = await authenticateVisitor(baseUrl, channelId);
  const a1 = performance.now();
  // The message may come before the send's answer: arrivals are kept by id.
  const arrivals = new Map<string, number>();
  let wake: (() => void) | undefined;
  const socket = await connectVisitorSocket(baseUrl, visitor.token, (s) => {
    s.on('message', ({ message }) => {
      if (message.conversation_id !== visitor.conversationId) foreign.count += 1;
      if (!arrivals.has(message.id)) arrivals.set(message.id, performance.now());
      wake?.();
    });
  });
  sockets.push(socket);
  const c1 = performance.now();
  const s0 = performance.now();
  const sent = await sendAsVisitor(baseUrl, visitor, `round trip ${index}`);
  const s1 = performance.now();
  if (!arrivals.has(sent.id)) {
    await Promise.race([new Promise<void>((resolve) => (wake = () => arrivals.has(sent.id) && resolve())), sleep(ECHO_TIMEOUT_MS)]);
  }
  const at = arrivals.get(sent.id);
  if (at === undefined) throw new Error(`message ${sent.id} did not reach the visitor's socket within ${ECHO_TIMEOUT_MS / 1000} s of the answer`);
  return { authenticate: a1 - a0, connect: c1 - a1, send: s1 - s0, roundTrip: at - s0 };
}

/**
 * The chat plugin round trip: `count` visitors (ROUND_TRIP_LANES at a time) each authenticate,
 * connect to /ws.chatplugin, send one message and time it until it arrives on their socket.
 */
export async function runSeedRoundTripBench(hub: HubTarget, baseUrl: string, channelId: string, storePid: number | undefined, count: number): Promise<RoundTripResult> {
  const problems: string[] = [];
  const sockets: VisitorSocket[] = [];
  const foreign = { count: 0 };
  const step = Math.max(1, Math.floor(count / 4));
  progress(`seed API round trip: ${count} visitors, ${ROUND_TRIP_LANES} at a time: authenticate, connect /ws.chatplugin, send, wait for the socket's message…`);
  const hubCpu = new CpuMeter(hub.pid);
  const storeCpu = new CpuMeter(storePid);
  const t0 = performance.now();
  let trips: PromiseSettledResult<Trip>[];
  try {
    trips = await mapLimit(
      Array.from({ length: count }, (_, i) => i),
      ROUND_TRIP_LANES,
      (i) => trip(baseUrl, channelId, i, sockets, foreign),
      (done) => {
        if (done % step === 0 && done < count) progress(`seed API round trip: ${done}/${count} visitors done`);
      },
    );
    // Other visitors' messages would show up meanwhile if they leaked across conversations.
    await sleep(500);
  } finally {
    for (const socket of sockets) socket.disconnect();
  }
  const seconds = (performance.now() - t0) / 1000;
  const hubCpuPercent = hubCpu.percent();
  const storeCpuPercent = storeCpu.percent();
  const ok = trips.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = failureSummary(trips);
  if (ok.length < count) problems.push(`${count - ok.length} of ${count} round trips failed: ${failures}`);
  if (foreign.count > 0) problems.push(`${foreign.count} messages of other conversations reached a visitor's socket`);

  const result: RoundTripResult = {
    visitors: count,
    completed: ok.length,
    failures,
    authenticate: summarize(ok.map((t) => t.authenticate)),
    connect: summarize(ok.map((t) => t.connect)),
    send: summarize(ok.map((t) => t.send)),
    roundTrip: summarize(ok.map((t) => t.roundTrip)),
    foreign: foreign.count,
    seconds,
    hubCpuPercent,
    storeCpuPercent,
    problems,
  };
  progress(
    `seed API round trip: ${ok.length}/${count} in ${fmt(seconds, 1)} s; send → socket message p50/p99 ${fmt(result.roundTrip.p50, 1)}/${fmt(result.roundTrip.p99, 1)} ms; ` +
      `CPU hub/store ${fmt(hubCpuPercent)}/${fmt(storeCpuPercent)}%` +
      (problems.length ? `; PROBLEMS: ${problems.join('; ')}` : ''),
  );
  return result;
}
