import { openLoop } from '../common/open-loop.js';
import { performance } from 'node:perf_hooks';
import type { ArrivedMessage, BenchParticipant, BenchSocket, OutgoingChatMessage } from '../common/bench-events.js';
import { progress, sleep } from '../common/client-util.js';
import { CpuMeter, SelfCpuMeter } from '../common/proc-probe.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';

/** One side of a customer/agent pair: a joined socket and who it speaks as. */
export interface Endpoint {
  socket: BenchSocket;
  conversationId: string;
  from: BenchParticipant;
  inFlight: number;
  /** Cluster case: the index of the hub process the socket is on, and the token it connected with. */
  hub?: number;
  token?: string;
}

export interface PhaseSpec {
  key: string;
  label: string;
  mode: 'rate' | 'window';
  /** Total msg/s across all sockets (rate mode). */
  rate: number;
  /** Unacked messages per socket (window mode). */
  window: number;
  durationMs: number;
  warmupMs: number;
}

export interface PhaseResult {
  spec: PhaseSpec;
  sent: number;
  ackOk: number;
  ackFailed: number;
  ackTimedOut: number;
  failureCodes: Record<string, number>;
  /** Sends the client could not fit into the schedule (rate mode; the client itself was behind). */
  skipped: number;
  arrived: number;
  /** Acked ok but never seen by the other side within the drain time. */
  missing: number;
  achievedPerSec: number;
  latency: LatencySummary;
  serverCpuPercent: number | undefined;
  storeCpuPercent: number | undefined;
  clientCpuPercent: number;
  /** Server-side extras, e.g. the hub's average insert batch size. */
  notes: string;
}

/** Optional server counters read before and after a phase (the hub's /metrics). */
export type CounterProbe = () => Promise<Record<string, number>>;

/** Where a phase runs and what it watches. */
export interface PhaseContext {
  target: string;
  endpoints: readonly Endpoint[];
  router: ArrivalRouter;
  serverPid: number;
  /** Further server processes whose CPU adds to the server's (cluster case: the other hubs). */
  moreServerPids?: readonly number[] | undefined;
  /** The document store's process, when known (its CPU is reported per phase). */
  storePid: number | undefined;
  probe?: CounterProbe | undefined;
  /** Waits until the server has finished the work a phase left behind; returns a note for the log. */
  settle?: (() => Promise<string>) | undefined;
}

const ACK_TIMEOUT_MS = 10_000;
const DRAIN_LIMIT_MS = 12_000;
const TEXT = 'Hello, I have a question about my last invoice, could you have a look please?';

/** Collects arrivals of one phase: everything after warm-up counts towards rate and latency. */
class PhaseRecorder {
  arrivedTotal = 0;
  arrivedInWindow = 0;
  readonly latencies: number[] = [];

  constructor(
    readonly id: number,
    readonly windowStart: number,
    readonly windowEnd: number,
  ) {}

  arrive(sentAt: number, now: number): void {
    this.arrivedTotal += 1;
    if (now >= this.windowStart && now <= this.windowEnd) this.arrivedInWindow += 1;
    if (sentAt >= this.windowStart && sentAt <= this.windowEnd) this.latencies.push(now - sentAt);
  }
}

/** Routes every socket's messageArrived to the phase that is running; stale phases are ignored. */
export class ArrivalRouter {
  current: PhaseRecorder | undefined;
  stray = 0;

  attach(socket: BenchSocket): void {
    socket.on('messageArrived', (message) => this.handle(message));
  }

  private handle(message: ArrivedMessage): void {
    const now = performance.now();
    const t = message.metadata?.t;
    const p = message.metadata?.p;
    if (message.type !== 'ChatMessage' || typeof t !== 'number' || typeof p !== 'number') return;
    if (this.current && this.current.id === p) this.current.arrive(t, now);
    else this.stray += 1;
  }
}

let phaseCounter = 0;

/** Runs one phase over `endpoints` and returns its figures. */
export async function runPhase(ctx: PhaseContext, spec: PhaseSpec): Promise<PhaseResult> {
  const { target, endpoints, router, probe } = ctx;
  phaseCounter += 1;
  const start = performance.now();
  const end = start + spec.durationMs;
  const recorder = new PhaseRecorder(phaseCounter, start + spec.warmupMs, end);
  router.current = recorder;
  const counts = { sent: 0, ackOk: 0, ackFailed: 0, ackTimedOut: 0, skipped: 0 };
  const failureCodes: Record<string, number> = {};
  const before = probe ? await probe().catch(() => undefined) : undefined;
  const cpu = [ctx.serverPid, ...(ctx.moreServerPids ?? [])].map((pid) => new CpuMeter(pid));
  const storeCpu = new CpuMeter(ctx.storePid);
  const clientCpu = new SelfCpuMeter();
  let sending = true;

  const send = (ep: Endpoint, after?: (ok: boolean) => void): void => {
    const payload: OutgoingChatMessage = {
      conversationId: ep.conversationId,
      type: 'ChatMessage',
      from: ep.from,
      text: TEXT,
      metadata: { t: performance.now(), p: recorder.id },
    };
    ep.inFlight += 1;
    counts.sent += 1;
    ep.socket.timeout(ACK_TIMEOUT_MS).emit('sendMessage', payload, (err, res) => {
      ep.inFlight -= 1;
      let ok = false;
      if (err) counts.ackTimedOut += 1;
      else if (res.ok) {
        counts.ackOk += 1;
        ok = true;
      } else {
        counts.ackFailed += 1;
        const code = res.error?.code ?? 'UNKNOWN';
        failureCodes[code] = (failureCodes[code] ?? 0) + 1;
      }
      after?.(ok);
    });
  };

  if (spec.mode === 'rate') {
    // Open loop: send what the clock says is due, round robin.
    let rr = 0;
    counts.skipped += await openLoop({
      start,
      end,
      rate: spec.rate,
      send: () => {
        send(endpoints[rr % endpoints.length] as Endpoint);
        rr += 1;
      },
    });
  } else {
    // Closed loop: every socket keeps `window` messages unacked; a refused send backs off briefly.
    const pump = (ep: Endpoint): void => {
      while (sending && ep.inFlight < spec.window) {
        send(ep, (ok) => {
          if (!sending) return;
          if (ok) pump(ep);
          else setTimeout(() => pump(ep), 50);
        });
      }
    };
    for (const ep of endpoints) pump(ep);
    await sleep(spec.durationMs);
  }
  sending = false;
  const serverCpuPercent = cpu.reduce<number | undefined>((sum, meter) => {
    const p = meter.percent();
    return sum === undefined || p === undefined ? undefined : sum + p;
  }, 0);
  const storeCpuPercent = storeCpu.percent();
  const clientCpuPercent = clientCpu.percent();

  const drainDeadline = performance.now() + DRAIN_LIMIT_MS;
  while (performance.now() < drainDeadline) {
    const inFlight = endpoints.reduce((n, ep) => n + ep.inFlight, 0);
    if (inFlight === 0 && recorder.arrivedTotal >= counts.ackOk) break;
    await sleep(50);
  }
  const after = probe ? await probe().catch(() => undefined) : undefined;
  router.current = undefined;

  let notes = '';
  if (before && after) {
    const stored = (after['stored'] ?? 0) - (before['stored'] ?? 0);
    const batches = (after['batches'] ?? 0) - (before['batches'] ?? 0);
    if (batches > 0) notes = `${fmt(stored)} stored in ${fmt(batches)} batches (avg ${fmt(stored / batches, 1)}/batch)`;
  }
  const windowSeconds = (spec.durationMs - spec.warmupMs) / 1000;
  const result: PhaseResult = {
    spec,
    ...counts,
    failureCodes,
    arrived: recorder.arrivedTotal,
    missing: Math.max(0, counts.ackOk - recorder.arrivedTotal),
    achievedPerSec: recorder.arrivedInWindow / windowSeconds,
    latency: summarize(recorder.latencies),
    serverCpuPercent,
    storeCpuPercent,
    clientCpuPercent,
    notes,
  };
  progress(
    `${target} ${spec.key}) ${spec.label}: ${fmt(result.achievedPerSec)} msg/s arrived, p50 ${fmt(result.latency.p50, 2)} ms, ` +
      `p99 ${fmt(result.latency.p99, 2)} ms, sent ${fmt(result.sent)}, failed ${result.ackFailed + result.ackTimedOut}, ` +
      `missing ${result.missing}, CPU server/store/client ${fmt(serverCpuPercent)}/${fmt(storeCpuPercent)}/${fmt(clientCpuPercent)}%` +
      `${notes ? `, ${notes}` : ''}`,
  );
  return result;
}

/** Runs the phases one after the other; after each, the server may settle so phases do not bleed into each other. */
export async function runPhases(ctx: PhaseContext, specs: readonly PhaseSpec[]): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  for (const spec of specs) {
    progress(`${ctx.target} ${spec.key}) ${spec.label} for ${spec.durationMs / 1000} s over ${ctx.endpoints.length} sockets…`);
    const result = await runPhase(ctx, spec);
    results.push(result);
    if (ctx.settle) {
      const note = await ctx.settle();
      if (note) {
        progress(`${ctx.target} ${spec.key}) ${note}`);
        result.notes = result.notes ? `${result.notes}; ${note}` : note;
      }
    }
    await sleep(500);
  }
  return results;
}
