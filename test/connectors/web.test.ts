import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, joinedAgent, nextEvent, record, sleep } from '../support/clients.js';
import type { RunningHub } from '../support/hub.js';
import { until } from '../support/raw-connector.js';
import { agentSays as say, conversationsOf as channelConversations, startConnectorHub, type HubMessage as Msg } from './connector-hub.js';
import { ConnectorProcess, postWebhook } from './connector-process.js';
import { WebsiteStandIn } from './website-stand-in.js';

/**
 * The web connector end to end: the real hub, the real connector process, and a local HTTP
 * server playing the website's backend (it receives the signed callbacks). The test plays the
 * website (inbound POSTs) and an agent.
 */

const WEB_KEY = 'web-e2e-key-0123456789';
const INBOUND_TOKEN = 'web-e2e-inbound-token-0123456789';
const CALLBACK_SECRET = 'web-e2e-callback-secret-0123456789';
/** Started once it logged its registration. */
const REGISTERED = { log: '"msg":"registered with the hub"' };

let users = 0;
const newUser = (): string => `site-user-${Date.now().toString(36)}-${(users += 1)}`;

describe('web connector (e2e: real hub, real connector process, a website backend)', function () {
  this.timeout(20_000);
  let hub: RunningHub;
  const backend = new WebsiteStandIn(CALLBACK_SECRET);
  const env = (): Record<string, string> => ({
    HUB_URL: hub.url,
    CONNECTOR_KEY: WEB_KEY,
    WEB_INBOUND_TOKEN: INBOUND_TOKEN,
    WEB_CALLBACK_URL: backend.url,
    WEB_CALLBACK_SECRET: CALLBACK_SECRET,
    WEB_CALLBACK_TIMEOUT_MS: '2000',
    WEB_CALLBACK_RETRIES: '1',
  });
  const connector = new ConnectorProcess('web', env, REGISTERED);
  const intruder = new ConnectorProcess('web', () => ({ ...env(), CONNECTOR_KEY: 'not-the-web-key-0123' }), REGISTERED, 'intruder');

  before(async function () {
    this.timeout(120_000);
    hub = await startConnectorHub('connector_web', { id: 'web', key: WEB_KEY, ackTimeoutMs: 8_000, maxAttempts: 5 });
    await backend.start();
    await connector.start();
  });

  afterEach(() => {
    closeAllSockets();
    backend.script.length = 0;
  });

  after(async function () {
    this.timeout(40_000);
    await Promise.all([connector.stop(), intruder.stop()]);
    await backend.close();
    await hub?.close();
  });

  function postMessage(body: unknown, token: string | null = INBOUND_TOKEN): Promise<Response> {
    return postWebhook(`${connector.url}/messages`, 'application/json', JSON.stringify(body), token === null ? null : ['authorization', `Bearer ${token}`]);
  }

  const conversationsOf = (userId: string): ReturnType<typeof channelConversations> => channelConversations(hub.url, 'web', userId);

  /** A website user's first message, the conversation it opened, and an agent joined to it. */
  async function userConversation(agentId: string): Promise<{ userId: string; conversationId: string; agent: Socket }> {
    const userId = newUser();
    const res = await postMessage({ userId, name: 'Jane', text: 'Hi, I need help' });
    expect(res.status).to.equal(200);
    const { conversationId } = (await res.json()) as { conversationId: string };
    const { socket } = await joinedAgent(hub.url, conversationId, agentId);
    return { userId, conversationId, agent: socket };
  }

  const agentSays = (agent: Socket, agentId: string, conversationId: string, text: string): Promise<Msg> => say(agent, agentId, conversationId, text, { name: 'Alex', role: 'agent' });

  it('reports health with the registration', async () => {
    const res = await fetch(`${connector.url}/health`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok', registered: true });
  });

  it('relays an inbound POST into a conversation the agent sees; a repeated messageId is stored once', async () => {
    const userId = newUser();
    const first = await postMessage({ userId, name: 'Jane Doe', text: 'Where is my order?', messageId: 'site-msg-1', metadata: { page: '/orders/17' } });
    expect(first.status).to.equal(200);
    const stored = (await first.json()) as { conversationId: string; messageId: string };
    expect(stored.conversationId).to.be.a('string');
    expect(stored.messageId).to.be.a('string');

    const conversations = await conversationsOf(userId);
    expect(conversations.map((c) => [c.id, c.channel])).to.deep.equal([[stored.conversationId, 'web']]);

    // The website retries the same message: same answer, nothing new stored.
    const again = await postMessage({ userId, name: 'Jane Doe', text: 'Where is my order?', messageId: 'site-msg-1', metadata: { page: '/orders/17' } });
    expect(again.status).to.equal(200);
    expect(await again.json()).to.deep.equal(stored);

    const { socket: agent, info } = await joinedAgent(hub.url, stored.conversationId, 'agent-web-1');
    const chats = (info['messages'] as Msg[]).filter((m) => m.type === 'ChatMessage');
    expect(chats).to.have.length(1);
    expect(chats[0]).to.deep.include({ id: stored.messageId, text: 'Where is my order?', clientMessageId: 'site-msg-1' });
    expect(chats[0]!.from).to.deep.include({ name: 'Jane Doe', role: 'customer' });
    expect(chats[0]!.metadata).to.deep.include({ page: '/orders/17' });

    // A later message from the same user lands in the same conversation and reaches the joined agent live.
    const live = nextEvent<Msg>(agent, 'messageArrived', (m) => m.text === 'Order 17, placed Monday');
    const second = await postMessage({ userId, text: 'Order 17, placed Monday' });
    expect(second.status).to.equal(200);
    expect(((await second.json()) as { conversationId: string }).conversationId).to.equal(stored.conversationId);
    expect((await live).from.role).to.equal('customer');
    expect(await conversationsOf(userId)).to.have.length(1);
  });

  it('refuses a wrong or missing bearer with 401 and stores nothing', async () => {
    const userId = newUser();
    expect((await postMessage({ userId, text: 'forged' }, 'wrong-token-0123456789abcdef')).status).to.equal(401);
    expect((await postMessage({ userId, text: 'forged' }, null)).status).to.equal(401);
    expect(await conversationsOf(userId)).to.deep.equal([]);
  });

  it('answers 400 naming the field and stores nothing', async () => {
    const userId = newUser();
    const res = await postMessage({ userId, text: 'x', customer: { email: 'not-an-email' } });
    expect(res.status).to.equal(400);
    const body = (await res.json()) as { code: string; details: Array<{ field: string }> };
    expect(body.code).to.equal('BAD_REQUEST');
    expect(body.details.map((d) => d.field)).to.deep.equal(['customer.email']);
    expect(await conversationsOf(userId)).to.deep.equal([]);
  });

  it("delivers an agent's reply to the callback, signed; DELIVERED with the receiver's id", async () => {
    const { userId, conversationId, agent } = await userConversation('agent-web-2');
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-2', conversationId, 'It ships today');
    expect(reply.state).to.equal('PENDING');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED', 10_000);

    const callbacks = backend.for(reply.id);
    expect(callbacks).to.have.length(1);
    const [callback] = callbacks;
    expect(callback!.signatureValid).to.equal(true);
    expect(callback!.headers['content-type']).to.equal('application/json');
    expect(callback!.headers['idempotency-key']).to.equal(reply.id);
    expect(callback!.json).to.deep.equal({
      id: reply.id,
      conversationId,
      userId,
      text: 'It ships today',
      attachments: [],
      // The hub names the agent from its token.
      from: { name: reply.from.name, role: 'agent' },
      timestamp: (callback!.json as { timestamp: string }).timestamp,
    });
    expect(Date.parse(String(callback!.json['timestamp']))).to.be.closeTo(Date.now(), 60_000);
    const delivered = updates.find((m) => m.id === reply.id && m.state === 'DELIVERED')!;
    expect(delivered.metadata['externalId']).to.equal(backend.accepted.get(reply.id));
  });

  it('retries a callback answered 500: delivered once, DELIVERED', async () => {
    const { conversationId, agent } = await userConversation('agent-web-3');
    backend.script.push({ status: 500, body: { error: 'database restarting' } });
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-3', conversationId, 'Sorry for the wait');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED after a retry', 10_000);
    const callbacks = backend.for(reply.id);
    expect(callbacks.map((c) => c.status)).to.deep.equal([500, 200]);
    expect(callbacks.every((c) => c.signatureValid && c.headers['idempotency-key'] === reply.id)).to.equal(true);
    expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.deep.equal(['DELIVERED']);
  });

  it('hands a delivery back to the hub after its in-handler retries; the hub retries it to DELIVERED', async () => {
    const { conversationId, agent } = await userConversation('agent-web-4');
    // WEB_CALLBACK_RETRIES=1: two failures use up the connector's attempts, the hub's retry succeeds.
    backend.script.push({ status: 503 }, { status: 502 });
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-4', conversationId, 'Back online');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED after the hub retried', 15_000);
    expect(backend.for(reply.id).map((c) => c.status)).to.deep.equal([503, 502, 200]);
    expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.not.include('FAILED');
  });

  it('marks a reply the callback refuses with 400 FAILED, with metadata.error, without retrying', async () => {
    const { conversationId, agent } = await userConversation('agent-web-5');
    backend.script.push({ status: 400, body: { error: 'unknown user' } });
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-5', conversationId, 'Hello?');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'FAILED'), 'FAILED', 10_000);
    const failed = updates.find((m) => m.id === reply.id && m.state === 'FAILED')!;
    expect(JSON.stringify(failed.metadata['error'])).to.contain('400').and.contain('unknown user');
    await sleep(500);
    expect(backend.for(reply.id)).to.have.length(1);
  });

  it('exits non-zero with a clear log line when the hub refuses CONNECTOR_KEY', async () => {
    await intruder.start(null);
    const code = await Promise.race([intruder.exit, sleep(15_000).then(() => 'still running' as const)]);
    expect(code, intruder.logs.join('\n')).to.be.a('number').and.not.equal(0);
    const fatal = intruder.logs.find((l) => l.includes('refused CONNECTOR_KEY'));
    expect(fatal, intruder.logs.join('\n')).to.not.equal(undefined);
    expect(JSON.parse(fatal!)).to.deep.include({ level: 60, connector: 'web' });
    expect(intruder.logs.join('\n')).not.to.include('not-the-web-key-0123');
    // The real connector is not disturbed.
    expect(await (await fetch(`${connector.url}/health`)).json()).to.deep.include({ registered: true });
  });

  it('never logs the connector key, the inbound token or the callback secret', () => {
    const all = connector.logs.join('\n');
    expect(all).to.include('registered with the hub');
    for (const secret of [WEB_KEY, INBOUND_TOKEN, CALLBACK_SECRET]) expect(all).not.to.include(secret);
  });

  // Last: it stops the connector.
  it('on SIGTERM finishes a running delivery, then exits 0', async () => {
    const { conversationId, agent } = await userConversation('agent-web-6');
    backend.script.push({ status: 200, body: { id: 'slow-1' }, delayMs: 1000 });
    const updates = record<Msg>(agent, 'messageUpdated');
    const arrivals = backend.arrivals;
    const reply = await agentSays(agent, 'agent-web-6', conversationId, 'One last thing');
    await until(() => backend.arrivals > arrivals, 'the callback to arrive', 5000);
    connector.child!.kill('SIGTERM');
    expect(await connector.exit).to.equal(0);
    expect(connector.logs.some((l) => l.includes('"msg":"stopped"'))).to.equal(true);
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED', 5000);
    expect(updates.find((m) => m.id === reply.id && m.state === 'DELIVERED')!.metadata['externalId']).to.equal('slow-1');
    expect(backend.for(reply.id)).to.have.length(1);
  });
});
