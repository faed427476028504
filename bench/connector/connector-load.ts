/* How the agents load the connector: timed sends, ack counts, and waiting for the DELIVERED updates. */
import { performance } from 'node:perf_hooks';
import type { BenchParticipant, BenchSocket, OutgoingChatMessage } from '../common/bench-events.js';
import { progress, sleep } from '../common/client-util.js';
import type { DeliveryRecorder } from './connector-recorder.js';
import { fmt } from '../common/stats.js';

const ACK_TIMEOUT_MS = 10_000;
/** Nothing settled for this long while messages are owed: the run is stuck, not slow (the hub's database timeout is 4 s). */
const STALL_MS = 8000;
const TEXT = 'Your order #48213 has shipped and arrives tomorrow between 9 and 12.';

/** One connector conversation and the agent who writes in it. */
export interface Lane {
  conversationId: string;
  agent: BenchSocket;
  from: BenchParticipant;
  /** Throughput run: messages sent and not yet settled. */
  outstanding: number;
  /** Throughput run: messages of this lane's share not yet sent. */
  remaining: number;
}

export interface SendCounts {
  attempted: number;
  sent: number;
  refused: number;
  refusedCodes: Record<string, number>;
  timedOut: number;
  skipped: number;
  awaitingAck: number;
  firstSendAt: number;
  lastSendAt: number;
}

export const newCounts = (): SendCounts => ({
  attempted: 0,
  sent: 0,
  refused: 0,
  refusedCodes: {},
  timedOut: 0,
  skipped: 0,
  awaitingAck: 0,
  firstSendAt: 0,
  lastSendAt: 0,
});

/** One agent message into `lane`; `after(retry)` runs when it was not stored (retry: the hub refused it, so it may be sent again). */
export function send(lane: Lane, rec: DeliveryRecorder, counts: SendCounts, after?: (ok: boolean, retry: boolean) => void): void {
  const now = performance.now();
  const payload: OutgoingChatMessage = { conversationId: lane.conversationId, type: 'ChatMessage', from: lane.from, text: TEXT, metadata: { t: now, p: rec.id } };
  counts.attempted += 1;
  counts.awaitingAck += 1;
  if (counts.firstSendAt === 0) counts.firstSendAt = now;
  counts.lastSendAt = now;
  lane.agent.timeout(ACK_TIMEOUT_MS).emit('sendMessage', payload, (err, res) => {
    counts.awaitingAck -= 1;
    if (err) {
      counts.timedOut += 1;
      after?.(false, false);
    } else if (res.ok) {
      counts.sent += 1;
      after?.(true, false);
    } else {
      counts.refused += 1;
      const code = res.error?.code ?? 'UNKNOWN';
      counts.refusedCodes[code] = (counts.refusedCodes[code] ?? 0) + 1;
      after?.(false, true);
    }
  });
}

/** A progress line every 2 s while a run goes on; returns the function that stops it. */
export function ticker(label: string, rec: DeliveryRecorder, counts: SendCounts, total: number): () => void {
  let last = 0;
  const timer = setInterval(() => {
    const perSec = (rec.delivered - last) / 2;
    last = rec.delivered;
    progress(
      `connector ${label}: sent ${fmt(counts.sent)}/${fmt(total)}, handed over ${fmt(rec.handedOver)}, ` +
        `DELIVERED ${fmt(rec.delivered)} (${fmt(perSec)}/s over the last 2 s), failed ${rec.failed}`,
    );
  }, 2000);
  return () => clearInterval(timer);
}

/** A description of the stall when nothing was settled for STALL_MS while messages are owed, else undefined. */
export function stallOf(rec: DeliveryRecorder, counts: SendCounts): string | undefined {
  const owed = counts.sent - rec.settledCount;
  const quietSince = Math.max(rec.lastSettledAt, rec.startedAt);
  if (owed <= 0 || performance.now() - quietSince < STALL_MS) return undefined;
  return `no DELIVERED/FAILED update for ${STALL_MS / 1000} s with ${fmt(owed)} messages owed (${fmt(rec.handedOver)} handed over): run ended early`;
}

/** Waits until every sent message is settled and every ack is in, until `deadline`, or until the run stalls (returned). */
export async function drain(rec: DeliveryRecorder, counts: SendCounts, deadline: number): Promise<string | undefined> {
  while (performance.now() < deadline && (counts.awaitingAck > 0 || rec.settledCount < counts.sent)) {
    const stalled = stallOf(rec, counts);
    if (stalled) return stalled;
    await sleep(50);
  }
  return undefined;
}

/** Open loop: `total` messages at `rate` msg/s, round robin over the lanes; never more than 100 ms of debt caught up. */
export async function offer(lanes: readonly Lane[], rec: DeliveryRecorder, counts: SendCounts, rate: number, total: number): Promise<void> {
  const start = performance.now();
  const maxDebt = Math.max(1, Math.ceil(rate / 10));
  let scheduled = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      if (due - scheduled > maxDebt) {
        counts.skipped += due - scheduled - maxDebt;
        scheduled = due - maxDebt;
      }
      for (; scheduled < due; scheduled += 1) send(lanes[scheduled % lanes.length] as Lane, rec, counts);
      if (scheduled >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
}

/**
 * Closed loop: each lane keeps `window` messages not yet settled until its share of `total` is
 * sent; ends when all are settled, at `deadline`, or when the run stalls (returned).
 */
export async function saturate(
  lanes: readonly Lane[],
  rec: DeliveryRecorder,
  counts: SendCounts,
  window: number,
  total: number,
  deadline: number,
): Promise<string | undefined> {
  const byId = new Map(lanes.map((lane) => [lane.conversationId, lane]));
  lanes.forEach((lane, i) => {
    lane.outstanding = 0;
    lane.remaining = Math.floor(total / lanes.length) + (i < total % lanes.length ? 1 : 0);
  });
  let running = true;
  const pump = (lane: Lane): void => {
    while (running && lane.outstanding < window && lane.remaining > 0) {
      lane.remaining -= 1;
      lane.outstanding += 1;
      send(lane, rec, counts, (ok, retry) => {
        if (ok) return;
        lane.outstanding = Math.max(0, lane.outstanding - 1);
        if (retry) lane.remaining += 1;
        setTimeout(() => pump(lane), 50);
      });
    }
  };
  rec.onSettled = (conversationId) => {
    const lane = byId.get(conversationId);
    if (!lane) return;
    lane.outstanding = Math.max(0, lane.outstanding - 1);
    pump(lane);
  };
  for (const lane of lanes) pump(lane);
  let stalled: string | undefined;
  while (performance.now() < deadline && (lanes.some((l) => l.remaining > 0) || counts.awaitingAck > 0 || rec.settledCount < counts.sent)) {
    stalled = stallOf(rec, counts);
    if (stalled) break;
    await sleep(50);
  }
  running = false;
  rec.onSettled = undefined;
  return stalled;
}
