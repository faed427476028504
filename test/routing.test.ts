import { expect } from 'chai';
import { closeAllSockets, connect, emitAck, initCustomer, joinedAgent, sleep } from './support/clients.js';
import { startHub, type RunningHub } from './support/hub.js';
import {
  agentClient,
  agentsView,
  agentView,
  anotherTab,
  conversationsView,
  expectCode,
  getJson,
  setState,
  until,
  watchedCustomer,
  type AgentClient,
  type Msg,
} from './support/routing.js';
import { startTestStore, type TestStore } from './support/store.js';
import { HubProcess } from './support/hub-process.js';

const chat = (conversationId: string, from: { id: string; name: string }, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  conversationId,
  type: 'ChatMessage',
  from,
  text,
  ...extra,
});

describe('Agents and routing (§4)', function () {
  let store: TestStore;
  const hubs: RunningHub[] = [];
  let databases = 0;

  /** A hub on a database of its own, so each test starts with an empty queue. */
  async function fresh(env: Record<string, string> = {}, database = `routing_${++databases}`): Promise<RunningHub> {
    const hub = await startHub(store.uri(database), { ROUTING_SWEEP_MS: '200', ...env });
    hubs.push(hub);
    return hub;
  }

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
  });
  afterEach(async () => {
    closeAllSockets();
    await Promise.all(hubs.splice(0).map((h) => h.close()));
  });
  after(async () => {
    await store?.close();
  });

  describe('agentState', () => {
    it('answers an agent with its view, and refuses other credentials or bad states by name', async () => {
      const hub = await fresh();
      const agent = await agentClient(hub.url, 'a-state', { skills: ['billing'], maxChats: 2 });
      const view = await setState(agent);
      expect(view).to.include({ id: 'a-state', state: 'ready', maxChats: 2, load: 0, connected: true });
      expect(view.skills).to.deep.equal(['billing']);
      expect((await setState(agent, 'notReady')).state).to.equal('notReady');

      expect(expectCode(await emitAck(agent.socket, 'agentState', { state: 'away' }), 'BAD_REQUEST')).to.match(/state/);
      expectCode(await emitAck(agent.socket, 'agentState', {}), 'BAD_REQUEST');
      const customer = await watchedCustomer(hub.url);
      expectCode(await emitAck(customer.socket, 'agentState', { state: 'ready' }), 'FORBIDDEN');
      const anonymous = await connect(hub.url);
      expectCode(await emitAck(anonymous, 'agentState', { state: 'ready' }), 'UNAUTHORIZED');
      // A socket already bound to one agent cannot speak for another.
      const other = await agentClient(hub.url, 'a-other');
      expectCode(await emitAck(agent.socket, 'agentState', { state: 'ready', token: other.token }), 'FORBIDDEN');
    });

    it('accepts the agent token in the payload as well as in the handshake', async () => {
      const hub = await fresh();
      const first = await agentClient(hub.url, 'a-payload');
      const bare = await connect(hub.url);
      const ack = await emitAck(bare, 'agentState', { state: 'ready', token: first.token });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      // The payload-bound socket is one of the agent's and receives the assignment.
      const assigned = new Promise<{ conversation: { id: string } }>((resolve) => bare.once('conversationInfo', resolve));
      const customer = await watchedCustomer(hub.url);
      expect((await assigned).conversation.id).to.equal(customer.conversationId);
    });
  });

  describe('the queue', () => {
    it('hands a new conversation off, says noAgentAvailable once while nobody is ready, and lists it as queued', async () => {
      const hub = await fresh();
      const customer = await watchedCustomer(hub.url, { subject: 'billing' });
      const handOff = customer.activities('handOff');
      expect(handOff).to.have.length(1);
      expect(handOff[0]?.info).to.include({ subject: 'billing' });
      await until(() => customer.activities('noAgentAvailable').length === 1, 'noAgentAvailable');
      // Several sweeps later, still only one notice.
      await sleep(700);
      expect(customer.activities('noAgentAvailable')).to.have.length(1);
      const order = customer.seen.map((m) => m.activityType ?? m.type);
      expect(order.indexOf('handOff')).to.be.lessThan(order.indexOf('noAgentAvailable'));

      const queued = await conversationsView(hub.url, '?status=queued&subject=billing');
      expect(queued.map((c) => c.id)).to.deep.equal([customer.conversationId]);
      expect(queued[0]?.queuedAt).to.be.a('string');
      expect(queued[0]?.assignedAgent).to.equal(null);
      expect(await conversationsView(hub.url, '?status=queued&subject=sales')).to.deep.equal([]);
    });

    it('assigns to a ready agent with the skill: their sockets join with conversationInfo, the customer sees participantJoined, status is active', async () => {
      const hub = await fresh();
      const customer = await watchedCustomer(hub.url, { subject: 'billing' });
      const agent = await agentClient(hub.url, 'a-billing', { skills: ['billing'] });
      await setState(agent);
      await until(() => agent.infos.length === 1, 'conversationInfo to the agent');
      const info = agent.infos[0];
      expect(info?.role).to.equal('agent');
      expect(info?.conversation).to.include({ id: customer.conversationId, status: 'active', subject: 'billing' });
      expect(info?.conversation.assignedAgent?.id).to.equal('a-billing');
      expect(info?.messages.map((m) => m.activityType)).to.include('handOff');

      await until(() => customer.activities('participantJoined').some((m) => (m.info?.['participant'] as { id: string }).id === 'a-billing'), 'participantJoined to the customer');
      const active = await conversationsView(hub.url, `?status=active&agentId=a-billing`);
      expect(active.map((c) => c.id)).to.deep.equal([customer.conversationId]);
      expect(active[0]?.participants.map((p) => p.id)).to.include('a-billing');

      // The assigned agent talks to the customer at once, without joining by hand.
      const sent = await emitAck(agent.socket, 'sendMessage', chat(customer.conversationId, { id: 'a-billing', name: 'x' }, 'How can I help?'));
      expect(sent.ok, JSON.stringify(sent)).to.equal(true);
      await until(() => customer.seen.some((m) => m.text === 'How can I help?'), 'the agent message at the customer');
      const reply = await emitAck(customer.socket, 'sendMessage', chat(customer.conversationId, customer.participant, 'My invoice'));
      expect(reply.ok).to.equal(true);
      await until(() => agent.arrived.some((m) => m.text === 'My invoice'), 'the customer message at the agent');
      const view = await agentView(hub.url, 'a-billing');
      expect(view).to.include({ state: 'ready', load: 1, connected: true });
      expect(view?.conversations).to.deep.equal([customer.conversationId]);
    });

    it('drains 20 conversations with 3 agents of maxChats 2 in arrival order, never above maxChats', async function () {
      this.timeout(60_000);
      const hub = await fresh({ ROUTING_SWEEP_MS: '60000' });
      const ids: string[] = [];
      for (let i = 0; i < 20; i += 1) ids.push((await initCustomer(hub.url)).conversationId);
      const agents: AgentClient[] = [];
      for (const id of ['q-a', 'q-b', 'q-c']) agents.push(await agentClient(hub.url, id, { maxChats: 2 }));
      const owner = new Map<string, AgentClient>();
      const assigned = (): string[] => agents.flatMap((a) => a.got());
      // One agent after the other: each fills its two slots from the head of the queue.
      for (const [n, agent] of agents.entries()) {
        await setState(agent);
        await until(() => agent.got().length === 2, `${agent.id} gets two conversations`);
        expect(agent.got()).to.deep.equal(ids.slice(2 * n, 2 * n + 2));
        for (const id of agent.got()) owner.set(id, agent);
      }
      const active = new Map(agents.map((a) => [a.id, new Set(a.got())]));
      for (let next = 6; next < 20; next += 1) {
        // The oldest conversation still open ends; its agent's free slot takes the head of the queue.
        const oldest = ids.find((id) => owner.has(id) && active.get(owner.get(id)?.id ?? '')?.has(id));
        const agent = owner.get(oldest ?? '');
        if (!oldest || !agent) throw new Error('no open conversation');
        const ended = await emitAck(agent.socket, 'endConversation', { conversationId: oldest });
        expect(ended.ok, JSON.stringify(ended)).to.equal(true);
        active.get(agent.id)?.delete(oldest);
        await until(() => assigned().length === next + 1, `conversation #${next + 1} assigned`);
        const newest = agent.got().at(-1);
        expect(newest, `conversation #${next + 1} goes to ${agent.id}, whose slot freed`).to.equal(ids[next]);
        owner.set(ids[next] ?? '', agent);
        active.get(agent.id)?.add(ids[next] ?? '');
        for (const [id, set] of active) expect(set.size, id).to.be.at.most(2);
      }
      expect(new Set(assigned()).size).to.equal(20);
      const views = await agentsView(hub.url);
      expect(views.map((v) => v.load)).to.deep.equal([2, 2, 2]);
      expect(await conversationsView(hub.url, '?status=queued')).to.deep.equal([]);
    });

    it('offers each conversation to the ready agent idle the longest', async () => {
      const hub = await fresh();
      const agents: AgentClient[] = [];
      for (const id of ['i-a', 'i-b', 'i-c']) {
        const agent = await agentClient(hub.url, id, { maxChats: 3 });
        await setState(agent);
        agents.push(agent);
        await sleep(5);
      }
      const expected = ['i-a', 'i-b', 'i-c', 'i-a', 'i-b'];
      for (const [n, id] of expected.entries()) {
        const customer = await watchedCustomer(hub.url);
        await until(() => customer.activities('participantJoined').some((m) => m.from.role === 'agent'), `conversation ${n} assigned`);
        const joined = customer.activities('participantJoined').find((m) => m.from.role === 'agent');
        expect(joined?.from.id, `conversation ${n}`).to.equal(id);
      }
    });

    it('waits for an agent with the skill, without holding up other subjects; an empty subject takes any agent', async () => {
      const hub = await fresh();
      const billing = await watchedCustomer(hub.url, { subject: 'billing' });
      const sales = await watchedCustomer(hub.url, { subject: 'sales' });
      const seller = await agentClient(hub.url, 'sk-sales', { skills: ['sales'], maxChats: 3 });
      await setState(seller);
      await until(() => seller.got().length === 1, 'the sales conversation assigned');
      expect(seller.got()).to.deep.equal([sales.conversationId]);
      await until(() => billing.activities('noAgentAvailable').length === 1, 'noAgentAvailable for billing');
      await sleep(500);
      expect(seller.got(), 'the billing conversation is not offered to sales').to.have.length(1);
      expect(billing.activities('participantJoined')).to.have.length(0);

      const anyone = await watchedCustomer(hub.url);
      await until(() => seller.got().length === 2, 'the conversation without subject goes to any agent');
      expect(seller.got()[1]).to.equal(anyone.conversationId);

      const biller = await agentClient(hub.url, 'sk-billing', { skills: ['billing'] });
      await setState(biller);
      await until(() => biller.got().includes(billing.conversationId), 'the billing conversation assigned');
    });

    it('keeps the queue in the database: conversations queued before a restart go out in arrival order after it', async function () {
      this.timeout(60_000);
      const first = await fresh({}, 'routing_restart');
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) ids.push((await initCustomer(first.url, { subject: 'restart' })).conversationId);
      await first.close();
      hubs.splice(hubs.indexOf(first), 1);
      const second = await fresh({}, 'routing_restart');
      const agent = await agentClient(second.url, 'r-agent', { skills: ['restart'], maxChats: 5 });
      await setState(agent);
      await until(() => agent.got().length === 3, 'the three waiting conversations');
      expect(agent.got()).to.deep.equal(ids);
    });

    it('frees the slot when a conversation ends, and assigns the next one at once', async () => {
      // A sweep once a minute: only the end itself can trigger the assignment.
      const hub = await fresh({ ROUTING_SWEEP_MS: '60000' });
      const agent = await agentClient(hub.url, 'e-agent', { maxChats: 1 });
      await setState(agent);
      const one = await watchedCustomer(hub.url);
      await until(() => agent.got().length === 1, 'first assigned');
      const two = await watchedCustomer(hub.url);
      await until(() => two.activities('noAgentAvailable').length === 1, 'the second waits: maxChats 1');
      const ended = await emitAck(one.socket, 'endConversation', { conversationId: one.conversationId });
      expect(ended.ok).to.equal(true);
      await until(() => agent.got().includes(two.conversationId), 'second assigned after the end', 3000);
      expect((await agentView(hub.url, 'e-agent'))?.conversations).to.deep.equal([two.conversationId]);
    });
  });

  describe('presence', () => {
    it('counts several tabs of one agent as one agent, and gives every tab the conversations', async () => {
      const hub = await fresh();
      const tab1 = await agentClient(hub.url, 't-agent', { maxChats: 1 });
      const tab2 = await anotherTab(hub.url, tab1);
      await setState(tab1);
      const customer = await watchedCustomer(hub.url);
      await until(() => tab1.got().length === 1 && tab2.got().length === 1, 'conversationInfo in both tabs');
      const views = await agentsView(hub.url);
      expect(views).to.have.length(1);
      expect(views[0]).to.include({ id: 't-agent', load: 1, maxChats: 1 });

      // maxChats is per agent, not per tab.
      const waiting = await watchedCustomer(hub.url);
      await until(() => waiting.activities('noAgentAvailable').length === 1, 'second conversation waits');
      expect(tab2.got()).to.have.length(1);

      await emitAck(customer.socket, 'sendMessage', chat(customer.conversationId, customer.participant, 'to both tabs'));
      await until(() => tab1.arrived.some((m) => m.text === 'to both tabs') && tab2.arrived.some((m) => m.text === 'to both tabs'), 'the message in both tabs');
      // A tab opened later gets the agent's conversation too, and one tab's reply reaches the other.
      const tab3 = await anotherTab(hub.url, tab1);
      await until(() => tab3.got().includes(customer.conversationId), 'conversationInfo in the new tab');
      await emitAck(tab3.socket, 'sendMessage', chat(customer.conversationId, { id: 't-agent', name: 'x' }, 'from tab 3'));
      await until(() => tab1.arrived.some((m) => m.text === 'from tab 3'), 'tab 1 sees tab 3');
      // Closing one tab of three changes nothing.
      tab2.socket.close();
      await sleep(100);
      expect(await agentView(hub.url, 't-agent')).to.include({ state: 'ready', connected: true });
    });

    it('keeps an agent who disconnects and returns within the grace period, conversations included', async function () {
      this.timeout(20_000);
      const hub = await fresh({ AGENT_GRACE_MS: '2500' });
      const agent = await agentClient(hub.url, 'g-agent', { maxChats: 2 });
      await setState(agent);
      const customer = await watchedCustomer(hub.url);
      await until(() => agent.got().length === 1, 'assigned');
      agent.socket.close();
      await until(async () => (await agentView(hub.url, 'g-agent'))?.connected === false, 'seen as disconnected');
      expect(await agentView(hub.url, 'g-agent')).to.include({ state: 'ready', load: 1 });
      // Meanwhile a new customer is not handed to an agent without a socket.
      const meanwhile = await watchedCustomer(hub.url);
      await until(() => meanwhile.activities('noAgentAvailable').length === 1, 'nobody for the new customer while the agent is away');
      await emitAck(customer.socket, 'sendMessage', chat(customer.conversationId, customer.participant, 'are you there?'));

      const back = await agentClient(hub.url, 'g-agent', { token: agent.token });
      await until(() => back.got().includes(customer.conversationId), 'the active conversation again, without joining by hand');
      const info = back.infos.find((i) => i.conversation.id === customer.conversationId);
      expect(info?.messages.map((m) => m.text)).to.include('are you there?');
      // Still ready: the waiting customer is assigned now.
      await until(() => back.got().includes(meanwhile.conversationId), 'the waiting conversation assigned on return');
      expect(await agentView(hub.url, 'g-agent')).to.include({ state: 'ready', connected: true, load: 2 });
      expect(customer.activities('participantLeft')).to.have.length(0);
      const sent = await emitAck(back.socket, 'sendMessage', chat(customer.conversationId, { id: 'g-agent', name: 'x' }, 'back again'));
      expect(sent.ok, JSON.stringify(sent)).to.equal(true);
    });

    it('makes an agent who does not return notReady after the grace period, keeping their conversations', async function () {
      this.timeout(20_000);
      const hub = await fresh({ AGENT_GRACE_MS: '800' });
      const agent = await agentClient(hub.url, 'gone-agent');
      await setState(agent);
      const customer = await watchedCustomer(hub.url);
      await until(() => agent.got().length === 1, 'assigned');
      agent.socket.close();
      await until(async () => (await agentView(hub.url, 'gone-agent'))?.state === 'notReady', 'notReady after the grace period');
      const active = await conversationsView(hub.url, '?status=active&agentId=gone-agent');
      expect(active.map((c) => c.id)).to.deep.equal([customer.conversationId]);
      // On return the conversation is there, and new ones wait until the agent says ready.
      const back = await agentClient(hub.url, 'gone-agent', { token: agent.token });
      await until(() => back.got().includes(customer.conversationId), 'conversation back');
      const next = await watchedCustomer(hub.url);
      await until(() => next.activities('noAgentAvailable').length === 1, 'not offered before ready');
      await setState(back);
      await until(() => back.got().includes(next.conversationId), 'offered after ready');
    });
  });

  describe('agent actions', () => {
    async function assignedPair(hub: RunningHub, subject = ''): Promise<{ customer: Awaited<ReturnType<typeof watchedCustomer>>; agent: AgentClient }> {
      const agent = await agentClient(hub.url, `x-${subject || 'any'}-1`, { skills: subject ? [subject] : [] });
      await setState(agent);
      const customer = await watchedCustomer(hub.url, subject ? { subject } : {});
      await until(() => agent.got().includes(customer.conversationId), 'assigned');
      return { customer, agent };
    }

    it('transfers to another agent: participantLeft then participantJoined, the new agent gets it, the old one is out', async () => {
      const hub = await fresh();
      const { customer, agent } = await assignedPair(hub);
      const target = await agentClient(hub.url, 'x-target');
      await setState(target, 'notReady');
      expect(expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: customer.conversationId, toAgentId: 'x-target' }), 'CONFLICT')).to.match(/not ready/);
      await setState(target);
      await agent.socket.emitWithAck('sendMessage', chat(customer.conversationId, { id: agent.id, name: 'x' }, 'only agents see this', { tag: 'whisper' }));

      const ack = await emitAck(agent.socket, 'transferConversation', { conversationId: customer.conversationId, toAgentId: 'x-target' });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      expect(((ack as Record<string, unknown>)['conversation'] as { assignedAgent: { id: string } }).assignedAgent.id).to.equal('x-target');
      await until(() => target.got().includes(customer.conversationId), 'conversationInfo to the new agent');
      // The new agent reads the history, whispers included.
      const info = target.infos.find((i) => i.conversation.id === customer.conversationId);
      expect(info?.messages.map((m) => m.text)).to.include('only agents see this');
      await until(() => customer.activities('participantJoined').some((m) => m.from.id === 'x-target'), 'participantJoined of the new agent');
      const sequence = customer.seen
        .filter((m) => (m.activityType === 'participantLeft' && m.from.id === agent.id) || (m.activityType === 'participantJoined' && m.from.id === 'x-target'))
        .map((m) => m.activityType);
      expect(sequence).to.deep.equal(['participantLeft', 'participantJoined']);
      expect(customer.seen.some((m) => m.text === 'only agents see this')).to.equal(false);

      expectCode(await emitAck(agent.socket, 'sendMessage', chat(customer.conversationId, { id: agent.id, name: 'x' }, 'still here?')), 'FORBIDDEN');
      await emitAck(customer.socket, 'sendMessage', chat(customer.conversationId, customer.participant, 'hello new agent'));
      await until(() => target.arrived.some((m) => m.text === 'hello new agent'), 'the customer reaches the new agent');
      await sleep(100);
      expect(agent.arrived.some((m) => m.text === 'hello new agent'), 'the old agent no longer receives').to.equal(false);
      const loads = Object.fromEntries((await agentsView(hub.url)).map((v) => [v.id, v.load]));
      expect(loads).to.deep.equal({ [agent.id]: 0, 'x-target': 1 });
    });

    it('refuses transfers by name: unknown agent, outsiders, customers, both or neither target, ended conversations', async () => {
      const hub = await fresh();
      const { customer, agent } = await assignedPair(hub);
      const cid = customer.conversationId;
      expect(expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: cid, toAgentId: 'nobody' }), 'NOT_FOUND')).to.match(/nobody/);
      expect(expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: cid }), 'BAD_REQUEST')).to.match(/toAgentId/);
      expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: cid, toAgentId: 'a', toSubject: 'b' }), 'BAD_REQUEST');
      expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: 'not-a-uuid', toSubject: 'b' }), 'BAD_REQUEST');
      expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: cid, toAgentId: agent.id }), 'BAD_REQUEST');
      const outsider = await agentClient(hub.url, 'x-outsider');
      await setState(outsider);
      expectCode(await emitAck(outsider.socket, 'transferConversation', { conversationId: cid, toSubject: 'sales' }), 'FORBIDDEN');
      expectCode(await emitAck(customer.socket, 'transferConversation', { conversationId: cid, toSubject: 'sales' }), 'FORBIDDEN');
      expectCode(await emitAck(agent.socket, 'leaveConversation', { conversationId: '00000000-0000-4000-8000-000000000000' }), 'NOT_FOUND');
      const full = await agentClient(hub.url, 'x-full', { maxChats: 1 });
      await setState(full);
      const other = await watchedCustomer(hub.url);
      await until(() => full.got().includes(other.conversationId) || agent.got().includes(other.conversationId), 'the other conversation assigned');
      if (full.got().includes(other.conversationId)) {
        expect(expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: cid, toAgentId: 'x-full' }), 'CONFLICT')).to.match(/slot/);
      }
      await emitAck(customer.socket, 'endConversation', { conversationId: cid });
      expectCode(await emitAck(agent.socket, 'transferConversation', { conversationId: cid, toSubject: 'sales' }), 'CONVERSATION_ENDED');
    });

    it('transfers to a subject: back in the queue with a hand-off, then to an agent with that skill', async () => {
      const hub = await fresh();
      const { customer, agent } = await assignedPair(hub, 'sales');
      const ack = await emitAck(agent.socket, 'transferConversation', { conversationId: customer.conversationId, toSubject: 'billing' });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      expect((ack as Record<string, unknown>)['conversation']).to.include({ status: 'queued', subject: 'billing' });
      await until(() => customer.activities('handOff').length === 2, 'a second handOff');
      expect(customer.activities('handOff')[1]?.info).to.include({ subject: 'billing', reason: 'transfer' });
      await until(() => customer.activities('noAgentAvailable').length === 1, 'nobody for billing yet');
      const biller = await agentClient(hub.url, 'x-biller', { skills: ['billing'] });
      await setState(biller);
      await until(() => biller.got().includes(customer.conversationId), 'the billing agent gets it');
      const types = customer.seen.map((m) => `${m.activityType}:${m.from.id}`);
      expect(types.indexOf(`participantLeft:${agent.id}`)).to.be.lessThan(types.indexOf('participantJoined:x-biller'));
      expect((await agentView(hub.url, agent.id))?.load).to.equal(0);
    });

    it('leaveConversation: the assigned agent puts it back in the queue for someone else; a supervisor just leaves', async () => {
      const hub = await fresh();
      const { customer, agent } = await assignedPair(hub);
      // A supervisor joins by hand: the conversation stays with the assigned agent.
      const supervisor = await joinedAgent(hub.url, customer.conversationId, 'x-supervisor');
      expect((supervisor.info['conversation'] as { assignedAgent: { id: string } }).assignedAgent.id).to.equal(agent.id);
      const left = await emitAck(supervisor.socket, 'leaveConversation', { conversationId: customer.conversationId });
      expect(left.ok, JSON.stringify(left)).to.equal(true);
      await until(() => customer.activities('participantLeft').some((m) => m.from.id === 'x-supervisor'), 'supervisor left');
      expect(customer.activities('handOff')).to.have.length(1);
      expectCode(await emitAck(supervisor.socket, 'sendMessage', chat(customer.conversationId, { id: 'x-supervisor', name: 'x' }, 'hi')), 'FORBIDDEN');

      const ack = await emitAck(agent.socket, 'leaveConversation', { conversationId: customer.conversationId });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      expect((ack as Record<string, unknown>)['conversation']).to.include({ status: 'queued' });
      await until(() => customer.activities('handOff').length === 2, 'handed off again');
      // The agent who left is still ready with free slots, but is not offered it again.
      await until(() => customer.activities('noAgentAvailable').length === 1, 'nobody else yet');
      expect(agent.got().filter((id) => id === customer.conversationId)).to.have.length(1);
      const colleague = await agentClient(hub.url, 'x-colleague');
      await setState(colleague);
      await until(() => colleague.got().includes(customer.conversationId), 'a colleague gets it');
      expectCode(await emitAck(customer.socket, 'leaveConversation', { conversationId: customer.conversationId }), 'FORBIDDEN');
    });

    it('carries whispers between the agents of a conversation, never to the customer', async () => {
      const hub = await fresh();
      const { customer, agent } = await assignedPair(hub);
      const supervisor = await joinedAgent(hub.url, customer.conversationId, 'w-supervisor');
      const supervisorSaw: Msg[] = [];
      supervisor.socket.on('messageArrived', (m: Msg) => supervisorSaw.push(m));
      await emitAck(agent.socket, 'sendMessage', chat(customer.conversationId, { id: agent.id, name: 'x' }, 'can you take over the refund?', { tag: 'whisper' }));
      await emitAck(supervisor.socket, 'sendMessage', chat(customer.conversationId, { id: 'w-supervisor', name: 'x' }, 'yes, leave it to me', { tag: 'whisper' }));
      await until(() => supervisorSaw.some((m) => m.text === 'can you take over the refund?'), 'whisper to the supervisor');
      await until(() => agent.arrived.some((m) => m.text === 'yes, leave it to me'), 'whisper back to the agent');
      await emitAck(agent.socket, 'sendMessage', chat(customer.conversationId, { id: agent.id, name: 'x' }, 'visible to all'));
      await until(() => customer.seen.some((m) => m.text === 'visible to all'), 'a normal message');
      expect(customer.seen.filter((m) => m.tag === 'whisper')).to.deep.equal([]);
    });

    it('lets an agent pick a waiting conversation by joining it, counted in their load', async () => {
      const hub = await fresh();
      const customer = await watchedCustomer(hub.url, { subject: 'nobody-has-this' });
      const picker = await joinedAgent(hub.url, customer.conversationId, 'p-agent');
      expect(picker.info['conversation']).to.include({ status: 'active' });
      await until(() => customer.activities('participantJoined').some((m) => m.from.id === 'p-agent'), 'participantJoined');
      expect((await agentView(hub.url, 'p-agent'))?.conversations).to.deep.equal([customer.conversationId]);
      expect((await conversationsView(hub.url, '?status=active&agentId=p-agent')).map((c) => c.id)).to.deep.equal([customer.conversationId]);
    });
  });

  describe('races', () => {
    it('gives one conversation to exactly one of two agents who become ready at the same moment', async () => {
      const hub = await fresh({ ROUTING_SWEEP_MS: '60000' });
      for (let round = 0; round < 5; round += 1) {
        const customer = await watchedCustomer(hub.url, { subject: `race-${round}` });
        const a = await agentClient(hub.url, `race-${round}-a`, { skills: [`race-${round}`] });
        const b = await agentClient(hub.url, `race-${round}-b`, { skills: [`race-${round}`] });
        await Promise.all([setState(a), setState(b)]);
        await until(() => a.got().length + b.got().length >= 1, 'assigned');
        await sleep(200);
        expect(a.got().length + b.got().length, `round ${round}`).to.equal(1);
        const joined = customer.activities('participantJoined').filter((m) => m.from.role === 'agent');
        expect(joined, `round ${round}`).to.have.length(1);
      }
    });

    it('assigns a waiting conversation to one agent when two agents pick it from two sockets at once', async () => {
      const hub = await fresh({ ROUTING_SWEEP_MS: '60000' });
      for (let round = 0; round < 5; round += 1) {
        const customer = await watchedCustomer(hub.url, { subject: 'nobody-has-this' });
        const [a, b] = await Promise.all([agentClient(hub.url, `pick-${round}-a`), agentClient(hub.url, `pick-${round}-b`)]);
        const join = (agent: AgentClient) => emitAck(agent.socket, 'joinConversation', { conversationId: customer.conversationId, id: agent.id });
        const acks = await Promise.all([join(a), join(b)]);
        expect(acks.every((ack) => ack.ok), JSON.stringify(acks)).to.equal(true);
        const [conversation] = await conversationsView(hub.url, '?status=active&subject=nobody-has-this');
        expect(conversation?.id).to.equal(customer.conversationId);
        const holder = conversation?.assignedAgent?.id;
        expect([a.id, b.id]).to.include(holder);
        const loads = await Promise.all([agentView(hub.url, a.id), agentView(hub.url, b.id)]);
        expect(loads.map((v) => v?.load).sort(), `round ${round}`).to.deep.equal([0, 1]);
        expect((await agentView(hub.url, holder ?? ''))?.conversations).to.deep.equal([customer.conversationId]);
        await emitAck(customer.socket, 'endConversation', { conversationId: customer.conversationId });
      }
    });

    it('never assigns a conversation twice when two hub processes share the database', async function () {
      this.timeout(90_000);
      const database = `routing_${++databases}`;
      const one = await fresh({ ROUTING_SWEEP_MS: '100' }, database);
      const two = new HubProcess(store.uri(database), { ROUTING_SWEEP_MS: '100' });
      try {
        await two.start();
        const ids: string[] = [];
        for (let i = 0; i < 30; i += 1) ids.push((await initCustomer(one.url)).conversationId);
        // Eight agents, half on each process, capacity 40 for 30 conversations; all ready at once.
        const agents: AgentClient[] = [];
        for (let i = 0; i < 8; i += 1) agents.push(await agentClient(i % 2 ? two.url : one.url, `dup-${i}`, { maxChats: 5 }));
        await Promise.all(agents.map((a) => setState(a)));
        const got = (): string[] => agents.flatMap((a) => a.got());
        await until(() => new Set(got()).size === 30, 'all 30 assigned', 20_000);
        await sleep(600);
        expect(got().length, 'conversationInfos across both processes').to.equal(30);
        expect([...new Set(got())].sort()).to.deep.equal([...ids].sort());
        expect(agents.filter((_, i) => i % 2 === 1).some((a) => a.got().length > 0), 'the second process assigned some').to.equal(true);
        const views = await agentsView(one.url);
        expect(views.reduce((sum, v) => sum + v.load, 0)).to.equal(30);
        for (const v of views) expect(v.load, v.id).to.be.at.most(5);
        const active = await conversationsView(one.url, '?status=active&page_size=100');
        expect(active).to.have.length(30);
        for (const c of active) {
          const holder = agents.find((a) => a.got().includes(c.id));
          expect(c.assignedAgent?.id, c.id).to.equal(holder?.id);
          expect(c.participants.filter((p) => p.role === 'agent').map((p) => p.id), c.id).to.deep.equal([holder?.id]);
          const info = holder?.infos.find((i) => i.conversation.id === c.id);
          expect(info?.messages.filter((m) => m.activityType === 'participantJoined' && m.from.role === 'agent'), c.id).to.have.length(1);
        }
      } finally {
        await two.stop();
      }
    });
  });

  describe('GET /api/agents', () => {
    it('shows each agent with state, skills and load to the system token only, with filters and a cursor', async () => {
      const hub = await fresh();
      const one = await agentClient(hub.url, 'v-1', { skills: ['billing', 'sales'], maxChats: 2 });
      await agentClient(hub.url, 'v-2', { skills: ['sales'] });
      await setState(one);
      await watchedCustomer(hub.url, { subject: 'billing' });
      await until(() => one.got().length === 1, 'assigned');
      const all = await agentsView(hub.url);
      expect(all.map((a) => [a.id, a.state, a.load])).to.deep.equal([
        ['v-1', 'ready', 1],
        ['v-2', 'notReady', 0],
      ]);
      expect(all[0]?.skills).to.deep.equal(['billing', 'sales']);
      expect((await agentsView(hub.url, '?state=ready')).map((a) => a.id)).to.deep.equal(['v-1']);
      expect((await agentsView(hub.url, '?skill=sales')).map((a) => a.id)).to.deep.equal(['v-1', 'v-2']);
      const page1 = await getJson<{ data: Array<{ id: string }>; next_cursor: string }>(`${hub.url}/api/agents?page_size=1`);
      expect(page1.body.data.map((a) => a.id)).to.deep.equal(['v-1']);
      const page2 = await getJson<{ data: Array<{ id: string }>; next_cursor: string | null }>(`${hub.url}/api/agents?page_size=1&cursor=${page1.body.next_cursor}`);
      expect(page2.body.data.map((a) => a.id)).to.deep.equal(['v-2']);
      expect(page2.body.next_cursor).to.equal(null);

      expect((await getJson(`${hub.url}/api/agents`, '')).status).to.equal(401);
      expect((await getJson(`${hub.url}/api/agents`, one.token)).status).to.equal(403);
      const bad = await getJson<{ code: string; error: string }>(`${hub.url}/api/agents?state=busy`);
      expect(bad.status).to.equal(400);
      expect(bad.body.error).to.match(/state/);
      expect((await getJson(`${hub.url}/api/agents?cursor=nonsense`)).status).to.equal(400);
    });
  });
});
