import type { Participant } from '../../src/contracts/schemas.js';
import type { Conversation } from '../../src/domain/types.js';
import { conformance, together, type Stores } from '../support/storage-conformance.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number): Date => new Date(T0 + s * 1000);

const customer = (id: string): Participant => ({ id, name: `Customer ${id}`, role: 'customer' });
const agent = (id: string): Participant => ({ id, name: `Agent ${id}`, role: 'agent' });
const A = agent('a1');
const B = agent('b1');
const C = agent('c1');

function conversation(id: string, over: Partial<Conversation> = {}): Conversation {
  return {
    id,
    channel: 'web',
    status: 'queued',
    subject: 'sales',
    customer: { id: `cust-${id}`, firstName: 'Ann', custom: {} },
    participants: [customer(`cust-${id}`)],
    joined: [],
    requestId: `init:test:${id}`,
    openKey: id,
    createdAt: at(0),
    endedAt: null,
    queuedAt: null,
    agent: null,
    previousAgentId: null,
    routingRev: 0,
    resumeEpoch: 0,
    ...over,
  };
}

/** The routing-relevant fields of a conversation (null stays null). */
function routing(c: Conversation | null): unknown {
  if (!c) return null;
  return {
    id: c.id,
    status: c.status,
    subject: c.subject,
    participants: c.participants,
    joined: c.joined,
    agent: c.agent,
    queuedAt: c.queuedAt,
    previousAgentId: c.previousAgentId,
    routingRev: c.routingRev,
  };
}

const ids = (list: Conversation[]): string[] => list.map((c) => c.id);
const pids = (c: Conversation | null): string[] => (c ? c.participants.map((p) => p.id) : []);

/** A conversation assigned to A, with the customer, A and the extra participants joined. */
async function active(s: Stores, id: string, extra: Participant[] = []): Promise<void> {
  await s.conversations.create(conversation(id));
  await s.conversations.enqueue(id, at(1));
  await s.conversations.claim(id, A);
  for (const p of extra) await s.conversations.recordJoin(id, p);
}

conformance('conversations', 'conform_conversations', [
  {
    name: 'create is idempotent by requestId; createOpen returns the open conversation of an openKey',
    expected: { first: [true, 'c1'], retry: [false, 'c1'], open1: [true, 'o1'], open2: [false, 'o1'], found: 'o1', endedFound: null, open3: [true, 'o3'] },
    async run(s) {
      const first = await s.conversations.create(conversation('c1'));
      const retry = await s.conversations.create(conversation('c2', { requestId: 'init:test:c1', openKey: 'c2' }));
      const open1 = await s.conversations.createOpen(conversation('o1', { openKey: 'conn:ref1', status: 'active' }));
      const open2 = await s.conversations.createOpen(conversation('o2', { openKey: 'conn:ref1', status: 'active' }));
      const found = await s.conversations.findOpen('conn:ref1');
      await s.conversations.end('o1', at(9));
      const endedFound = await s.conversations.findOpen('conn:ref1');
      const open3 = await s.conversations.createOpen(conversation('o3', { openKey: 'conn:ref1', status: 'active' }));
      return {
        first: [first.created, first.conversation.id],
        retry: [retry.created, retry.conversation.id],
        open1: [open1.created, open1.conversation.id],
        open2: [open2.created, open2.conversation.id],
        found: found?.id ?? null,
        endedFound: endedFound?.id ?? null,
        open3: [open3.created, open3.conversation.id],
      };
    },
  },
  {
    name: 'recordJoin: the first join is reported once and lists the participant once; unrecordJoin lets it count again',
    expected: { j1: [true, ['cust-c1', 'a1'], ['a1']], j2: [false, ['cust-c1', 'a1'], ['a1']], afterUnrecord: [true, ['cust-c1', 'a1'], ['a1']], missing: null },
    async run(s) {
      await s.conversations.create(conversation('c1'));
      const j1 = await s.conversations.recordJoin('c1', A);
      const j2 = await s.conversations.recordJoin('c1', A);
      await s.conversations.unrecordJoin('c1', A.id);
      const j3 = await s.conversations.recordJoin('c1', A);
      const stored = await s.conversations.findById('c1');
      const summary = (r: typeof j1) => (r ? [r.firstJoin, pids(r.conversation), r.conversation.joined] : null);
      return { j1: summary(j1), j2: summary(j2), afterUnrecord: j3 && stored ? [j3.firstJoin, pids(stored), stored.joined] : null, missing: await s.conversations.recordJoin('nope', A) };
    },
  },
  {
    name: '20 concurrent joins of one participant: one first join, the participant stored once',
    expected: { firstJoins: 1, participants: ['cust-c1', 'a1'], joined: ['a1'] },
    async run(s) {
      await s.conversations.create(conversation('c1'));
      const joins = await together(20, () => s.conversations.recordJoin('c1', A));
      const stored = await s.conversations.findById('c1');
      return { firstJoins: joins.filter((j) => j?.firstJoin).length, participants: pids(stored), joined: stored?.joined };
    },
  },
  {
    name: 'queue: enqueue only a waiting conversation; queued() in arrival order, paged by (queuedAt, id)',
    expected: { again: null, page1: ['q2', 'q1'], page2: ['q3', 'q4'], page3: [], notQueued: null },
    async run(s) {
      for (const id of ['q1', 'q2', 'q3', 'q4', 'q5']) await s.conversations.create(conversation(id));
      await s.conversations.enqueue('q2', at(1));
      await s.conversations.enqueue('q1', at(2));
      await s.conversations.enqueue('q4', at(3));
      await s.conversations.enqueue('q3', at(3));
      // q5 stays queued without queuedAt: not in the queue yet.
      const again = await s.conversations.enqueue('q1', at(7));
      await s.conversations.create(conversation('x1', { status: 'active' }));
      const notQueued = await s.conversations.enqueue('x1', at(1));
      const page1 = await s.conversations.queued(undefined, 2);
      const last = page1[page1.length - 1];
      const page2 = last ? await s.conversations.queued({ queuedAt: last.queuedAt as Date, id: last.id }, 2) : [];
      const last2 = page2[page2.length - 1];
      const page3 = last2 ? await s.conversations.queued({ queuedAt: last2.queuedAt as Date, id: last2.id }, 2) : [];
      return { again: again?.id ?? null, page1: ids(page1), page2: ids(page2), page3: ids(page3), notQueued };
    },
  },
  {
    name: 'claim: a queued conversation goes to one agent, who is listed once even after joining by hand',
    expected: {
      claimed: { id: 'c1', status: 'active', subject: 'sales', participants: [customer('cust-c1'), A], joined: ['a1'], agent: A, queuedAt: null, previousAgentId: null, routingRev: 1 },
      second: null,
      queue: [],
    },
    async run(s) {
      await s.conversations.create(conversation('c1'));
      await s.conversations.enqueue('c1', at(1));
      await s.conversations.recordJoin('c1', A);
      const claimed = await s.conversations.claim('c1', A);
      const second = await s.conversations.claim('c1', B);
      return { claimed: routing(claimed), second: routing(second), queue: ids(await s.conversations.queued(undefined, 10)) };
    },
  },
  {
    name: '20 concurrent claims of one queued conversation: exactly one winner, the only agent listed',
    expected: { winners: 1, agentListed: true, agents: 1, routingRev: 1 },
    async run(s) {
      await s.conversations.create(conversation('c1'));
      await s.conversations.enqueue('c1', at(1));
      const results = await together(20, (i) => s.conversations.claim('c1', agent(`g${i}`)));
      const won = results.filter((r) => r !== null);
      const stored = await s.conversations.findById('c1');
      const agents = (stored?.participants ?? []).filter((p) => p.role === 'agent');
      return { winners: won.length, agentListed: agents[0]?.id === stored?.agent?.id, agents: agents.length, routingRev: stored?.routingRev };
    },
  },
  {
    name: 'reassign (transfer to an agent): the old agent leaves participants and joined, the new one is listed once',
    expected: {
      moved: { id: 'c1', status: 'active', subject: 'sales', participants: [customer('cust-c1'), B], joined: ['cust-c1'], agent: B, queuedAt: null, previousAgentId: null, routingRev: 2 },
      stored: ['cust-c1', 'b1'],
      wrongFrom: null,
    },
    async run(s) {
      await active(s, 'c1', [customer('cust-c1')]);
      const moved = await s.conversations.reassign('c1', A.id, B);
      const wrongFrom = await s.conversations.reassign('c1', A.id, C);
      return { moved: routing(moved), stored: pids(await s.conversations.findById('c1')), wrongFrom: routing(wrongFrom) };
    },
  },
  {
    name: 'reassign to an agent who already joined: listed once',
    expected: { moved: ['cust-c1', 'b1'], stored: ['cust-c1', 'b1'], joined: ['b1'] },
    async run(s) {
      await active(s, 'c1', [B]);
      const moved = await s.conversations.reassign('c1', A.id, B);
      const stored = await s.conversations.findById('c1');
      return { moved: pids(moved), stored: pids(stored), joined: stored?.joined };
    },
  },
  {
    name: 'reassign racing joins of the new agent (10 rounds): the new agent is never listed twice',
    expected: Array.from({ length: 10 }, () => ['cust-r', 'b1']),
    async run(s) {
      const rounds: string[][] = [];
      for (let r = 0; r < 10; r += 1) {
        const id = `r${r}`;
        await s.conversations.create(conversation(id, { customer: { id: 'cust-r', firstName: 'R', custom: {} }, participants: [customer('cust-r')] }));
        await s.conversations.enqueue(id, at(1));
        await s.conversations.claim(id, A);
        await Promise.all([s.conversations.reassign(id, A.id, B), s.conversations.recordJoin(id, B), s.conversations.recordJoin(id, B)]);
        rounds.push(pids(await s.conversations.findById(id)));
      }
      return rounds;
    },
  },
  {
    name: 'requeue (agent leaves or transfers to a subject): back in the queue without the agent',
    expected: {
      queued: { id: 'c1', status: 'queued', subject: 'billing', participants: [customer('cust-c1')], joined: [], agent: null, queuedAt: '2026-01-01T00:00:00.000Z', previousAgentId: 'a1', routingRev: 2 },
      again: null,
      queue: ['c1'],
      reclaimed: ['cust-c1', 'b1'],
    },
    async run(s) {
      await active(s, 'c1');
      const queued = await s.conversations.requeue('c1', A.id, 'billing', at(0));
      const again = await s.conversations.requeue('c1', A.id, 'billing', at(0));
      const queue = ids(await s.conversations.queued(undefined, 10));
      const reclaimed = await s.conversations.claim('c1', B);
      return { queued: routing(queued), again: routing(again), queue, reclaimed: pids(reclaimed) };
    },
  },
  {
    name: 'removeParticipant: a joined non-agent leaves; the agent and a stranger cannot be removed',
    expected: { removed: [['cust-c1', 'a1'], ['a1'], 2], again: null, agentItself: null, stranger: null, stored: ['cust-c1', 'a1'] },
    async run(s) {
      await active(s, 'c1', [B]);
      const removed = await s.conversations.removeParticipant('c1', B.id);
      return {
        removed: removed ? [pids(removed), removed.joined, removed.routingRev] : null,
        again: routing(await s.conversations.removeParticipant('c1', B.id)),
        agentItself: routing(await s.conversations.removeParticipant('c1', A.id)),
        stranger: routing(await s.conversations.removeParticipant('c1', 'zz')),
        stored: pids(await s.conversations.findById('c1')),
      };
    },
  },
  {
    name: 'removeParticipant while waiting (no agent: agent is null)',
    expected: { removed: ['cust-c1'], stored: ['cust-c1'] },
    async run(s) {
      await s.conversations.create(conversation('c1'));
      await s.conversations.enqueue('c1', at(1));
      await s.conversations.recordJoin('c1', B);
      return { removed: pids(await s.conversations.removeParticipant('c1', B.id)), stored: pids(await s.conversations.findById('c1')) };
    },
  },
  {
    name: 'concurrent leaves and joins of different participants: none lost, none listed twice',
    expected: { removedOk: 5, participants: ['a1', 'cust-c1', 'n0', 'n1', 'n2', 'n3', 'n4'] },
    async run(s) {
      const old = Array.from({ length: 5 }, (_, i) => customer(`o${i}`));
      await active(s, 'c1', old);
      const fresh = Array.from({ length: 5 }, (_, i) => customer(`n${i}`));
      const [removed] = await Promise.all([
        together(5, (i) => s.conversations.removeParticipant('c1', `o${i}`)),
        together(5, (i) => s.conversations.recordJoin('c1', fresh[i] as Participant)),
      ]);
      return { removedOk: removed.filter((r) => r !== null).length, participants: pids(await s.conversations.findById('c1')).sort() };
    },
  },
  {
    name: '20 concurrent removals of one participant: exactly one succeeds',
    expected: { removedOk: 1, participants: ['cust-c1', 'a1'] },
    async run(s) {
      await active(s, 'c1', [B]);
      const removed = await together(20, () => s.conversations.removeParticipant('c1', B.id));
      return { removedOk: removed.filter((r) => r !== null).length, participants: pids(await s.conversations.findById('c1')) };
    },
  },
  {
    name: 'resubject only while waiting; revokeResume bumps the epoch; end only once',
    expected: { resubjected: ['billing', 1], notWaiting: null, epochs: [1, 2], ended: ['ended', '2026-01-01T00:00:09.000Z', 'ev1'], endedAgain: null },
    async run(s) {
      await s.conversations.create(conversation('c1'));
      await s.conversations.enqueue('c1', at(1));
      const r = await s.conversations.resubject('c1', 'billing');
      await active(s, 'c2');
      const notWaiting = await s.conversations.resubject('c2', 'billing');
      const e1 = await s.conversations.revokeResume('c1');
      const e2 = await s.conversations.revokeResume('c1');
      const ended = await s.conversations.end('c2', at(9), { id: 'ev1', endedBy: A });
      const endedAgain = await s.conversations.end('c2', at(10));
      return {
        resubjected: r ? [r.subject, r.routingRev] : null,
        notWaiting: routing(notWaiting),
        epochs: [e1?.resumeEpoch, e2?.resumeEpoch],
        ended: ended ? [ended.status, ended.endedAt, ended.pendingWebhook?.id] : null,
        endedAgain: routing(endedAgain),
      };
    },
  },
  {
    name: 'list: filters and (createdAt, id) pages; byContact newest first',
    expected: {
      all: [['l1', 'l2'], ['l3', 'l4'], ['l5']],
      active: ['l2', 'l4'],
      bySubject: ['l3'],
      byChannel: ['l5'],
      byRef: ['l1', 'l4'],
      byAgent: ['l2'],
      byContact: ['l5', 'l3'],
    },
    async run(s) {
      const mk = (id: string, sec: number, over: Partial<Conversation>) => s.conversations.create(conversation(id, { createdAt: at(sec), ...over }));
      await mk('l1', 1, { customer: { id: 'k1', firstName: 'K', refId: 'ref-1', custom: {} }, contactId: 'ct1' });
      await mk('l2', 2, { status: 'active', agent: A });
      await mk('l3', 2, { subject: 'billing', contactId: 'ct1' });
      await mk('l4', 3, { status: 'active', agent: B, customer: { id: 'k4', firstName: 'K', refId: 'ref-1', custom: {} } });
      await mk('l5', 4, { channel: 'sms', contactId: 'ct1' });
      const pages: string[][] = [];
      let after: { createdAt: Date; id: string } | undefined;
      for (;;) {
        const page = await s.conversations.list({}, after, 2);
        if (page.length === 0) break;
        pages.push(ids(page));
        const last = page[page.length - 1] as Conversation;
        after = { createdAt: last.createdAt, id: last.id };
      }
      return {
        all: pages,
        active: ids(await s.conversations.list({ status: 'active' }, undefined, 10)),
        bySubject: ids(await s.conversations.list({ subject: 'billing' }, undefined, 10)),
        byChannel: ids(await s.conversations.list({ channel: 'sms' }, undefined, 10)),
        byRef: ids(await s.conversations.list({ refId: 'ref-1' }, undefined, 10)),
        byAgent: ids(await s.conversations.list({ agentId: 'a1' }, undefined, 10)),
        byContact: ids(await s.conversations.byContact('ct1', 2)),
      };
    },
  },
]);
