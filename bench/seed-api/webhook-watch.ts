import { performance } from 'node:perf_hooks';
import { progress, sleep } from '../common/client-util.js';
import type { HubTarget } from '../common/hub-target.js';
import { fmt } from '../common/stats.js';
import type { WebhookSink } from './webhook-sink.js';

const PROGRESS_MS = 2000;
const POLL_MS = 50;

/** A labelled sample of the hub's Prometheus text, e.g. hub_webhook_events_total{outcome="delivered"}. */
function labelled(text: string, name: string, label: string, value: string): number | undefined {
  const match = new RegExp(`^${name}\\{[^}]*${label}="${value}"[^}]*\\} ([0-9.eE+-]+)$`, 'm').exec(text);
  return match?.[1] ? Number(match[1]) : undefined;
}

/** hub_webhook_events_total by outcome (delivered, retried, failed, dropped). */
export async function webhookOutcomes(hub: HubTarget): Promise<Record<string, number>> {
  const text = (await hub.metrics()) ?? '';
  const out: Record<string, number> = {};
  for (const outcome of ['delivered', 'retried', 'failed', 'dropped']) {
    const v = labelled(text, 'hub_webhook_events_total', 'outcome', outcome);
    if (v !== undefined) out[outcome] = v;
  }
  return out;
}

async function outboxPending(hub: HubTarget): Promise<number | undefined> {
  const text = await hub.metrics();
  const match = text ? /^hub_webhook_outbox_pending ([0-9.eE+-]+)$/m.exec(text) : null;
  return match?.[1] ? Number(match[1]) : undefined;
}

/**
 * Follows one batch of sends to the sink: which message ids to expect, a progress line every
 * 2 s (sent, arrived, the hub's outbox) and the wait until every expected webhook came.
 */
export class WebhookWatch {
  /** Sends started so far (set by the sender). */
  sent = 0;
  readonly expected = new Set<string>();
  /** Highest hub_webhook_outbox_pending seen by the progress loop. */
  outboxPeak: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> = Promise.resolve();

  constructor(
    private readonly label: string,
    private readonly hub: HubTarget,
    private readonly sink: WebhookSink,
    private readonly total: number,
  ) {}

  /** A message the hub accepted: its message.created is due. */
  expect(messageId: string): void {
    this.expected.add(messageId);
  }

  get arrived(): number {
    return this.sink.arrivedOf(this.expected);
  }

  /** Starts the progress lines (until close()). */
  start(): void {
    this.timer = setInterval(() => {
      this.tick = this.tick.then(() => this.report());
    }, PROGRESS_MS);
  }

  private async report(): Promise<void> {
    const pending = await outboxPending(this.hub);
    if (pending !== undefined) this.outboxPeak = Math.max(this.outboxPeak ?? 0, pending);
    progress(`${this.label}: ${fmt(this.sent)}/${fmt(this.total)} sent, ${fmt(this.expected.size)} accepted, ${fmt(this.arrived)} webhooks arrived; hub outbox holds ${fmt(pending)}`);
  }

  /** Waits until every expected message.created arrived; a note when it stopped short (stall or deadline, performance.now() ms). */
  async untilArrived(stallMs: number, deadline: number): Promise<string> {
    let last = this.arrived;
    let changedAt = performance.now();
    while (last < this.expected.size) {
      const now = performance.now();
      if (now > deadline) return `${fmt(last)}/${fmt(this.expected.size)} webhooks when the time budget ran out`;
      if (now - changedAt > stallMs) return `${fmt(last)}/${fmt(this.expected.size)} webhooks, none new for ${stallMs / 1000} s`;
      await sleep(POLL_MS);
      const arrived = this.arrived;
      if (arrived !== last) {
        last = arrived;
        changedAt = performance.now();
      }
    }
    return '';
  }

  /** Stops the progress lines (a read of /metrics under way is awaited). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.tick;
  }
}
