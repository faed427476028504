import { expect } from 'chai';
import { HubError } from '../../src/contracts/errors.js';
import { parseOrThrow, transferConversationSchema } from '../../src/contracts/schemas.js';
import { AgentPresence } from '../../src/domain/agent-presence.js';
import type { AgentProfile, AgentRecord } from '../../src/domain/ports.js';

const profile = (id: string, maxChats = 2): AgentProfile => ({ id, name: id, skills: [], maxChats });
const record = (id: string, idleSince: number, active: string[] = [], state: 'ready' | 'notReady' = 'ready', maxChats = 2): AgentRecord => ({
  id,
  name: id,
  skills: [],
  maxChats,
  state,
  active,
  idleSince: new Date(idleSince),
  stateSince: new Date(0),
  processId: 'p1',
});
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('AgentPresence (unit)', () => {
  let presence: AgentPresence;
  afterEach(() => presence.close());

  it('offers ready agents under maxChats, longest idle first', () => {
    presence = new AgentPresence(1000);
    for (const [id, idle, active, state] of [
      ['late', 300, [], 'ready'],
      ['early', 100, ['c1'], 'ready'],
      ['full', 50, ['c1', 'c2'], 'ready'],
      ['away', 10, [], 'notReady'],
    ] as const) {
      const { agent } = presence.attach(profile(id), `s-${id}`, async () => undefined);
      presence.adopt(agent, record(id, idle, [...active], state));
    }
    expect(presence.available().map((a) => a.profile.id)).to.deep.equal(['early', 'late']);
  });

  it('never offers an agent whose sockets all hold expired tokens; a fresh token counts again', () => {
    presence = new AgentPresence(1000);
    const { agent } = presence.attach(profile('lapsed'), 's1', async () => undefined, Date.now() - 1);
    presence.adopt(agent, record('lapsed', 100));
    expect(presence.available()).to.deep.equal([]);
    presence.attach(profile('lapsed'), 's2', async () => undefined, Date.now() + 60_000);
    expect(presence.available().map((a) => a.profile.id)).to.deep.equal(['lapsed']);
    presence.renew('lapsed', 's2', Date.now() - 1);
    expect(presence.available()).to.deep.equal([]);
  });

  it('counts tabs as one agent and starts the grace period only when the last tab goes', async () => {
    presence = new AgentPresence(60);
    const expired: string[] = [];
    const first = presence.attach(profile('a'), 's1', async () => undefined);
    const second = presence.attach(profile('a'), 's2', async () => undefined);
    expect(first.first).to.equal(true);
    expect(second.first).to.equal(false);
    expect(second.agent).to.equal(first.agent);
    presence.adopt(first.agent, record('a', 0));
    expect(presence.detach('a', 's1', (a) => expired.push(a.profile.id))).to.equal(undefined);
    expect(presence.detach('a', 's2', (a) => expired.push(a.profile.id))).to.equal(first.agent);
    // No socket: not offered anything during the grace period.
    expect(presence.available()).to.deep.equal([]);
    await sleep(20);
    // Back within the grace period: same agent, no expiry.
    expect(presence.attach(profile('a'), 's3', async () => undefined).agent).to.equal(first.agent);
    await sleep(100);
    expect(expired).to.deep.equal([]);
    expect(presence.available().map((a) => a.profile.id)).to.deep.equal(['a']);
    presence.detach('a', 's3', (a) => expired.push(a.profile.id));
    await sleep(100);
    expect(expired).to.deep.equal(['a']);
    expect(presence.get('a')).to.equal(undefined);
  });

  it('refreshes the record one socket after the other and counts every adopted write', async () => {
    presence = new AgentPresence(1000);
    const order: string[] = [];
    const slow = async (): Promise<void> => {
      await sleep(30);
      order.push('first');
    };
    const { agent } = presence.attach(profile('a'), 's1', slow);
    presence.attach(profile('a'), 's2', async () => void order.push('second'));
    await agent.connecting;
    expect(order).to.deep.equal(['first', 'second']);
    const before = agent.version;
    presence.adopt(agent, null);
    expect(agent.version).to.equal(before);
    presence.adopt(agent, record('a', 0));
    expect(agent.version).to.equal(before + 1);
  });
});

describe('transferConversation payload (unit)', () => {
  const id = '3f1c2b1a-1d2e-4f3a-8b4c-5d6e7f8a9b0c';
  const parse = (payload: unknown): unknown => parseOrThrow(transferConversationSchema, payload, 'transferConversation payload');

  it('takes exactly one target', () => {
    expect(parse({ conversationId: id, toAgentId: 'a' })).to.deep.equal({ conversationId: id, toAgentId: 'a' });
    expect(parse({ conversationId: id, toSubject: 'billing' })).to.deep.equal({ conversationId: id, toSubject: 'billing' });
    for (const bad of [{ conversationId: id }, { conversationId: id, toAgentId: 'a', toSubject: 'b' }, { conversationId: 'x', toSubject: 'b' }, { conversationId: id, toSubject: 'b', extra: 1 }]) {
      try {
        parse(bad);
        expect.fail(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(err).to.be.instanceOf(HubError);
        expect((err as HubError).code).to.equal('BAD_REQUEST');
      }
    }
  });
});
