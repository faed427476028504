import type { AgentRecord } from '../../src/domain/ports.js';
import { conformance, together, type Stores } from '../support/storage-conformance.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number): Date => new Date(T0 + s * 1000);

const profile = (id: string, maxChats = 2, skills: string[] = ['sales']) => ({ id, name: `Agent ${id}`, skills, maxChats });

/** The fields routing decides on (connected() stamps idleSince/stateSince with the clock on insert). */
function slots(a: AgentRecord | null): unknown {
  return a ? { id: a.id, state: a.state, active: a.active, maxChats: a.maxChats, processId: a.processId } : null;
}

async function ready(s: Stores, id: string, maxChats = 2, skills?: string[], processId = 'p1'): Promise<void> {
  await s.agents.connected(profile(id, maxChats, skills), processId);
  await s.agents.setState(id, 'ready', at(1));
}

conformance('agents', 'conform_agents', [
  {
    name: 'connected upserts the profile; 10 concurrent first connects store one agent',
    expected: { first: { id: 'a1', state: 'notReady', active: [], maxChats: 2, processId: 'p1' }, updated: ['Agent a1', 3, 'p2', 'notReady'], count: 1 },
    async run(s) {
      const first = await s.agents.connected(profile('a1'), 'p1');
      const updated = await s.agents.connected({ ...profile('a1', 3) }, 'p2');
      await together(10, (i) => s.agents.connected(profile('z1'), `p${i}`));
      const all = await s.agents.list({}, 'y', 10);
      return { first: slots(first), updated: [updated.name, updated.maxChats, updated.processId, updated.state], count: all.length };
    },
  },
  {
    name: 'setState: only a change touches the agent (a repeated ready keeps its idle clock); activeNow sets the slots',
    expected: { readyAt: '2026-01-01T00:00:01.000Z', stillAt: '2026-01-01T00:00:01.000Z', away: 'notReady', back: [['x1', 'x2'], '2026-01-01T00:00:05.000Z'], missing: null },
    async run(s) {
      await s.agents.connected(profile('a1'), 'p1');
      const r1 = await s.agents.setState('a1', 'ready', at(1));
      const r2 = await s.agents.setState('a1', 'ready', at(2));
      const away = await s.agents.setState('a1', 'notReady', at(3));
      const back = await s.agents.setState('a1', 'ready', at(5), ['x1', 'x2']);
      return {
        readyAt: r1?.idleSince,
        stillAt: r2?.idleSince,
        away: away?.state,
        back: back ? [back.active, back.idleSince] : null,
        missing: await s.agents.setState('nope', 'ready', at(1)),
      };
    },
  },
  {
    name: 'reserve: the duplicate guard (a conversation already in active) and the capacity check, with and without force',
    expected: {
      c1: ['c1'],
      c1again: null,
      c2: ['c1', 'c2'],
      c3full: null,
      c2forcedAgain: null,
      c1forcedAgain: null,
      c3forced: ['c1', 'c2', 'c3'],
      notReady: null,
    },
    async run(s) {
      await ready(s, 'a1', 2);
      const act = (r: AgentRecord | null) => (r ? r.active : null);
      const c1 = act(await s.agents.reserve('a1', 'c1', at(2), false));
      const c1again = act(await s.agents.reserve('a1', 'c1', at(2), false));
      const c2 = act(await s.agents.reserve('a1', 'c2', at(2), false));
      const c3full = act(await s.agents.reserve('a1', 'c3', at(2), false));
      const c2forcedAgain = act(await s.agents.reserve('a1', 'c2', at(2), true));
      const c1forcedAgain = act(await s.agents.reserve('a1', 'c1', at(2), true));
      const c3forced = act(await s.agents.reserve('a1', 'c3', at(2), true));
      await s.agents.connected(profile('b1'), 'p1');
      const notReady = act(await s.agents.reserve('b1', 'c9', at(2), false));
      return { c1, c1again, c2, c3full, c2forcedAgain, c1forcedAgain, c3forced, notReady };
    },
  },
  {
    name: '20 concurrent reserves of one conversation for one agent: reserved once',
    expected: { won: 1, active: ['c1'] },
    async run(s) {
      await ready(s, 'a1', 50);
      const r = await together(20, () => s.agents.reserve('a1', 'c1', at(2), false));
      return { won: r.filter((x) => x !== null).length, active: (await s.agents.findById('a1'))?.active };
    },
  },
  {
    name: '20 concurrent reserves of different conversations for an agent with 5 slots: exactly 5',
    expected: { won: 5, active: 5 },
    async run(s) {
      await ready(s, 'a1', 5);
      const r = await together(20, (i) => s.agents.reserve('a1', `c${i}`, at(2), false));
      return { won: r.filter((x) => x !== null).length, active: (await s.agents.findById('a1'))?.active.length };
    },
  },
  {
    name: 'release frees a slot once; a slot can be taken again after it',
    expected: { released: ['c2'], again: null, retaken: ['c2', 'c1'] },
    async run(s) {
      await ready(s, 'a1', 2);
      await s.agents.reserve('a1', 'c1', at(2), false);
      await s.agents.reserve('a1', 'c2', at(2), false);
      const released = await s.agents.release('a1', 'c1');
      const again = await s.agents.release('a1', 'c1');
      const retaken = await s.agents.reserve('a1', 'c1', at(3), false);
      return { released: released?.active ?? null, again, retaken: retaken?.active ?? null };
    },
  },
  {
    name: 'presence: heartbeats, live processes, disconnected and gone only for the owning process',
    expected: { live: ['p1'], afterWrongDisconnect: 'p1', afterDisconnect: null, goneWrong: 'ready', gone: ['notReady', null] },
    async run(s) {
      await s.agents.heartbeat('p1', at(100));
      await s.agents.heartbeat('p2', at(5));
      await s.agents.heartbeat('p1', at(200));
      const live = await s.agents.liveProcesses(at(50));
      await ready(s, 'a1');
      await s.agents.disconnected('a1', 'p2');
      const afterWrongDisconnect = (await s.agents.findById('a1'))?.processId;
      await s.agents.disconnected('a1', 'p1');
      const afterDisconnect = (await s.agents.findById('a1'))?.processId;
      await ready(s, 'b1');
      await s.agents.gone('b1', 'p9', at(9));
      const goneWrong = (await s.agents.findById('b1'))?.state;
      await s.agents.gone('a1', 'p9', at(9));
      const a1 = await s.agents.findById('a1');
      return { live, afterWrongDisconnect, afterDisconnect, goneWrong, gone: [a1?.state, a1?.processId] };
    },
  },
  {
    name: 'readyWithSkill, list by state and skill in id pages, findMany',
    expected: { sales: ['a1', 'a3'], any: ['a1', 'a3', 'a4'], page: [['a1', 'a2'], ['a3', 'a4']], readyBilling: ['a4'], many: ['a1', 'a4'] },
    async run(s) {
      await ready(s, 'a1', 2, ['sales']);
      await s.agents.connected(profile('a2', 2, ['sales']), 'p1');
      await ready(s, 'a3', 2, ['support', 'sales']);
      await ready(s, 'a4', 2, ['billing']);
      await ready(s, 'a5', 2, ['sales']);
      await s.agents.disconnected('a5', 'p1');
      const sorted = (list: AgentRecord[]) => list.map((a) => a.id).sort();
      const p1 = await s.agents.list({}, undefined, 2);
      const p2 = await s.agents.list({}, p1[p1.length - 1]?.id, 2);
      return {
        sales: sorted(await s.agents.readyWithSkill('sales')),
        any: sorted(await s.agents.readyWithSkill('')),
        page: [p1.map((a) => a.id), p2.map((a) => a.id)],
        readyBilling: (await s.agents.list({ state: 'ready', skill: 'billing' }, undefined, 10)).map((a) => a.id),
        many: sorted(await s.agents.findMany(['a1', 'a4', 'zz'])),
      };
    },
  },
  {
    name: 'credentials: epochs start at 0; 10 concurrent first revocations count 10; revokedSince',
    expected: { before: 0, after: 10, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], since: [{ agentId: 'a1', epoch: 10 }], later: [] },
    async run(s) {
      const before = await s.credentials.epoch('a1');
      const values = await together(10, () => s.credentials.revoke('a1', at(5)));
      return {
        before,
        after: await s.credentials.epoch('a1'),
        values: values.sort((x, y) => x - y),
        since: await s.credentials.revokedSince(at(5)),
        later: await s.credentials.revokedSince(at(6)),
      };
    },
  },
]);
