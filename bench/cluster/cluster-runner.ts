import { openLoop } from '../common/open-loop.js';
import { performance } from 'node:perf_hooks';
import type { AckResponse, ArrivedMessage, BenchSocket, OutgoingChatMessage } from '../common/bench-events.js';
import { closeSockets, connectSocket, errorText, joinWithAck, progress, sleep } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { waitForQuiet } from '../common/quiet-wait.js';
import { fmt, summarize, type LatencySummary } from '../common/stats.js';
import { ArrivalRouter, runPhases, type CounterProbe, type Endpoint, type PhaseResult, type PhaseSpec } from '../load/load-runner.js';

export interface ClusterConfig {
  /** Hub process counts to run, e.g. [1, 2, 3]. */
  sizes: number[];
  pairs: number;
  /** Offered msg/s of the fixed-rate phase and of the failover run. */
  rate: number;
  /** Unacked messages per socket in the max phase. */
  window: number;
  seconds: number;
  /** Failover run: hub processes (one of them is killed), seconds of traffic, second of the kill. */
  failoverHubs: number;
  failoverSeconds: number;
  killAtSecond: number;
}

/** One hub process of the cluster as the runner sees it. */
export interface ClusterHub {
  target: HubTarget;
  url: string;
  pid: number;
}

export interface ClusterRun {
  hubs: number;
  /** Share of the deliveries whose sender and receiver are on different processes. */
  crossShare: number;
  pairs: number;
  phases: PhaseResult[];
}

export interface FailoverResult {
  hubs: number;
  pairs: number;
  /** Sockets that were on the killed process. */
  affected: number;
  /** Of those, how many sent again successfully on another process before the run ended. */
  recovered: number;
  /** From the kill to: the client seeing its disconnect, its socket connected to another process, its join on another process acked, its first send acked there. */
  disconnect: LatencySummary;
  connect: LatencySummary;
  rejoin: LatencySummary;
  resend: LatencySummary;
  /** sendMessage → ack of the clients that were not on the killed process, for sends in the 3 s after the kill. */
  othersAck: LatencySummary;
  /** Sends acked (distinct stored messages), and how many of them the other party saw (live or in the afterSeq catch-up). */
  acked: number;
  seenByPeer: number;
  /** Acked messages the other party never saw; of them, retries acked on another process while the other party stayed connected. */
  unseen: number;
  unseenRetriesPeerStayed: number;
  /** A few of them, described. */
  unseenSamples: string[];
  /** Live messageArrived repeats of one message id on one socket (the catch-up's overlap is merged by id, as clients do). */
  liveDuplicates: number;
  /** conversationInfo pages the rejoined clients read (a catch-up over more than 100 messages takes several). */
  catchUpPages: number;
  retried: number;
  failed: number;
  reconnectAttempts: number;
  arrivedPerSec: number;
  seconds: number;
  note: string;
}

const PAIR_SETUP_BUDGET_MS = 60_000;
const SETTLE_LIMIT_MS = 10_000;
const ACK_TIMEOUT_MS = 10_000;
const RECONNECT_TIMEOUT_MS = 3000;
const RECONNECT_GIVE_UP_MS = 30_000;
/** The catch-up asks from a little before the last seq seen (seq is in µs; docs/protocol.md, joinConversation). */
const CATCH_UP_OVERLAP_US = 5_000_000;
const OTHERS_WINDOW_MS = 3000;
const TEXT = 'Hello, I have a question about my last invoice, could you have a look please?';

/** Pair i: customer on hub i mod n, agent on hub (i+1) mod n, so with n ≥ 2 every delivery crosses processes. */
async function spreadPairs(hubs: readonly ClusterHub[], pairs: number, router: ArrivalRouter): Promise<Endpoint[]> {
  const targets = hubs.map((h) => h.target);
  const n = targets.length;
  const first = targets[0] as HubTarget;
  const started = performance.now();
  const endpoints = await first.createSpreadPairs(
    pairs,
    router,
    started + PAIR_SETUP_BUDGET_MS,
    (i) => [targets[i % n] as HubTarget, targets[(i + 1) % n] as HubTarget],
    targets,
  );
  progress(`cluster ×${n}: ${endpoints.length / 2} pairs joined in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (endpoints.length === 0) throw new Error(`cluster ×${n}: no pair could be set up`);
  return endpoints;
}

export function clusterPhases(config: ClusterConfig): PhaseSpec[] {
  const durationMs = config.seconds * 1000;
  return [
    { key: 'r', label: `fixed ${fmt(config.rate)} msg/s`, mode: 'rate', rate: config.rate, window: 0, durationMs, warmupMs: 1000 },
    { key: 'm', label: `max, ${config.window} in flight/socket`, mode: 'window', rate: 0, window: config.window, durationMs, warmupMs: 1000 },
  ];
}

/** The load phases through `hubs` (one cluster: same database, same Redis). */
export async function runClusterLoad(hubs: readonly ClusterHub[], config: ClusterConfig, storePid: number | undefined): Promise<ClusterRun> {
  const router = new ArrivalRouter();
  const endpoints = await spreadPairs(hubs, config.pairs, router);
  try {
    await sleep(1000); // join announcements pass
    // Every process's counters added up: the phases' notes and the settling wait cover the whole cluster.
    const probe: CounterProbe = async () => {
      const all = await Promise.all(hubs.map((h) => h.target.counters()));
      const sum: Record<string, number> = {};
      for (const counters of all) for (const [key, value] of Object.entries(counters)) sum[key] = (sum[key] ?? 0) + value;
      return sum;
    };
    const settle = (): Promise<string> => waitForQuiet(probe, storePid, SETTLE_LIMIT_MS);
    await settle();
    const [first, ...others] = hubs as [ClusterHub, ...ClusterHub[]];
    const phases = await runPhases(
      { target: `cluster ×${hubs.length}`, endpoints, router, serverPid: first.pid, moreServerPids: others.map((h) => h.pid), storePid, probe, settle },
      clusterPhases(config),
    );
    return { hubs: hubs.length, crossShare: hubs.length > 1 ? 1 : 0, pairs: endpoints.length / 2, phases };
  } finally {
    closeSockets(endpoints.map((e) => e.socket));
  }
}

/** One socket of the failover run: its current process, what it has seen, what it still owes. */
class FailoverClient {
  socket: BenchSocket;
  hub: number;
  ready = true;
  closing = false;
  lastSeq = 0;
  readonly pending = new Map<string, OutgoingChatMessage>();
  readonly acked = new Set<string>();
  /** Per acked id: its seq, when the ack came and on which hub (to describe a message the other party never saw). */
  readonly ackInfo = new Map<string, { seq: number; at: number; hub: number; retried: boolean }>();
  /** afterSeq of each rejoin. */
  readonly rejoins: number[] = [];
  /** Ids seen live or in a catch-up (what the client merges by id), and ids seen live only. */
  readonly seen = new Set<string>();
  readonly seenLive = new Set<string>();
  liveDuplicates = 0;
  catchUpPages = 0;
  affected = false;
  disconnectAt: number | undefined;
  connectAt: number | undefined;
  rejoinAt: number | undefined;
  resendAt: number | undefined;
  peer!: FailoverClient;

  constructor(readonly ep: Endpoint) {
    this.socket = ep.socket;
    this.hub = ep.hub ?? 0;
  }

  noteSeq(seq: unknown): void {
    if (typeof seq === 'number' && seq > this.lastSeq) this.lastSeq = seq;
  }

  listen(socket: BenchSocket): void {
    socket.on('messageArrived', (m: ArrivedMessage) => {
      if (m.type !== 'ChatMessage' || typeof m.id !== 'string') return;
      this.noteSeq(m.seq);
      if (this.seenLive.has(m.id)) this.liveDuplicates += 1;
      this.seenLive.add(m.id);
      this.seen.add(m.id);
    });
    socket.on('conversationInfo', (info) => {
      let last: number | undefined;
      for (const m of info.messages ?? []) {
        this.noteSeq(m.seq);
        if (typeof m.seq === 'number') last = m.seq;
        if (typeof m.id === 'string') this.seen.add(m.id);
      }
      this.catchUpPages += 1;
      // A catch-up is paged (at most 100 messages): join again from the last seq shown for the next page.
      if (info.hasMore && last !== undefined) {
        socket.emit('joinConversation', { conversationId: this.ep.conversationId, id: this.ep.from.id, name: this.ep.from.name, afterSeq: last }, () => undefined);
      }
    });
  }
}

/**
 * Traffic at `config.rate` msg/s through `config.failoverHubs` processes; at `killAtSecond` one
 * process is killed (`kill`, SIGKILL). Its clients notice the disconnect, connect to the next hub
 * URL of their list, rejoin with `afterSeq` and send their unacked messages again with the same
 * `clientMessageId`. Times are taken from the kill.
 */
export async function runFailover(hubs: readonly ClusterHub[], config: ClusterConfig, kill: (index: number) => void): Promise<FailoverResult> {
  const n = hubs.length;
  const victim = n - 1;
  const router = new ArrivalRouter();
  const endpoints = await spreadPairs(hubs, config.pairs, router);
  const clients = endpoints.map((ep) => new FailoverClient(ep));
  for (let i = 0; i + 1 < clients.length; i += 2) {
    (clients[i] as FailoverClient).peer = clients[i + 1] as FailoverClient;
    (clients[i + 1] as FailoverClient).peer = clients[i] as FailoverClient;
  }
  const counts = { retried: 0, failed: 0, attempts: 0, arrivedInWindow: 0 };
  const failCodes: Record<string, number> = {};
  let killAt: number | undefined;
  const othersAck: number[] = [];
  let sending = true;
  let seqNo = 0;

  const emit = (c: FailoverClient, payload: OutgoingChatMessage): void => {
    const socket = c.socket;
    socket.timeout(ACK_TIMEOUT_MS).emit('sendMessage', payload, (err: Error | null, res: AckResponse) => {
      if (err) return; // stays pending: sent again after a reconnect (a live socket's timeout is counted at the end)
      if (!res.ok || !res.message) {
        counts.failed += 1;
        const code = res.error?.code ?? 'UNKNOWN';
        failCodes[code] = (failCodes[code] ?? 0) + 1;
        c.pending.delete(payload.clientMessageId ?? '');
        return;
      }
      c.pending.delete(payload.clientMessageId ?? '');
      const now = performance.now();
      // The other clients' sends in the seconds after the kill: do they wait for the failover too?
      if (!c.affected && killAt !== undefined && payload.metadata.t >= killAt && payload.metadata.t < killAt + OTHERS_WINDOW_MS) othersAck.push(now - payload.metadata.t);
      c.acked.add(res.message.id);
      c.ackInfo.set(res.message.id, { seq: res.message.seq, at: now, hub: c.hub, retried: payload.metadata.p === -2 });
      c.noteSeq(res.message.seq);
      if (c.affected && c.resendAt === undefined && c.hub !== victim && killAt !== undefined) c.resendAt = performance.now();
    });
  };

  const reconnect = async (c: FailoverClient): Promise<void> => {
    const giveUp = performance.now() + RECONNECT_GIVE_UP_MS;
    let next = (c.hub + 1) % n;
    while (sending && performance.now() < giveUp) {
      counts.attempts += 1;
      const hub = hubs[next] as ClusterHub;
      try {
        const socket = await connectSocket(hub.url, { token: c.ep.token ?? '' }, RECONNECT_TIMEOUT_MS, (s) => c.listen(s));
        c.connectAt ??= performance.now();
        const afterSeq = Math.max(0, c.lastSeq - CATCH_UP_OVERLAP_US);
        c.rejoins.push(afterSeq);
        await joinWithAck(socket, (timed, ack) =>
          timed.emit('joinConversation', { conversationId: c.ep.conversationId, id: c.ep.from.id, name: c.ep.from.name, afterSeq }, ack),
        );
        c.socket = socket;
        c.hub = next;
        c.rejoinAt = performance.now();
        watch(c);
        c.ready = true;
        for (const payload of c.pending.values()) {
          counts.retried += 1;
          payload.metadata.p = -2;
          emit(c, payload);
        }
        return;
      } catch (err) {
        progress(`failover: ${c.ep.from.name} could not rejoin on hub ${next + 1}: ${errorText(err)}`);
        next = (next + 1) % n;
        await sleep(100);
      }
    }
  };

  const watch = (c: FailoverClient): void => {
    c.socket.once('disconnect', () => {
      if (c.closing) return;
      c.ready = false;
      c.disconnectAt ??= performance.now();
      void reconnect(c);
    });
  };
  for (const c of clients) {
    c.listen(c.socket);
    watch(c);
  }

  await sleep(1000);
  progress(`failover: ${clients.length / 2} pairs over ${n} hubs, ${fmt(config.rate)} msg/s for ${config.failoverSeconds} s; hub ${victim + 1} killed at ${config.killAtSecond} s…`);
  const start = performance.now();
  const end = start + config.failoverSeconds * 1000;
  const killTime = start + config.killAtSecond * 1000;
  const seenBefore = (): number => clients.reduce((sum, c) => sum + c.seenLive.size, 0);
  let seenAtWarm = 0;
  let rr = 0;
  await openLoop({
    start,
    end,
    rate: config.rate,
    tick: (now) => {
      if (killAt === undefined && now >= killTime) {
        for (const c of clients) c.affected = c.hub === victim;
        killAt = performance.now();
        kill(victim);
      }
      if (seenAtWarm === 0 && now >= start + 1000) seenAtWarm = seenBefore();
    },
    send: () => {
      // Round robin over the clients that are joined; one that is reconnecting is skipped this turn.
      for (let tries = 0; tries < clients.length; tries += 1) {
        const c = clients[rr % clients.length] as FailoverClient;
        rr += 1;
        if (!c.ready) continue;
        seqNo += 1;
        const payload: OutgoingChatMessage = {
          conversationId: c.ep.conversationId,
          type: 'ChatMessage',
          from: c.ep.from,
          text: TEXT,
          metadata: { t: performance.now(), p: -1 },
          clientMessageId: `fo-${seqNo}`,
        };
        c.pending.set(payload.clientMessageId ?? '', payload);
        emit(c, payload);
        break;
      }
    },
  });
  const seenAtEnd = seenBefore();
  sending = false;
  // Drain: acks and the last arrivals.
  const drainUntil = performance.now() + 12_000;
  const unseen = (c: FailoverClient): boolean => [...c.acked].some((id) => !c.peer.seen.has(id));
  while (performance.now() < drainUntil && clients.some((c) => c.pending.size > 0 || unseen(c))) await sleep(200);
  for (const c of clients) c.closing = true;
  closeSockets(clients.map((c) => c.socket));

  const affected = clients.filter((c) => c.affected);
  const since = (t: number | undefined): number | undefined => (t === undefined || killAt === undefined ? undefined : t - killAt);
  const times = (pick: (c: FailoverClient) => number | undefined): LatencySummary =>
    summarize(affected.map((c) => since(pick(c))).filter((v): v is number => v !== undefined));
  let acked = 0;
  let seenByPeer = 0;
  const unseenLines: string[] = [];
  let unseenRetriesPeerStayed = 0;
  for (const c of clients) {
    acked += c.acked.size;
    for (const id of c.acked) {
      if (c.peer.seen.has(id)) seenByPeer += 1;
      else {
        const info = c.ackInfo.get(id);
        if (info?.retried && !c.peer.affected) unseenRetriesPeerStayed += 1;
        unseenLines.push(
          `${id} from ${c.ep.from.name} (${c.affected ? 'on the killed hub' : `hub ${c.hub + 1}`}), seq ${info?.seq}, acked ${fmt(since(info?.at))} ms after the kill on hub ${(info?.hub ?? -1) + 1}` +
            `${info?.retried ? ' (a retry)' : ''}; the other party ${c.peer.affected ? `rejoined with afterSeq ${c.peer.rejoins.join(', ')}, last seq seen ${c.peer.lastSeq}` : 'stayed on its hub'}`,
        );
      }
    }
  }
  for (const line of unseenLines.slice(0, 5)) progress(`failover: acked but not seen by the other party: ${line}`);
  const stillPending = clients.reduce((sum, c) => sum + c.pending.size, 0);
  const codes = Object.entries(failCodes)
    .map(([code, k]) => `${code}:${k}`)
    .join(' ');
  const seconds = config.failoverSeconds - 1;
  const result: FailoverResult = {
    hubs: n,
    pairs: clients.length / 2,
    affected: affected.length,
    recovered: affected.filter((c) => c.resendAt !== undefined).length,
    disconnect: times((c) => c.disconnectAt),
    connect: times((c) => c.connectAt),
    rejoin: times((c) => c.rejoinAt),
    resend: times((c) => c.resendAt),
    othersAck: summarize(othersAck),
    acked,
    seenByPeer,
    unseen: unseenLines.length,
    unseenRetriesPeerStayed,
    unseenSamples: unseenLines.slice(0, 3),
    liveDuplicates: clients.reduce((sum, c) => sum + c.liveDuplicates, 0),
    catchUpPages: affected.reduce((sum, c) => sum + c.catchUpPages, 0),
    retried: counts.retried,
    failed: counts.failed + stillPending,
    reconnectAttempts: counts.attempts,
    arrivedPerSec: (seenAtEnd - seenAtWarm) / seconds,
    seconds: config.failoverSeconds,
    note: [codes ? `refused ${codes}` : '', stillPending ? `${stillPending} sends never acked` : ''].filter(Boolean).join('; '),
  };
  progress(
    `failover: ${result.recovered}/${result.affected} clients of the killed hub sending again; kill → acked send p50 ${fmt(result.resend.p50)} ms, max ${fmt(result.resend.max)} ms ` +
      `(disconnect seen p50 ${fmt(result.disconnect.p50)}, connected ${fmt(result.connect.p50)}, rejoined p50 ${fmt(result.rejoin.p50)}); the other clients' acks in the 3 s after the kill p50 ${fmt(result.othersAck.p50)}, max ${fmt(result.othersAck.max)} ms; acked ${fmt(acked)}, seen by the other party ${fmt(seenByPeer)}, ` +
      `retried ${fmt(result.retried)}, live duplicates ${result.liveDuplicates}${result.note ? `; ${result.note}` : ''}`,
  );
  return result;
}
