import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { authenticate, bearer, chatPluginChannel, newVisitor, pluginSend, pluginSocket, resumeTokenOf, type SeedMessage, system } from '../support/chatplugin.js';
import { closeAllSockets, connect, emitAck, joinedAgent, joinedCustomer, nextEvent, postJson, record, sleep } from '../support/clients.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { rawConnector, until } from '../support/raw-connector.js';
import { startTestStore, type TestStore } from '../support/store.js';

/**
 * The attack: a customer reads what staff wrote for staff. Reply suggestions (messages.suggest-replies),
 * delivery error text and provider ids (connector acks) live in a message's metadata; a customer who
 * joins, lists or resumes must never see them, while agents and the system still do.
 */
describe('hostile: staff-only metadata never reaches customers (issue 13, item 6)', function () {
  this.timeout(30_000);
  const SMS_KEY = 'sms-key-staff-metadata-0123456789';
  const world = {} as { store: TestStore; hub: RunningHub; channelId: string };
  before(async function () {
    this.timeout(120_000);
    world.store = await startTestStore();
    world.hub = await startHub(world.store.uri('hostile_staff_metadata'), { CONNECTOR_KEYS: `sms:${SMS_KEY}` });
    world.channelId = await chatPluginChannel(world.hub.url);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await world.hub?.close();
    await world.store?.close();
  });

  const STAFF = { suggestions: ['Refund it', 'Ask for the order number'], error: 'provider said: number blocked', externalId: 'SM-secret-1' };
  const STAFF_KEYS = Object.keys(STAFF);
  const metadata = { ...STAFF, keep: 'x' };

  type Wire = { id: string; text?: string; metadata: Record<string, unknown> };
  type Info = { messages: Wire[] };
  type Page = { data: SeedMessage[] };

  /** The customer's view: no staff key, the rest intact. */
  function customerView(meta: Record<string, unknown> | undefined, where: string): void {
    expect(meta, where).to.be.an('object');
    for (const key of STAFF_KEYS) expect(meta, `${where} leaks metadata.${key}`).to.not.have.property(key);
    expect(meta, where).to.have.property('keep', 'x');
  }
  /** The staff view: everything. */
  function staffView(meta: Record<string, unknown> | undefined, where: string): void {
    expect(meta, where).to.deep.include(metadata);
  }

  const list = (conversationId: string, headers: Record<string, string>) => postJson<Page>(`${world.hub.url}/messages.list`, { conversation_id: conversationId }, headers);
  const suggest = (messageId: string) => postJson<SeedMessage>(`${world.hub.url}/messages.suggest-replies`, { message_id: messageId, suggestions: { s1: { content: { text: 'Anything else?' } } } }, system);

  it('web conversation: messageArrived, conversationInfo, the send ack and messages.list show the customer no staff metadata', async () => {
    const customer = await joinedCustomer(world.hub.url);
    const cid = customer.init.conversationId;
    const agent = await joinedAgent(world.hub.url, cid, 'agent-meta-1');
    // A second staff socket (another tab) and a second customer socket: each side gets its own view.
    const agentTab = await connect(world.hub.url, { token: (await postJson<{ token: string }>(`${world.hub.url}/api/agents/token`, { id: 'agent-meta-1', name: 'A', skills: [] }, system)).body.token });
    await emitAck(agentTab, 'joinConversation', { conversationId: cid, id: 'agent-meta-1', name: 'A' });
    const customerTab = await connect(world.hub.url, { token: customer.init.token });
    await emitAck(customerTab, 'joinConversation', { conversationId: cid, id: customer.init.participant.id, name: customer.init.participant.name });

    const seenByCustomer = nextEvent<Wire>(customer.socket, 'messageArrived', (m) => m.text === 'staff wrote this');
    const seenByCustomerTab = nextEvent<Wire>(customerTab, 'messageArrived', (m) => m.text === 'staff wrote this');
    const seenByAgentTab = nextEvent<Wire>(agentTab, 'messageArrived', (m) => m.text === 'staff wrote this');
    const customerCopies = record<Wire>(customer.socket, 'messageArrived');
    const ack = await emitAck(agent.socket, 'sendMessage', {
      conversationId: cid, type: 'ChatMessage', from: { id: 'agent-meta-1', name: 'A', role: 'agent' }, to: [], text: 'staff wrote this', metadata,
    });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    const sent = (ack as unknown as { message: Wire }).message;
    staffView(sent.metadata, 'the agent\'s send ack');
    customerView((await seenByCustomer).metadata, 'messageArrived (customer)');
    customerView((await seenByCustomerTab).metadata, 'messageArrived (customer\'s second socket)');
    staffView((await seenByAgentTab).metadata, 'messageArrived (agent\'s second socket)');
    await sleep(200);
    expect(customerCopies.filter((m) => m.id === sent.id), 'the customer gets the message exactly once').to.have.length(1);

    // The customer's own message gets reply suggestions (staff only), then the customer re-joins.
    const own = await emitAck(customer.socket, 'sendMessage', {
      conversationId: cid, type: 'ChatMessage', from: customer.init.participant, to: [], text: 'I want a refund', clientMessageId: 'refund-1',
    });
    expect(own.ok, JSON.stringify(own)).to.equal(true);
    const ownId = (own as unknown as { message: Wire }).message.id;
    expect((await suggest(ownId)).status).to.equal(200);

    const rejoin = await connect(world.hub.url, { token: customer.init.token });
    const info = nextEvent<Info>(rejoin, 'conversationInfo');
    await emitAck(rejoin, 'joinConversation', { conversationId: cid, id: customer.init.participant.id, name: customer.init.participant.name });
    const history = (await info).messages;
    customerView(history.find((m) => m.id === sent.id)?.metadata, 'conversationInfo (customer)');
    expect(history.find((m) => m.id === ownId)?.metadata, 'conversationInfo (customer): suggestions on their own message').to.not.have.property('suggestions');

    const agentAgain = await joinedAgent(world.hub.url, cid, 'agent-meta-1');
    const agentHistory = (agentAgain.info as unknown as Info).messages;
    staffView(agentHistory.find((m) => m.id === sent.id)?.metadata, 'conversationInfo (agent)');
    expect(agentHistory.find((m) => m.id === ownId)?.metadata).to.have.property('suggestions');

    const asCustomer = await list(cid, bearer(customer.init.token));
    expect(asCustomer.status, JSON.stringify(asCustomer.body)).to.equal(200);
    customerView(asCustomer.body.data.find((m) => m.id === sent.id)?.metadata, 'messages.list (customer token)');
    expect(asCustomer.body.data.find((m) => m.id === ownId)?.metadata).to.not.have.property('suggestions');
    const asSystem = await list(cid, system);
    staffView(asSystem.body.data.find((m) => m.id === sent.id)?.metadata, 'messages.list (system)');
    expect(asSystem.body.data.find((m) => m.id === ownId)?.metadata).to.have.property('suggestions');
  });

  it('chat plugin: /ws.chatplugin events, resumed history, chatplugin.send and messages.list show the visitor no staff metadata', async () => {
    const visitor = await newVisitor(world.hub.url, world.channelId);
    const cid = visitor.conversation_id;
    const resume = await resumeTokenOf(world.hub.url, visitor.token);
    const events: Array<{ message: SeedMessage }> = [];
    const plugin: Socket = await pluginSocket(world.hub.url, visitor.token, (s) => s.on('message', (p: { message: SeedMessage }) => events.push(p)));
    const first = await pluginSend(world.hub.url, visitor.token, 'hello');
    expect(first.status).to.equal(200);
    const agent = await joinedAgent(world.hub.url, cid, 'agent-meta-2');

    const arrived = nextEvent<{ message: SeedMessage }>(plugin, 'message', (p) => p.message.content.text === 'from staff');
    const ack = await emitAck(agent.socket, 'sendMessage', {
      conversationId: cid, type: 'ChatMessage', from: { id: 'agent-meta-2', name: 'B', role: 'agent' }, to: [], text: 'from staff', metadata,
    });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    const sentId = (ack as unknown as { message: Wire }).message.id;
    customerView((await arrived).message.metadata, '/ws.chatplugin message');
    expect(events.every((e) => STAFF_KEYS.every((k) => !(k in e.message.metadata))), 'no /ws.chatplugin event carries staff keys').to.equal(true);

    expect((await suggest(first.body.id)).status).to.equal(200);
    const resumed = await authenticate(world.hub.url, { resume_token: resume });
    expect(resumed.status, JSON.stringify(resumed.body)).to.equal(200);
    customerView(resumed.body.messages.find((m) => m.id === sentId)?.metadata, 'chatplugin.authenticate history');
    expect(resumed.body.messages.find((m) => m.id === first.body.id)?.metadata, 'resumed history: suggestions').to.not.have.property('suggestions');

    const page = await list(cid, bearer(resumed.body.token));
    expect(page.status).to.equal(200);
    customerView(page.body.data.find((m) => m.id === sentId)?.metadata, 'messages.list (chat plugin token)');
    expect(page.body.data.find((m) => m.id === first.body.id)?.metadata).to.not.have.property('suggestions');

    // A retried chatplugin.send (same Idempotency-Key) answers with the stored message: still the visitor's view.
    const headers = { ...bearer(resumed.body.token), 'idempotency-key': 'retry-1' };
    const once = await postJson<SeedMessage>(`${world.hub.url}/chatplugin.send`, { message: { text: 'again' } }, headers);
    expect(once.status).to.equal(200);
    expect((await suggest(once.body.id)).status).to.equal(200);
    const retried = await postJson<SeedMessage>(`${world.hub.url}/chatplugin.send`, { message: { text: 'again' } }, headers);
    expect(retried.body.id).to.equal(once.body.id);
    expect(retried.body.metadata, 'chatplugin.send retry').to.not.have.property('suggestions');

    // Staff still read it all.
    const asAgent = await list(cid, bearer((await postJson<{ token: string }>(`${world.hub.url}/api/agents/token`, { id: 'agent-meta-2', name: 'B', skills: [] }, system)).body.token));
    staffView(asAgent.body.data.find((m) => m.id === sentId)?.metadata, 'messages.list (agent)');
    expect(asAgent.body.data.find((m) => m.id === first.body.id)?.metadata).to.have.property('suggestions');
  });

  it('contacts.identify: last_message (handed on to the visitor\'s widget) carries no staff metadata', async () => {
    type Identified = { conversations: Array<{ resume_token: string | null; last_message: SeedMessage | null }> };
    const identify = () => postJson<Identified>(`${world.hub.url}/contacts.identify`, { channel_id: world.channelId, external_id: 'user-staff-metadata' }, system);
    const first = await identify();
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    const widget = await authenticate(world.hub.url, { resume_token: first.body.conversations[0]?.resume_token });
    const sent = await pluginSend(world.hub.url, widget.body.token, 'where is my parcel?');
    expect((await suggest(sent.body.id)).status).to.equal(200);
    const again = await identify();
    const last = again.body.conversations[0]?.last_message;
    expect(last?.id).to.equal(sent.body.id);
    expect(last?.metadata, 'last_message').to.not.have.property('suggestions');
  });

  it('the customer\'s connector is handed the message without staff metadata; agents still read the delivery outcome', async () => {
    const sms = await rawConnector(world.hub.url, 'sms', SMS_KEY);
    expect((await sms.register()).ok).to.equal(true);
    const inbound = await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+4915100001313', text: 'hi' });
    expect(inbound.ok, JSON.stringify(inbound)).to.equal(true);
    const cid = (inbound as unknown as { conversationId: string }).conversationId;
    const agent = await joinedAgent(world.hub.url, cid, 'agent-meta-3');
    const updated = nextEvent<Wire>(agent.socket, 'messageUpdated', (m) => m.text === 'to the phone');
    const ack = await emitAck(agent.socket, 'sendMessage', {
      conversationId: cid, type: 'ChatMessage', from: { id: 'agent-meta-3', name: 'C', role: 'agent' }, to: [], text: 'to the phone', metadata,
    });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    await until(() => sms.received.some((m) => m.text === 'to the phone'), 'the hand-over to the connector');
    const handed = sms.received.find((m) => m.text === 'to the phone') as unknown as Wire;
    customerView(handed.metadata, 'the message handed to the connector');
    expect((await updated).metadata, 'messageUpdated (agent)').to.deep.include({ externalId: `ext-${handed.id}`, keep: 'x' });
  });
});
