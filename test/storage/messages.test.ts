import type { Participant } from '../../src/contracts/schemas.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { at, conformance, storedChatMessage, together, type Stores } from '../support/storage-conformance.js';

const CUST: Participant = { id: 'u1', name: 'Ann', role: 'customer' };
const AGENT: Participant = { id: 'a1', name: 'Bob', role: 'agent' };

const message = (conversationId: string, seq: number, over: Partial<StoredMessage> = {}): StoredMessage => storedChatMessage(conversationId, seq, CUST, over);

const seqs = (list: StoredMessage[]): number[] => list.map((m) => m.seq);

/** c1: seq 1..10; 3 is a whisper, 5 is only for a1 (and its sender), 7 an activity message; c2: seq 1..3. */
async function history(s: Stores): Promise<void> {
  const msgs: StoredMessage[] = [];
  for (let seq = 1; seq <= 10; seq += 1) {
    const over: Partial<StoredMessage> = {};
    if (seq === 3) Object.assign(over, { tag: 'whisper', from: AGENT, audience: ['*'] });
    if (seq === 5) Object.assign(over, { from: AGENT, audience: ['a1', 'u9'] });
    if (seq === 7) Object.assign(over, { type: 'ActivityMessage', activityType: 'participantJoined', text: undefined });
    msgs.push(message('c1', seq, over));
  }
  for (let seq = 1; seq <= 3; seq += 1) msgs.push(message('c2', seq));
  await s.messages.insertBatch(msgs);
}

conformance('messages and the connector outbox', 'conform_messages', [
  {
    name: 'insertBatch: stored, duplicate clientMessageId, seq conflict and our own retried insert, one unordered batch',
    expected: [{ status: 'stored' }, { status: 'duplicate', existing: 'c1-m1' }, { status: 'seqConflict' }, { status: 'stored' }, { status: 'stored' }],
    async run(s) {
      await s.messages.insertBatch([message('c1', 1, { dedupKey: 'u1:cm1' }), message('c1', 2)]);
      const outcomes = await s.messages.insertBatch([
        message('c1', 3),
        message('c1', 4, { id: 'dup', dedupKey: 'u1:cm1' }),
        message('c1', 2, { id: 'other-seq2' }),
        message('c1', 2),
        message('c1', 5),
      ]);
      return outcomes.map((o) => (o.status === 'duplicate' ? { status: o.status, existing: o.existing.id } : o));
    },
  },
  {
    name: 'history pages: latestVisible and visibleAfter by seq, audience and whispers',
    expected: {
      latestStaff: [7, 8, 9, 10],
      latestCustomer: [8, 9, 10],
      beforeCustomer: [2, 4, 6],
      beforeAgent: [3, 4, 5, 6],
      afterCustomer: [4, 6, 7],
      afterAgent: [3, 4, 5],
      afterEnd: [],
      other: [1, 2, 3],
    },
    async run(s) {
      await history(s);
      return {
        latestStaff: seqs(await s.messages.latestVisible('c1', 'a1', true, 4)),
        latestCustomer: seqs(await s.messages.latestVisible('c1', 'u1', false, 3)),
        beforeCustomer: seqs(await s.messages.latestVisible('c1', 'u1', false, 3, 7)),
        beforeAgent: seqs(await s.messages.latestVisible('c1', 'a1', true, 4, 7)),
        afterCustomer: seqs(await s.messages.visibleAfter('c1', 'u1', false, 2, 3)),
        afterAgent: seqs(await s.messages.visibleAfter('c1', 'a1', true, 2, 3)),
        afterEnd: seqs(await s.messages.visibleAfter('c1', 'a1', true, 10, 3)),
        other: seqs(await s.messages.visibleAfter('c2', 'u1', false, 0, 10)),
      };
    },
  },
  {
    name: 'messages.list cursors: chatMessages after/before a seq and counts per viewer',
    expected: {
      allAfter: [1, 2, 3, 4],
      allBefore: [8, 9, 10],
      customerAfter: [4, 6, 8],
      customerBefore: [2, 4],
      staffAfter: [4, 5, 6, 8],
      counts: { all: 9, customer: 7, staff: 9, stranger: 7, none: 0 },
    },
    async run(s) {
      await history(s);
      const customer = { id: 'u1', staff: false } as const;
      const staff = { id: 'a1', staff: true } as const;
      return {
        allAfter: seqs(await s.messages.chatMessages('c1', 'all', { afterSeq: 0 }, 4)),
        allBefore: seqs(await s.messages.chatMessages('c1', 'all', { beforeSeq: 11 }, 3)),
        customerAfter: seqs(await s.messages.chatMessages('c1', customer, { afterSeq: 3 }, 3)),
        customerBefore: seqs(await s.messages.chatMessages('c1', customer, { beforeSeq: 5 }, 2)),
        staffAfter: seqs(await s.messages.chatMessages('c1', staff, { afterSeq: 3 }, 4)),
        counts: {
          all: await s.messages.countChatMessages('c1', 'all'),
          customer: await s.messages.countChatMessages('c1', customer),
          staff: await s.messages.countChatMessages('c1', staff),
          stranger: await s.messages.countChatMessages('c1', { id: 'zz', staff: false }),
          none: await s.messages.countChatMessages('c9', 'all'),
        },
      };
    },
  },
  {
    name: 'outbox: pending by connector in (conversation, seq) order; apply settles; transition only from the given states',
    expected: {
      pending: ['c1-m1', 'c1-m2', 'c2-m1'],
      afterApply: ['c1-m2', 'c2-m1'],
      settled: { state: 'DELIVERED', metadata: { externalId: 'x-1' }, delivery: null },
      retried: { state: 'PENDING', metadata: { externalId: 'x-1', error: 'busy' }, delivery: { connector: 'sms', attempts: 2 } },
      wrongState: null,
      failed: { state: 'FAILED', metadata: { error: 'gone' }, delivery: null },
      suggestions: { suggestions: ['hi'] },
      otherConnector: ['c3-m1'],
    },
    async run(s) {
      const sms = { connector: 'sms', attempts: 0 };
      await s.messages.insertBatch([
        message('c2', 1, { state: 'PENDING', delivery: sms }),
        message('c1', 2, { state: 'PENDING', delivery: sms }),
        message('c1', 1, { state: 'PENDING', delivery: sms }),
        message('c1', 3),
        message('c3', 1, { state: 'PENDING', delivery: { connector: 'fb', attempts: 0 } }),
      ]);
      const pending = (await s.messages.pending('sms', 10)).map((m) => m.id);
      await s.messages.apply([{ id: 'c1-m1', state: 'DELIVERED', metadata: { externalId: 'x-1' }, delivery: null }]);
      const afterApply = (await s.messages.pending('sms', 10)).map((m) => m.id);
      const view = (m: StoredMessage | null) => (m ? { state: m.state, metadata: m.metadata, delivery: m.delivery ?? null } : null);
      const settled = view(await s.messages.findById('c1-m1'));
      const retried = view(await s.messages.transition({ id: 'c1-m1', state: 'PENDING', metadata: { error: 'busy' }, delivery: { connector: 'sms', attempts: 2 } }, ['DELIVERED']));
      const wrongState = view(await s.messages.transition({ id: 'c1-m2', state: 'FAILED', metadata: {}, delivery: null }, ['DELIVERED']));
      const failed = view(await s.messages.transition({ id: 'c2-m1', state: 'FAILED', metadata: { error: 'gone' }, delivery: null }, ['PENDING', 'DELIVERED']));
      const suggestions = (await s.messages.setMetadata('c1-m3', 'suggestions', ['hi']))?.metadata;
      return { pending, afterApply, settled, retried, wrongState, failed, suggestions, otherConnector: (await s.messages.pending('fb', 10)).map((m) => m.id) };
    },
  },
  {
    name: '20 concurrent transitions of one pending message: exactly one wins',
    expected: { won: 1, state: 'DELIVERED' },
    async run(s) {
      await s.messages.insertBatch([message('c1', 1, { state: 'PENDING', delivery: { connector: 'sms', attempts: 0 } })]);
      const r = await together(20, (i) => s.messages.transition({ id: 'c1-m1', state: 'DELIVERED', metadata: { externalId: `x${i}` }, delivery: null }, ['PENDING']));
      return { won: r.filter((m) => m !== null).length, state: (await s.messages.findById('c1-m1'))?.state };
    },
  },
  {
    name: 'event markers: marked messages and conversations older than a time, cleared by id',
    expected: { messages: ['c1-m1', 'c1-m2'], afterClear: ['c1-m2'], conversations: ['k1'], conversationsAfterClear: [] },
    async run(s) {
      await s.messages.insertBatch([
        message('c1', 1, { pendingWebhook: 'e1' }),
        message('c1', 2, { pendingWebhook: 'e2' }),
        message('c1', 3),
        message('c1', 9, { pendingWebhook: 'e9' }),
      ]);
      const base = {
        channel: 'web',
        subject: '',
        customer: { id: 'u1', firstName: 'A', custom: {} },
        participants: [],
        joined: [],
        createdAt: at(0),
        queuedAt: null,
        agent: null,
        previousAgentId: null,
        routingRev: 0,
        resumeEpoch: 0,
      };
      await s.conversations.create({ ...base, id: 'k1', requestId: 'r1', openKey: 'k1', status: 'ended', endedAt: at(1), pendingWebhook: { id: 'ev', endedBy: CUST } });
      await s.conversations.create({ ...base, id: 'k2', requestId: 'r2', openKey: 'k2', status: 'ended', endedAt: at(1) });
      await s.conversations.create({ ...base, id: 'k3', requestId: 'r3', openKey: 'k3', status: 'ended', endedAt: at(20), pendingWebhook: { id: 'ev3', endedBy: CUST } });
      const ids = (list: Array<{ id: string }>) => list.map((x) => x.id);
      const messages = ids(await s.markers.markedMessages(at(5), 10));
      await s.markers.clearMessages(['c1-m1']);
      const afterClear = ids(await s.markers.markedMessages(at(5), 10));
      const conversations = ids(await s.markers.markedConversations(at(5), 10));
      await s.markers.clearConversations(['k1']);
      return { messages, afterClear, conversations, conversationsAfterClear: ids(await s.markers.markedConversations(at(5), 10)) };
    },
  },
  {
    // One bulk write of more single-document updates than FerretDB has PostgreSQL connections
    // (50): FerretDB keeps each statement's query open until the command ends, so this hung the
    // local store until tools/docstore sent by-_id statements as multi-document ones.
    name: 'a bulk write of 120 single-document updates (delivery acks, cleared markers) completes',
    expected: { owed: 0, marked: 0, settled: 120 },
    async run(s) {
      const n = 120;
      await s.messages.insertBatch(
        Array.from({ length: n }, (_, i) => message('c9', i + 1, { state: 'PENDING', delivery: { connector: 'sms', attempts: 0 }, pendingWebhook: `e${i}` })),
      );
      const ids = Array.from({ length: n }, (_, i) => `c9-m${i + 1}`);
      await s.messages.apply(ids.map((id) => ({ id, state: 'DELIVERED' as const, metadata: {}, delivery: null })));
      await s.markers.clearMessages(ids);
      const settled = (await Promise.all(ids.map((id) => s.messages.findById(id)))).filter((m) => m?.state === 'DELIVERED').length;
      return { owed: (await s.messages.pending('sms', 200)).length, marked: (await s.markers.markedMessages(at(10_000), 200)).length, settled };
    },
  },
]);
