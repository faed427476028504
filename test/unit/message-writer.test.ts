import { expect } from 'chai';
import pino from 'pino';
import { HubError } from '../../src/contracts/errors.js';
import { MessageWriter } from '../../src/domain/message-writer.js';
import type { InsertOutcome, MessageStore } from '../../src/domain/ports.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { storedMessage } from './fixtures.js';

/** An in-memory MessageStore that enforces the same unique keys as the real indexes. */
class MemoryMessageStore implements MessageStore {
  readonly docs: StoredMessage[] = [];
  batches: number[] = [];
  delayMs = 2;
  /** Delays for the next batches, in order (then delayMs). */
  readonly delays: number[] = [];
  failNext = false;
  /** Store the next batch but answer as if the insert timed out (outcome unknown to the writer). */
  landButFailNext = false;
  /** Message ids whose first insert collides on seq, as if another process took it. */
  readonly collideOnce = new Set<string>();

  /** Messages with metadata.poison: 'doc' are refused one by one (like MongoDB's writeErrors); 'batch' fails the whole insert (like a driver encoding error). */
  async insertBatch(messages: StoredMessage[]): Promise<InsertOutcome[]> {
    await new Promise((resolve) => setTimeout(resolve, this.delays.shift() ?? this.delayMs));
    if (messages.some((m) => m.metadata['poison'] === 'batch')) throw new Error('cannot encode a document of the batch');
    if (this.failNext) {
      this.failNext = false;
      throw new HubError('UNAVAILABLE', 'down');
    }
    if (this.landButFailNext) {
      this.landButFailNext = false;
      this.docs.push(...messages);
      throw new HubError('UNAVAILABLE', 'the database did not answer in time');
    }
    this.batches.push(messages.length);
    return messages.map((m): InsertOutcome => {
      if (m.metadata['poison'] === 'doc') return { status: 'refused', reason: 'invalid key' };
      const dup = this.docs.find((d) => d.conversationId === m.conversationId && d.dedupKey === m.dedupKey);
      if (dup) return { status: 'duplicate', existing: dup };
      if (this.collideOnce.delete(m.id) || this.docs.some((d) => d.conversationId === m.conversationId && d.seq === m.seq)) {
        return { status: 'seqConflict' };
      }
      this.docs.push(m);
      return { status: 'stored' };
    });
  }

  async latestVisible(): Promise<StoredMessage[]> {
    return [];
  }

  async visibleAfter(): Promise<StoredMessage[]> {
    return [];
  }
}

/** A message as the writer receives it: the writer assigns seq. */
function message(conversationId: string, dedupKey?: string, metadata: Record<string, unknown> = {}): Omit<StoredMessage, 'seq'> {
  const { seq: _seq, ...rest } = storedMessage(conversationId, dedupKey ? { dedupKey, metadata } : { metadata });
  return rest;
}

async function refusal(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected a refusal');
}

describe('MessageWriter (unit)', () => {
  const log = pino({ level: 'silent' });

  it('gives strictly increasing seqs in acceptance order and announces in that order', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    const announced: number[] = [];
    const results = await Promise.all(Array.from({ length: 50 }, () => writer.write(message('a'), (s) => announced.push(s.seq))));
    const seqs = results.map((r) => r.seq);
    for (let i = 1; i < seqs.length; i += 1) expect(seqs[i]).to.be.greaterThan(seqs[i - 1]!);
    expect(announced).to.deep.equal(seqs);
    expect(results.map((r) => r.text)).to.deep.equal(results.map((r) => r.text).sort((x, y) => Number(x!.slice(1)) - Number(y!.slice(1))));
  });

  it('continues above earlier seqs after a restart without reading the store', async () => {
    const store = new MemoryMessageStore();
    const first = new MessageWriter(store, log);
    const before = await Promise.all(Array.from({ length: 200 }, () => first.write(message('r'))));
    await new Promise((resolve) => setTimeout(resolve, 2));
    const restarted = new MessageWriter(store, log);
    const after = await restarted.write(message('r'));
    expect(after.seq).to.be.greaterThan(Math.max(...before.map((m) => m.seq)));
  });

  it('announces batches in the order they were taken even when a later insert finishes first', async () => {
    const store = new MemoryMessageStore();
    store.delays.push(80, 5);
    const writer = new MessageWriter(store, log, { maxInFlight: 2 });
    const announced: number[] = [];
    const first = writer.write(message('p'), (s) => announced.push(s.seq));
    await new Promise((resolve) => setTimeout(resolve, 10)); // the first insert is in flight
    const second = writer.write(message('p'), (s) => announced.push(s.seq));
    const [a, b] = await Promise.all([first, second]);
    expect(store.batches).to.deep.equal([1, 1]);
    expect(announced).to.deep.equal([a.seq, b.seq]);
    expect(b.seq).to.be.greaterThan(a.seq);
  });

  it('groups messages of many conversations into few inserts', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    await Promise.all(Array.from({ length: 300 }, (_, i) => writer.write(message(`c${i % 30}`))));
    expect(store.docs).to.have.length(300);
    expect(store.batches.length).to.be.lessThan(10);
  });

  it('answers a duplicate dedupKey with the stored message and announces nothing', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    const first = await writer.write(message('d', 'p:client-1'));
    let announced = 0;
    const again = await writer.write(message('d', 'p:client-1'), () => (announced += 1));
    expect(again.id).to.equal(first.id);
    expect(announced).to.equal(0);
    expect(store.docs).to.have.length(1);
  });

  it('re-numbers a message whose seq another process took, keeping later messages after it', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    const a = message('e');
    store.collideOnce.add(a.id);
    const [storedA, storedB] = await Promise.all([writer.write(a), writer.write(message('e'))]);
    expect(store.docs.map((d) => d.id)).to.include(a.id);
    expect(storedA.seq).to.not.equal(storedB.seq);
  });

  it('rejects the whole batch when the store is down, and recovers afterwards with higher seqs', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    const ok = await writer.write(message('f'));
    store.failNext = true;
    expect((await refusal(writer.write(message('f')))).code).to.equal('UNAVAILABLE');
    const after = await writer.write(message('f'));
    expect(after.seq).to.be.greaterThan(ok.seq);
  });

  it('announces a message whose timed-out insert did land, once, when the client retries it', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    const announced: string[] = [];
    writer.observe((m) => announced.push(m.id));
    store.landButFailNext = true;
    const original = message('u', 'p:retry-me');
    expect((await refusal(writer.write(original))).code).to.equal('UNAVAILABLE');
    expect(announced).to.deep.equal([]);
    const retried = await writer.write(message('u', 'p:retry-me'));
    expect(retried.id).to.equal(original.id);
    expect(announced).to.deep.equal([original.id]);
    await writer.write(message('u', 'p:retry-me'));
    expect(announced, 'a second retry announces nothing').to.deep.equal([original.id]);
    expect(store.docs).to.have.length(1);
  });

  for (const poison of ['doc', 'batch'] as const) {
    it(`gives each message of a batch its own outcome when the store refuses one (${poison === 'doc' ? 'per-document write error' : 'the whole insert fails'})`, async () => {
      const store = new MemoryMessageStore();
      const writer = new MessageWriter(store, log);
      const announced: string[] = [];
      writer.observe((m) => announced.push(m.id));
      const good = Array.from({ length: 9 }, (_, i) => message(`s${i}`));
      const bad = message('s-bad', undefined, { poison });
      const outcomes = await Promise.all(
        [...good.slice(0, 4), bad, ...good.slice(4)].map((m) => writer.write(m).then(() => 'ok', (err: HubError) => err.code)),
      );
      expect(outcomes).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'BAD_REQUEST', 'ok', 'ok', 'ok', 'ok', 'ok']);
      expect(announced.sort()).to.deep.equal(good.map((m) => m.id).sort());
      expect(store.docs.map((d) => d.id)).to.not.include(bad.id);
      expect(writer.stats.refused).to.equal(1);
    });
  }

  it('refuses at once what its measured insert rate could not store in time', async () => {
    const store = new MemoryMessageStore();
    store.delayMs = 100; // 100 messages per 100 ms = about 1,000 messages per second
    const writer = new MessageWriter(store, log, { maxBatch: 100, maxWaitMs: 400 });
    await Promise.all(Array.from({ length: 100 }, () => writer.write(message('w'))));
    const first = writer.write(message('w')); // in flight
    await new Promise((resolve) => setTimeout(resolve, 10));
    const started = Date.now();
    const attempts = Array.from({ length: 400 }, () => writer.write(message('w')).then(() => 'ok', (err: HubError) => err.code));
    const outcomes = await Promise.all(attempts);
    await first;
    // About 200 ms of queue (half of maxWaitMs) is admitted; the rest is refused without waiting.
    const ok = outcomes.filter((o) => o === 'ok').length;
    expect(ok).to.be.within(150, 260);
    expect(outcomes.filter((o) => o === 'UNAVAILABLE')).to.have.length(400 - ok);
    expect(Date.now() - started).to.be.lessThan(1000);
  });

  it('sheds load instead of queueing without bound, and never acks a message that waited too long', async () => {
    const store = new MemoryMessageStore();
    store.delayMs = 150;
    const writer = new MessageWriter(store, log, { maxQueued: 5, maxWaitMs: 100, maxInFlight: 1 });
    const first = writer.write(message('g'));
    await new Promise((resolve) => setTimeout(resolve, 10)); // first is now in flight
    const waiting = Array.from({ length: 5 }, () => writer.write(message('g')));
    const overflow = writer.write(message('g'));
    expect((await refusal(overflow)).message).to.include('overloaded');
    await first;
    for (const w of waiting) expect((await refusal(w)).code).to.equal('UNAVAILABLE');
    expect(store.docs).to.have.length(1);
    expect(writer.stats.shed).to.equal(6);
  });
});
