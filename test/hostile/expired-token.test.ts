import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { agentToken, connect, emitAck, initCustomer, nextEvent, sleep } from '../support/clients.js';
import { hubSuite } from '../support/hub-suite.js';
import { conversationsView, setState, until, watchedCustomer, type AgentClient, type Msg } from '../support/routing.js';

/** Every customer and agent token of this hub lives 4 s (JWT `exp` has whole seconds: 3-4 s after it is issued). */
const TTL_SECONDS = 4;
const PAST_EXPIRY_MS = TTL_SECONDS * 1000 + 1500;

/** Records what the hub does to a socket: its `error` events, the messages it still gets, and when it closes it. */
function watch(socket: Socket): { errors: string[]; arrived: Msg[]; closed: Promise<string> } {
  const errors: string[] = [];
  const arrived: Msg[] = [];
  socket.on('error', (e: { error: { code: string } }) => errors.push(e.error.code));
  socket.on('messageArrived', (m: Msg) => arrived.push(m));
  return { errors, arrived, closed: new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason))) };
}

/**
 * The attack: a token was handed out for a short while (a shift, a session), but a socket opened
 * with it keeps receiving every message of its conversations for as long as it stays connected,
 * and an agent whose token ran out keeps being handed new conversations with their customer data.
 */
describe('hostile: an expired token stops on open connections and in routing', function () {
  this.timeout(60_000);
  const suite = hubSuite('hostile_expired', {
      CUSTOMER_TOKEN_TTL_SECONDS: String(TTL_SECONDS),
      AGENT_TOKEN_TTL_SECONDS: String(TTL_SECONDS),
      // A long grace period: an agent whose socket closed must not be routed to meanwhile either.
      AGENT_GRACE_MS: '60000',
      ROUTING_SWEEP_MS: '200',
    });

  it('closes a customer socket at its token’s expiry (handshake or join token): it reads nothing after', async () => {
    const viaHandshake = await watchedCustomer(suite.hub.url);
    const handshake = watch(viaHandshake.socket);
    // A second socket that joined with the token in the event only.
    const init = await initCustomer(suite.hub.url);
    const viaJoin = await connect(suite.hub.url);
    const joinedInfo = nextEvent(viaJoin, 'conversationInfo');
    const joined = await emitAck(viaJoin, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: 'x', token: init.token });
    expect(joined.ok, JSON.stringify(joined)).to.equal(true);
    await joinedInfo;
    const join = watch(viaJoin);

    const staff = await connect(suite.hub.url, { token: suite.hub.config.systemToken });
    for (const conversationId of [viaHandshake.conversationId, init.conversationId]) {
      expect((await emitAck(staff, 'joinConversation', { conversationId, id: 'supervisor', name: 'Supervisor' })).ok).to.equal(true);
    }
    await sleep(PAST_EXPIRY_MS);
    // Told why, then closed.
    for (const seen of [handshake, join]) {
      expect(await Promise.race([seen.closed, sleep(2000).then(() => 'still open')])).to.equal('io server disconnect');
      expect(seen.errors).to.deep.equal(['UNAUTHORIZED']);
    }
    // What the conversation says afterwards reaches neither.
    for (const conversationId of [viaHandshake.conversationId, init.conversationId]) {
      const ack = await emitAck(staff, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: 'supervisor', name: 'Supervisor' }, text: 'after expiry' });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    }
    await sleep(300);
    expect([...handshake.arrived, ...join.arrived].filter((m) => m.text === 'after expiry')).to.deep.equal([]);
  });

  it('endConversation checks expiry like sendMessage: a join made with an expired token ends nothing', async () => {
    const init = await initCustomer(suite.hub.url);
    const socket = await connect(suite.hub.url);
    const joined = await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: 'x', token: init.token });
    expect(joined.ok).to.equal(true);
    await sleep(PAST_EXPIRY_MS);
    // Either refused or the socket is already gone: in both cases the conversation stays open.
    const ended = await emitAck(socket, 'endConversation', { conversationId: init.conversationId }, 1500).catch(() => undefined);
    if (ended) expect(ended.ok, JSON.stringify(ended)).to.equal(false);
    const open = await conversationsView(suite.hub.url, `?status=queued&page_size=100`);
    expect(open.map((c) => c.id)).to.include(init.conversationId);
  });

  it('stops routing new conversations to an agent whose token has expired, and closes their socket', async () => {
    const token = await agentToken(suite.hub.url, 'agent-expiring', 'Agent Expiring', ['expiry'], 20);
    const socket = await connect(suite.hub.url, { token });
    const seen = watch(socket);
    const infos: string[] = [];
    socket.on('conversationInfo', (i: { conversation: { id: string } }) => infos.push(i.conversation.id));
    const agent: AgentClient = { id: 'agent-expiring', token, socket, infos: [], arrived: [], got: () => infos };
    await setState(agent, 'ready');
    // While the token is valid, the agent gets the subject's conversations.
    const before = await initCustomer(suite.hub.url, { subject: 'expiry' });
    await until(() => infos.includes(before.conversationId), 'the first conversation assigned');
    await sleep(PAST_EXPIRY_MS);
    expect(await Promise.race([seen.closed, sleep(2000).then(() => 'still open')])).to.equal('io server disconnect');
    expect(seen.errors).to.deep.equal(['UNAUTHORIZED']);
    // A new customer of that subject waits; nothing (no history, no customer data) goes to the expired agent.
    const after = await initCustomer(suite.hub.url, { subject: 'expiry' });
    await sleep(1000);
    expect(infos).to.not.include(after.conversationId);
    const [view] = (await conversationsView(suite.hub.url, `?status=queued&subject=expiry&page_size=100`)).filter((c) => c.id === after.conversationId);
    expect(view?.assignedAgent ?? null).to.equal(null);
  });
});
