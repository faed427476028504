import { expect } from 'chai';
import pino from 'pino';
import { HubError } from '../../src/contracts/errors.js';
import { MessageWriter } from '../../src/domain/message-writer.js';
import type { InsertOutcome, MessageStore } from '../../src/domain/ports.js';
import type { StoredMessage } from '../../src/domain/types.js';

/** An in-memory MessageStore that enforces the same unique keys as the real indexes. */
class MemoryMessageStore implements MessageStore {
  readonly docs: StoredMessage[] = [];
  batches: number[] = [];
  failNext = false;
  /** Seqs another process "already took", per conversation. */
  readonly foreign = new Map<string, Set<number>>();

  async insertBatch(messages: StoredMessage[]): Promise<InsertOutcome[]> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.failNext) {
      this.failNext = false;
      throw new HubError('UNAVAILABLE', 'down');
    }
    this.batches.push(messages.length);
    return messages.map((m): InsertOutcome => {
      const dup = this.docs.find((d) => d.conversationId === m.conversationId && d.dedupKey === m.dedupKey);
      if (dup) return { status: 'duplicate', existing: dup };
      if (this.foreign.get(m.conversationId)?.has(m.seq) || this.docs.some((d) => d.conversationId === m.conversationId && d.seq === m.seq)) {
        return { status: 'seqConflict' };
      }
      this.docs.push(m);
      return { status: 'stored' };
    });
  }

  async latestSeq(conversationId: string): Promise<number> {
    const seqs = [...this.docs.filter((d) => d.conversationId === conversationId).map((d) => d.seq), ...(this.foreign.get(conversationId) ?? [])];
    return seqs.length ? Math.max(...seqs) : 0;
  }

  async latestVisible(): Promise<StoredMessage[]> {
    return [];
  }
}

let n = 0;
function message(conversationId: string, dedupKey?: string): Omit<StoredMessage, 'seq'> {
  n += 1;
  const id = `m${n}`;
  return {
    id,
    conversationId,
    type: 'ChatMessage',
    from: { id: 'p', name: 'P' },
    to: [],
    audience: ['*'],
    text: id,
    refId: '',
    tag: '',
    channel: 'web',
    state: 'DELIVERED',
    metadata: {},
    timestamp: new Date(),
    dedupKey: dedupKey ?? id,
  };
}

describe('MessageWriter (unit)', () => {
  const log = pino({ level: 'silent' });

  it('numbers each conversation from its stored maximum and announces in seq order', async () => {
    const store = new MemoryMessageStore();
    store.foreign.set('a', new Set([1, 2, 3]));
    const writer = new MessageWriter(store, log);
    const announced: number[] = [];
    const results = await Promise.all(Array.from({ length: 20 }, () => writer.write(message('a'), (s) => announced.push(s.seq))));
    expect(results.map((r) => r.seq)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 4));
    expect(announced).to.deep.equal(results.map((r) => r.seq));
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

  it('re-numbers a message whose seq another process took', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    await writer.write(message('e'));
    store.foreign.set('e', new Set([2, 3]));
    const next = await writer.write(message('e'));
    expect(next.seq).to.equal(4);
  });

  it('rejects the whole batch when the store is down, and recovers afterwards', async () => {
    const store = new MemoryMessageStore();
    const writer = new MessageWriter(store, log);
    await writer.write(message('f'));
    store.failNext = true;
    let error: unknown;
    try {
      await writer.write(message('f'));
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(HubError);
    expect((error as HubError).code).to.equal('UNAVAILABLE');
    const after = await writer.write(message('f'));
    expect(after.seq).to.equal(2);
  });
});
