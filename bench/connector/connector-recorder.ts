import { performance } from 'node:perf_hooks';
import type { HubMessage } from '@chat-hub/connector-sdk/protocol';
import type { UpdatedMessage } from '../common/bench-events.js';

/**
 * One run of the connector stage: which messages the connector's handler received and which
 * DELIVERED/FAILED updates the agents saw, each timed from the agent's send (metadata.t, the
 * bench's own performance.now(): agents and connectors live in this process, so one clock).
 */
export class DeliveryRecorder {
  readonly handlerLatencies: number[] = [];
  readonly deliveredLatencies: number[] = [];
  /** DELIVERED updates per whole second since `startedAt`. */
  readonly perSecond: number[] = [];
  private readonly handled = new Set<string>();
  private readonly settled = new Set<string>();
  /** Hand-overs of a message the handler had already received (the hub retried it). */
  handedAgain = 0;
  delivered = 0;
  failed = 0;
  lastSettledAt = 0;
  /** Called once per message that reached DELIVERED or FAILED (closed-loop senders refill here). */
  onSettled: ((conversationId: string) => void) | undefined;

  constructor(
    readonly id: number,
    readonly startedAt: number,
  ) {}

  get handedOver(): number {
    return this.handled.size;
  }

  get settledCount(): number {
    return this.delivered + this.failed;
  }

  handover(messageId: string, latencyMs: number): void {
    if (this.handled.has(messageId)) {
      this.handedAgain += 1;
      return;
    }
    this.handled.add(messageId);
    this.handlerLatencies.push(latencyMs);
  }

  update(message: UpdatedMessage, latencyMs: number, now: number): void {
    if (this.settled.has(message.id)) return;
    this.settled.add(message.id);
    this.lastSettledAt = now;
    if (message.state === 'DELIVERED') {
      this.delivered += 1;
      this.deliveredLatencies.push(latencyMs);
      const second = Math.max(0, Math.floor((now - this.startedAt) / 1000));
      while (this.perSecond.length <= second) this.perSecond.push(0);
      this.perSecond[second] = (this.perSecond[second] ?? 0) + 1;
    } else {
      this.failed += 1;
    }
    this.onSettled?.(message.conversationId);
  }
}

/** Routes the pool's hand-overs and the agents' updates to the run in progress, by the run id in metadata.p. */
export class DeliveryRouter {
  current: DeliveryRecorder | undefined;
  /** Hand-overs and updates of no current run (e.g. a late one from the previous run). */
  stray = 0;
  /** Hand-overs whose seq was lower than one already handed over in the same conversation: channel order broken. */
  outOfOrder = 0;
  private readonly lastSeq = new Map<string, number>();

  /** From the connectors' handler. */
  handover(message: HubMessage): void {
    const now = performance.now();
    if (typeof message.seq === 'number') {
      const last = this.lastSeq.get(message.conversationId) ?? 0;
      if (message.seq < last) this.outOfOrder += 1;
      else this.lastSeq.set(message.conversationId, message.seq);
    }
    const sentAt = this.sentAt(message.metadata);
    if (sentAt === undefined || !this.current) this.stray += 1;
    else this.current.handover(message.id, now - sentAt);
  }

  /** From the agents' messageUpdated; only final states count. */
  update(message: UpdatedMessage): void {
    if (message.state !== 'DELIVERED' && message.state !== 'FAILED') return;
    const now = performance.now();
    const sentAt = this.sentAt(message.metadata);
    if (sentAt === undefined || !this.current) this.stray += 1;
    else this.current.update(message, now - sentAt, now);
  }

  private sentAt(metadata: { t?: unknown; p?: unknown } | Record<string, unknown> | undefined): number | undefined {
    const t = metadata?.['t'];
    const p = metadata?.['p'];
    return typeof t === 'number' && typeof p === 'number' && p === this.current?.id ? t : undefined;
  }
}
