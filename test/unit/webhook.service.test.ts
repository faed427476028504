import { expect } from 'chai';
import { HubError } from '../../src/contracts/errors.js';
import type { WebhookDue, WebhookEventRecord, WebhookRefusal, WebhookSender, WebhookSendResult, WebhookStore, OutgoingWebhook } from '../../src/domain/webhook.ports.js';
import { retryDelayMs, WebhookService, type WebhookOptions } from '../../src/domain/webhook.service.js';
import { createLogger } from '../../src/logger.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const OPTIONS: WebhookOptions = { timeoutMs: 1000, retryBaseMs: 20, retryMaxMs: 1000, maxAttempts: 3, pollMs: 50, concurrency: 8 };

/** The outbox port over Maps, with the same conditions as the MongoDB store. */
class MemoryWebhookStore implements WebhookStore {
  /** The outbox: pending events. */
  readonly events = new Map<string, WebhookEventRecord>();
  /** Settled events. */
  readonly archive = new Map<string, WebhookEventRecord>();
  readonly inserts: number[] = [];
  failInserts = 0;

  async insert(events: WebhookEventRecord[]): Promise<WebhookRefusal[]> {
    this.inserts.push(events.length);
    if (this.failInserts > 0) {
      this.failInserts -= 1;
      throw new HubError('UNAVAILABLE', 'store down');
    }
    for (const e of events) this.events.set(e.id, { ...e });
    return [];
  }
  async known(ids: string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.events.has(id) || this.archive.has(id)));
  }
  async pending(limit: number): Promise<WebhookDue[]> {
    return [...this.events.values()]
      .filter((e) => e.state === 'pending')
      .sort((a, b) => a.nextAt.getTime() - b.nextAt.getTime())
      .slice(0, limit)
      .map((e) => ({ id: e.id, nextAt: e.nextAt }));
  }
  async claim(id: string, now: Date, leaseUntil: Date): Promise<WebhookEventRecord | null> {
    const e = this.events.get(id);
    if (!e || e.state !== 'pending' || e.nextAt > now) return null;
    e.nextAt = leaseUntil;
    e.attempts += 1;
    return { ...e };
  }
  async delivered(event: WebhookEventRecord, at: Date): Promise<void> {
    this.archive.set(event.id, { ...event, state: 'delivered', deliveredAt: at, lastError: null });
    this.events.delete(event.id);
  }
  async retryAt(id: string, attempt: number, nextAt: Date, error: string): Promise<void> {
    const e = this.events.get(id);
    if (e?.state === 'pending' && e.attempts === attempt) Object.assign(e, { nextAt, lastError: error });
  }
  async giveUp(event: WebhookEventRecord, error: string): Promise<boolean> {
    const e = this.events.get(event.id);
    if (e?.state !== 'pending' || e.attempts !== event.attempts) return false;
    this.archive.set(e.id, { ...e, state: 'failed', lastError: error });
    this.events.delete(e.id);
    return true;
  }
  async release(id: string, attempt: number, now: Date): Promise<void> {
    const e = this.events.get(id);
    if (e?.state === 'pending' && e.attempts === attempt) Object.assign(e, { nextAt: now, attempts: attempt - 1 });
  }
}

/** A sender answering from a script; `hold` keeps attempts open until released or aborted. */
class ScriptedSender implements WebhookSender {
  readonly sent: OutgoingWebhook[] = [];
  answer: (event: OutgoingWebhook) => WebhookSendResult = () => ({ ok: true, status: 200 });
  hold = false;
  inFlight = 0;
  maxInFlight = 0;
  private readonly held: Array<() => void> = [];

  async send(event: OutgoingWebhook, signal: AbortSignal): Promise<WebhookSendResult> {
    this.sent.push(event);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) {
        const aborted = await new Promise<boolean>((resolve) => {
          this.held.push(() => resolve(false));
          signal.addEventListener('abort', () => resolve(true), { once: true });
        });
        if (aborted) return { ok: false, error: 'aborted' };
      }
      return this.answer(event);
    } finally {
      this.inFlight -= 1;
    }
  }
  release(): void {
    for (const go of this.held.splice(0)) go();
  }
}

/** Waits until `check` holds (the service works in the background), or fails after `ms`. */
async function eventually(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('WebhookService (unit)', () => {
  const services: WebhookService[] = [];
  let store: MemoryWebhookStore;
  let sender: ScriptedSender;
  const lines: string[] = [];

  function service(options: Partial<WebhookOptions> = {}): WebhookService {
    const s = new WebhookService(store, sender, { ...OPTIONS, ...options }, createLogger('info', { write: (l: string) => void lines.push(l) }));
    services.push(s);
    return s;
  }

  beforeEach(() => {
    store = new MemoryWebhookStore();
    sender = new ScriptedSender();
    lines.length = 0;
  });
  afterEach(async () => {
    sender.release();
    for (const s of services.splice(0)) await s.close();
  });

  it('retryDelayMs doubles from the base, stays under the cap, and jitters by at most 10 %', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, 1000, 60_000, () => 0))).to.deep.equal([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(20, 1000, 60_000, () => 0)).to.equal(60_000);
    expect(retryDelayMs(3, 1000, 60_000, () => 0.999)).to.be.within(3600, 4000);
    for (let i = 0; i < 100; i += 1) expect(retryDelayMs(30, 1000, 5000)).to.be.within(4500, 5000);
  });

  it('stores the events of one tick in one insert, each with a fresh uuid, and delivers each once', async () => {
    const s = service();
    for (let i = 0; i < 50; i += 1) s.emit('message.created', { n: i });
    expect(store.inserts, 'emit only queues').to.deep.equal([]);
    await eventually(() => sender.sent.length === 50, '50 sends');
    expect(store.inserts).to.deep.equal([50]);
    const ids = sender.sent.map((e) => e.id);
    expect(new Set(ids).size).to.equal(50);
    expect(ids.every((id) => UUID_V4.test(id))).to.equal(true);
    await eventually(() => store.events.size === 0 && store.archive.size === 50, 'all delivered and archived');
    expect([...store.archive.values()].every((e) => e.state === 'delivered' && e.deliveredAt instanceof Date)).to.equal(true);
    expect(s.stats).to.deep.include({ delivered: 50, retried: 0, failed: 0 });
    expect(sender.sent.every((e) => e.attempt === 1)).to.equal(true);
  });

  it('keeps at most `concurrency` attempts in flight', async () => {
    sender.hold = true;
    const s = service({ concurrency: 3 });
    for (let i = 0; i < 10; i += 1) s.emit('message.updated', { n: i });
    await eventually(() => sender.inFlight === 3, 'three attempts in flight');
    sender.hold = false;
    sender.release();
    await eventually(() => sender.sent.length === 10, 'all sent');
    expect(sender.maxInFlight).to.equal(3);
  });

  it('retries with the same id and growing delays, then gives up after maxAttempts with an error log', async () => {
    sender.answer = () => ({ ok: false, error: 'HTTP 500' });
    const s = service();
    s.emit('conversation.ended', { conversation_id: 'c1' });
    await eventually(() => s.stats.failed === 1, 'given up');
    expect(sender.sent.map((e) => e.attempt)).to.deep.equal([1, 2, 3]);
    expect(new Set(sender.sent.map((e) => e.id)).size).to.equal(1);
    expect(store.events.size, 'out of the outbox').to.equal(0);
    const [event] = [...store.archive.values()];
    expect(event).to.include({ state: 'failed', attempts: 3, lastError: 'HTTP 500' });
    expect(s.stats).to.deep.include({ retried: 2, failed: 1, delivered: 0 });
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'webhook event given up');
    expect(line).to.include({ level: 50, eventId: event!.id, type: 'conversation.ended', attempts: 3, lastError: 'HTTP 500' });
  });

  it('keeps events in memory while the outbox cannot be written, and stores them later', async () => {
    store.failInserts = 1;
    const s = service();
    s.emit('message.created', { n: 1 });
    await eventually(() => store.inserts.length === 1, 'the failed insert');
    expect(s.pending).to.equal(1);
    await eventually(() => sender.sent.length === 1, 'the event sent after the retry', 3000);
    expect(store.inserts).to.deep.equal([1, 1]);
  });

  it('sends events already in the store (earlier or other processes), each when it is due', async () => {
    const now = Date.now();
    const record = (id: string, nextAt: number): WebhookEventRecord => ({
      id,
      type: 'message.created',
      payload: {},
      createdAt: new Date(now),
      state: 'pending',
      attempts: 1,
      nextAt: new Date(nextAt),
      lastError: 'HTTP 502',
      deliveredAt: null,
    });
    store.events.set('due', record('due', now - 1000));
    store.events.set('later', record('later', now + 150));
    service().start();
    await eventually(() => sender.sent.length === 1, 'the due event');
    expect(sender.sent[0]).to.include({ id: 'due', attempt: 2 });
    await eventually(() => sender.sent.length === 2, 'the later event once due');
    expect(Date.now() - now).to.be.at.least(150);
  });

  it('never sends an attempt whose claim it lost', async () => {
    // Every claim finds the attempt taken by another process.
    store.claim = async () => null;
    const s = service();
    s.emit('message.created', {});
    await eventually(() => store.inserts.length === 1, 'stored');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sender.sent).to.have.length(0);
    expect(store.events.size, 'still pending').to.equal(1);
    expect(s.stats).to.deep.include({ delivered: 0, retried: 0, failed: 0 });
  });

  it('stores what was emitted before close, and hands an interrupted attempt back uncounted', async () => {
    sender.hold = true;
    const s = service();
    s.emit('message.created', { n: 1 });
    await eventually(() => sender.inFlight === 1, 'an attempt in flight');
    s.emit('message.created', { n: 2 });
    await s.close();
    expect(store.events.size, 'both events are stored').to.equal(2);
    for (const e of store.events.values()) {
      expect(e.state).to.equal('pending');
      expect(e.attempts, 'the interrupted attempt does not count').to.equal(0);
      expect(e.nextAt.getTime()).to.be.at.most(Date.now());
    }
    s.emit('message.created', { n: 3 });
    expect(store.events.size, 'nothing after close').to.equal(2);
  });
});
