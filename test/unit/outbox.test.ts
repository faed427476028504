import { expect } from 'chai';
import type { DeliveryAck } from '../../src/contracts/schemas.js';
import { DeliveryStateWriter } from '../../src/domain/delivery-state.writer.js';
import { OutboxService, type ConnectorLink } from '../../src/domain/outbox.service.js';
import type { DeliveryChange, OutboxStore } from '../../src/domain/ports.js';
import type { MessageState, StoredMessage, WireMessage } from '../../src/domain/types.js';
import { createLogger } from '../../src/logger.js';
import { storedMessage } from './fixtures.js';

const log = createLogger('silent');

/** The outbox port over a Map, with switchable failures: the unit under test is the dispatcher. */
class MemoryOutbox implements OutboxStore {
  readonly messages = new Map<string, StoredMessage>();
  failApply = 0;
  pendingDelayMs = 0;
  readonly batches: number[] = [];
  /** Fails the first write of at least this many changes (a batch too big for the store). */
  failOnceAtSize = 0;
  applyDelayMs = 0;

  /** pending() answers what the store held when it was asked (a read that took its time), not when it answers. */
  readAtCall = false;

  async pending(connector: string, limit: number): Promise<StoredMessage[]> {
    const atCall = [...this.messages.values()];
    if (this.pendingDelayMs) await new Promise((r) => setTimeout(r, this.pendingDelayMs));
    return (this.readAtCall ? atCall : [...this.messages.values()])
      .filter((m) => m.delivery?.connector === connector)
      .sort((a, b) => a.conversationId.localeCompare(b.conversationId) || a.seq - b.seq)
      .slice(0, limit);
  }
  async apply(changes: DeliveryChange[]): Promise<void> {
    this.batches.push(changes.length);
    if (this.applyDelayMs) await new Promise((r) => setTimeout(r, this.applyDelayMs));
    if (this.failOnceAtSize && changes.length >= this.failOnceAtSize) {
      this.failOnceAtSize = 0;
      throw new Error('batch too big');
    }
    if (this.failApply > 0) {
      this.failApply -= 1;
      throw new Error('store down');
    }
    for (const c of changes) this.change(c);
  }
  async transition(change: DeliveryChange, from: MessageState[]): Promise<StoredMessage | null> {
    const m = this.messages.get(change.id);
    if (!m || !from.includes(m.state)) return null;
    return this.change(change);
  }
  async findById(id: string): Promise<StoredMessage | null> {
    return this.messages.get(id) ?? null;
  }
  private change(c: DeliveryChange): StoredMessage {
    const m = this.messages.get(c.id);
    if (!m) throw new Error(`no message ${c.id}`);
    const metadata = { ...m.metadata };
    for (const [k, v] of Object.entries(c.metadata)) if (v === null) delete metadata[k];
    else metadata[k] = v;
    const updated = { ...m, state: c.state, metadata, delivery: c.delivery ?? undefined };
    this.messages.set(c.id, updated);
    return updated;
  }
}

/** A pool member whose answers the test scripts; `held` keeps messages unanswered until released. */
class ScriptedLink implements ConnectorLink {
  readonly received: WireMessage[] = [];
  inFlight = 0;
  maxInFlight = 0;
  answer: (m: WireMessage) => DeliveryAck | 'silence' | 'hold' = () => ({ ok: true, externalId: 'x' });
  private readonly held: Array<() => void> = [];
  private readonly waiters: Array<(err: Error) => void> = [];

  constructor(
    readonly id: string,
    readonly connector = 'sms',
  ) {}

  send(message: WireMessage, timeoutMs: number): Promise<DeliveryAck> {
    this.received.push(message);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const answer = this.answer(message);
    return new Promise<DeliveryAck>((resolve, reject) => {
      const done = (): void => {
        this.inFlight -= 1;
      };
      this.waiters.push((err) => {
        done();
        reject(err);
      });
      if (answer === 'silence') {
        setTimeout(() => {
          done();
          reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
        }, timeoutMs);
      } else if (answer === 'hold') {
        this.held.push(() => {
          done();
          resolve({ ok: true, externalId: 'held' });
        });
      } else {
        setImmediate(() => {
          done();
          resolve(answer);
        });
      }
    });
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }

  disconnect(): void {
    for (const w of this.waiters.splice(0)) w(Object.assign(new Error('gone'), { code: 'DISCONNECTED' }));
  }
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await wait(5);
  }
}

describe('OutboxService (unit)', () => {
  let store: MemoryOutbox;
  let outbox: OutboxService;
  let settled: StoredMessage[];
  const options = { ackTimeoutMs: 50, retryBaseMs: 10, retryMaxMs: 40, maxAttempts: 3, maxInFlightPerSocket: 4, loadBatch: 500, maxUnsettled: 1000 };

  function owed(conversationId: string): StoredMessage {
    const m = storedMessage(conversationId, { channel: 'sms', state: 'PENDING', delivery: { connector: 'sms', attempts: 0 } });
    store.messages.set(m.id, m);
    return m;
  }

  beforeEach(() => {
    store = new MemoryOutbox();
    outbox = new OutboxService(store, new DeliveryStateWriter(store, log), options, log);
    settled = [];
    outbox.observe((m) => settled.push(m));
  });
  afterEach(() => outbox.close());

  it('sends one message per conversation at a time, in seq order, conversations in parallel', async () => {
    const link = new ScriptedLink('a');
    link.answer = () => 'hold';
    outbox.addLink(link);
    const c1 = [owed('c1'), owed('c1'), owed('c1')];
    const c2 = [owed('c2'), owed('c2')];
    for (const m of [...c1, ...c2]) outbox.enqueue(m);
    await until(() => link.received.length === 2);
    expect(link.received.map((m) => m.id)).to.have.members([c1[0]?.id, c2[0]?.id]);
    for (let i = 0; i < 3; i += 1) {
      link.release();
      await wait(10);
    }
    await until(() => settled.length === 5);
    expect(link.received.filter((m) => m.conversationId === 'c1').map((m) => m.id)).to.deep.equal(c1.map((m) => m.id));
    expect([...store.messages.values()].every((m) => m.state === 'DELIVERED' && m.delivery === undefined)).to.equal(true);
  });

  it('spreads conversations over the pool, least loaded first, within maxInFlightPerSocket', async () => {
    const a = new ScriptedLink('a');
    const b = new ScriptedLink('b');
    a.answer = () => 'hold';
    b.answer = () => 'hold';
    outbox.addLink(a);
    outbox.addLink(b);
    for (let i = 0; i < 12; i += 1) outbox.enqueue(owed(`conv${i}`));
    await until(() => a.received.length + b.received.length === 8);
    expect(a.received.length).to.equal(4);
    expect(b.received.length).to.equal(4);
    a.release();
    await until(() => a.received.length + b.received.length === 12);
    b.release();
    a.release();
    await until(() => settled.length === 12);
    expect(Math.max(a.maxInFlight, b.maxInFlight)).to.equal(4);
  });

  it('loads what waited in the store when the first member registers; nothing overtakes it meanwhile', async () => {
    const waiting = [owed('c1'), owed('c1')];
    store.pendingDelayMs = 30;
    const link = new ScriptedLink('a');
    outbox.addLink(link);
    const fresh = owed('c1');
    outbox.enqueue(fresh);
    await until(() => settled.length === 3);
    expect(link.received.map((m) => m.id)).to.deep.equal([...waiting, fresh].map((m) => m.id));
  });

  it('with a cluster lease: a slow read that saw a message still pending while its answer was being stored does not hand it over again', async () => {
    outbox.close();
    const leases = { acquire: async () => true, release: async () => undefined };
    outbox = new OutboxService(store, new DeliveryStateWriter(store, log), options, log, {
      leases,
      owner: 'me',
      leaseMs: 60_000,
      pollMs: 60_000,
      wake: () => undefined,
      released: () => undefined,
    });
    const x = owed('c1');
    // Writes take 40 ms, reads 120 ms and answer what the store held when they began.
    store.applyDelayMs = 40;
    store.readAtCall = true;
    store.pendingDelayMs = 120;
    const link = new ScriptedLink('a');
    outbox.addLink(link);
    await until(() => link.received.length === 1);
    // x's answer is being stored; a peer's hint starts a read that sees x pending and answers after the write.
    outbox.wakeFromPeer('sms');
    await until(() => store.messages.get(x.id)?.state === 'DELIVERED');
    await wait(250);
    expect(link.received.map((m) => m.id)).to.deep.equal([x.id]);
  });

  it('retries a silent member on another one, and fails after maxAttempts with the reason', async () => {
    const a = new ScriptedLink('a');
    const b = new ScriptedLink('b');
    a.answer = () => 'silence';
    b.answer = () => 'silence';
    outbox.addLink(a);
    outbox.addLink(b);
    const m = owed('c1');
    outbox.enqueue(m);
    await until(() => settled.length === 1, 2000);
    expect(settled[0]?.state).to.equal('FAILED');
    expect(String(settled[0]?.metadata['error'])).to.match(/gave up after 3 attempts: no acknowledgement within 50 ms/);
    // Alternating members: never the same one twice in a row while another exists.
    const order = [...a.received.map(() => 'a'), ...b.received.map(() => 'b')];
    expect(order).to.have.length(3);
    expect(a.received.length).to.be.within(1, 2);
    expect(b.received.length).to.be.within(1, 2);
  });

  it('hands a disconnected member’s message to another at once without using an attempt', async () => {
    const a = new ScriptedLink('a');
    a.answer = () => 'hold';
    outbox.addLink(a);
    const m = owed('c1');
    outbox.enqueue(m);
    await until(() => a.received.length === 1);
    const b = new ScriptedLink('b');
    outbox.addLink(b);
    outbox.removeLink(a);
    a.disconnect();
    await until(() => settled.length === 1);
    expect(settled[0]).to.include({ state: 'DELIVERED' });
    expect(b.received.map((x) => x.id)).to.deep.equal([m.id]);
    expect(store.messages.get(m.id)?.delivery).to.equal(undefined);
  });

  it('maps acks: PENDING keeps the state without a ticket, a refusal FAILS, retryable backs off', async () => {
    const link = new ScriptedLink('a');
    let calls = 0;
    link.answer = (msg) => {
      if (msg.conversationId === 'accepted') return { ok: true, externalId: 'SM1', state: 'PENDING' };
      if (msg.conversationId === 'refused') return { ok: false, error: { message: 'invalid number' } };
      calls += 1;
      return calls < 2 ? { ok: false, error: { message: '503', retryable: true } } : { ok: true, externalId: 'late' };
    };
    outbox.addLink(link);
    for (const c of ['accepted', 'refused', 'flaky']) outbox.enqueue(owed(c));
    await until(() => settled.length === 3);
    const byConv = new Map(settled.map((m) => [m.conversationId, m]));
    expect(byConv.get('accepted')).to.include({ state: 'PENDING' });
    expect(byConv.get('accepted')?.metadata['externalId']).to.equal('SM1');
    expect(byConv.get('accepted')?.delivery).to.equal(undefined);
    expect(byConv.get('refused')?.metadata['error']).to.equal('invalid number');
    expect(byConv.get('flaky')?.metadata['externalId']).to.equal('late');
    expect(outbox.stats).to.include({ delivered: 1, accepted: 1, failed: 1, retries: 1 });
  });

  it('announces a state change only after it is stored, retrying the store until it works', async () => {
    store.failApply = 2;
    const link = new ScriptedLink('a');
    outbox.addLink(link);
    const m = owed('c1');
    outbox.enqueue(m);
    await until(() => link.received.length === 1);
    await wait(100);
    expect(settled).to.have.length(0);
    await until(() => settled.length === 1, 5000);
    expect(store.messages.get(m.id)?.state).to.equal('DELIVERED');
  });

  it('keeps messages in the store when no member is registered', async () => {
    const m = owed('c1');
    outbox.enqueue(m);
    await wait(20);
    expect(settled).to.have.length(0);
    const link = new ScriptedLink('a');
    outbox.addLink(link);
    await until(() => settled.length === 1);
    expect(link.received.map((x) => x.id)).to.deep.equal([m.id]);
  });

  it('pauses hand-overs while delivery states wait to be stored', async () => {
    outbox.close();
    outbox = new OutboxService(store, new DeliveryStateWriter(store, log), { ...options, maxUnsettled: 1 }, log);
    outbox.observe((m) => settled.push(m));
    store.failApply = 1;
    const link = new ScriptedLink('a');
    outbox.addLink(link);
    for (const m of [owed('c1'), owed('c1'), owed('c1')]) outbox.enqueue(m);
    await wait(200);
    // The first ack's state could not be stored yet: the channel does not run ahead of the store.
    expect(link.received).to.have.length(1);
    await until(() => settled.length === 3, 5000);
    expect(link.received).to.have.length(3);
  });
});

describe('DeliveryStateWriter (unit)', () => {
  it('writes in bounded batches and halves a batch that failed before retrying it', async () => {
    const store = new MemoryOutbox();
    const writer = new DeliveryStateWriter(store, log, 16);
    const written: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      const m = storedMessage('c', { state: 'PENDING' });
      store.messages.set(m.id, m);
      ids.push(m.id);
    }
    store.applyDelayMs = 10;
    store.failOnceAtSize = 16;
    for (const id of ids) writer.write({ id, state: 'DELIVERED', metadata: {}, delivery: null }, () => written.push(id));
    expect(writer.backlog).to.equal(40);
    await until(() => written.length === 40, 5000);
    expect(written).to.deep.equal(ids);
    // One change went first; the 39 queued meanwhile went 16 (refused), then 8, 16, 15.
    expect(store.batches).to.deep.equal([1, 16, 8, 16, 15]);
    expect(writer.backlog).to.equal(0);
    writer.close();
  });
});
