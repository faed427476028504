import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { endAsSystem } from './support/api-fixtures.js';
import { AsyncApiContract } from './support/asyncapi-contract.js';
import { agentToken, closeAllSockets, connect, connectRefused, initCustomer, nextEvent, postJson } from './support/clients.js';
import { interfaceMembers, sourcePath } from './support/event-maps.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { SocketRecorder } from './support/socket-recorder.js';
import { startTestStore, type TestStore } from './support/store.js';

const SMS_KEY = 'sms-key-asyncapi-0123456789';
const EVENTS_TS = sourcePath('src/contracts/events.ts');
const SDK_PROTOCOL_TS = sourcePath('connectors/sdk/src/protocol.ts');

type Msg = { id: string; conversationId: string; state: string; type: string; activityType?: string };
type Info = { conversation: { id: string }; role: string };

describe('Socket.IO API matches docs/asyncapi.yaml', function () {
  this.timeout(30_000);
  const contract = new AsyncApiContract();
  const recorder = new SocketRecorder(contract);
  let store: TestStore;
  let hub: RunningHub;

  /** Asserts no captured payload broke the document so far, and starts afresh. */
  function expectConforming(): void {
    const problems = recorder.problems.splice(0);
    expect(problems, problems.join('\n')).to.deep.equal([]);
  }

  async function watched(auth: Record<string, unknown> = {}, url = hub.url, channel = 'root'): Promise<Socket> {
    if (Object.keys(auth).length > 0) recorder.check(`${channel} handshake auth`, contract.handshakeErrors(channel, 'auth', auth), auth);
    return connect(url, auth, (socket) => recorder.watch(socket, channel));
  }

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('asyncapi'), { CONNECTOR_KEYS: `sms:${SMS_KEY}` });
  });
  after(async () => {
    closeAllSockets();
    await hub?.close();
    await store?.close();
  });

  describe('the document', () => {
    it('is valid AsyncAPI 3.0 (the official JSON Schema from @asyncapi/specs)', () => {
      expect(contract.schemaErrors()).to.deep.equal([]);
    });

    it('resolves every $ref, keeps operations to their channel’s messages, and compiles every schema', () => {
      expect(contract.structureErrors()).to.deep.equal([]);
      contract.compileAll();
    });

    it('has exactly the events of the typed maps in src/contracts/events.ts, and the connector SDK’s', () => {
      expect(contract.events('root', 'receive'), 'client → hub').to.deep.equal(interfaceMembers(EVENTS_TS, 'ClientToServerEvents'));
      expect(contract.events('root', 'send'), 'hub → client').to.deep.equal(interfaceMembers(EVENTS_TS, 'ServerToClientEvents'));
      expect(contract.events('root', 'receive')).to.include.members(interfaceMembers(SDK_PROTOCOL_TS, 'ConnectorToHubEvents'));
      expect(contract.events('root', 'send')).to.include.members(interfaceMembers(SDK_PROTOCOL_TS, 'HubToConnectorEvents'));
      expect(contract.events('chatplugin', 'send')).to.deep.equal(['activity', 'error', 'message']);
      expect(contract.events('chatplugin', 'receive')).to.deep.equal([]);
    });
  });

  describe('real traffic of the default namespace', () => {
    it('a customer and agents: join, send, whisper, typing, state, transfer, leave, end, and the errors', async () => {
      const init = await initCustomer(hub.url);
      const customer = await watched({ token: init.token });
      const conversationId = init.conversationId;
      const info = nextEvent(customer, 'conversationInfo');
      expect((await recorder.emit(customer, 'joinConversation', { conversationId, id: init.participant.id, name: 'Jane' })).ok).to.equal(true);
      await info;
      const attachment = { type: 'image/png', name: 'receipt.png', contentUrl: 'https://example.org/receipt.png' };
      const chat = { conversationId, type: 'ChatMessage', from: init.participant, text: 'My refund?', attachments: [attachment], clientMessageId: 'c-1', metadata: { page: '/orders' } };
      expect((await recorder.emit(customer, 'sendMessage', chat)).ok).to.equal(true);
      expect((await recorder.emit(customer, 'sendMessage', { conversationId, type: 'ActivityMessage', from: init.participant, activityType: 'typing' })).ok).to.equal(true);

      const ann = await watched({ token: await agentToken(hub.url, 'ann', 'Ann') });
      const assigned = nextEvent<Info>(ann, 'conversationInfo', (i) => i.conversation.id === conversationId);
      expect((await recorder.emit(ann, 'agentState', { state: 'ready' })).ok).to.equal(true);
      await assigned;
      const whisper = { conversationId, type: 'ChatMessage', from: { id: 'ann', name: 'Ann' }, text: 'VIP customer', tag: 'whisper' };
      expect((await recorder.emit(ann, 'sendMessage', whisper)).ok).to.equal(true);
      const reply = nextEvent<Msg>(customer, 'messageArrived', (m) => m.type === 'ChatMessage');
      expect((await recorder.emit(ann, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: 'ann', name: 'Ann' }, text: 'Looking into it' })).ok).to.equal(true);
      await reply;

      const bob = await watched({ token: await agentToken(hub.url, 'bob', 'Bob') });
      expect((await recorder.emit(bob, 'agentState', { state: 'ready' })).ok).to.equal(true);
      const handedOver = nextEvent<Info>(bob, 'conversationInfo', (i) => i.conversation.id === conversationId);
      expect((await recorder.emit(ann, 'transferConversation', { conversationId, toAgentId: 'bob' })).ok).to.equal(true);
      await handedOver;
      expect((await recorder.emit(bob, 'leaveConversation', { conversationId })).ok).to.equal(true);
      const ended = nextEvent<Msg>(customer, 'messageArrived', (m) => m.activityType === 'endOfConversation');
      expect((await recorder.emit(customer, 'endConversation', { conversationId })).ok).to.equal(true);
      await ended;

      // Refusals: acks in the ErrorAck shape, and the document refuses what the hub refused.
      await recorder.emit(customer, 'sendMessage', { ...chat, clientMessageId: 'c-2' });
      await recorder.emit(customer, 'joinConversation', { conversationId: 'not-a-uuid', id: init.participant.id }, { invalid: true });
      await recorder.emit(customer, 'sendMessage', { ...chat, id: 'mine', clientMessageId: 'c-3' }, { invalid: true });
      await recorder.emit(ann, 'transferConversation', { conversationId, toAgentId: 'bob', toSubject: 'billing' }, { invalid: true });
      await recorder.emit(ann, 'agentState', { state: 'away' }, { invalid: true });
      const error = nextEvent(customer, 'error');
      customer.emit('endConversation', { conversationId });
      await error;
      const refused = await connectRefused(hub.url, { token: 'garbage' });
      recorder.check('root connect_error data', contract.handshakeErrors('root', 'connectError', refused.data), refused.data);
      expectConforming();
    });

    it('a connector: register, inbound sendMessage, messageArrived with its ack, messageStatus, messageUpdated', async () => {
      const sms = await watched();
      const outbound: Msg[] = [];
      sms.on('messageArrived', (message: Msg, ack: (answer: unknown) => void) => {
        outbound.push(message);
        const answer = { ok: true, externalId: `SM-${message.id}`, state: 'PENDING' };
        recorder.reply('messageArrivedToConnector', answer);
        ack(answer);
      });
      expect((await recorder.emit(sms, 'registerConnector', { id: 'sms', name: 'SMS', channel: 'sms', key: SMS_KEY })).ok).to.equal(true);
      const inbound = { type: 'ChatMessage', channel: 'sms', refId: '+4915100000009', from: { name: 'Sam' }, text: 'Hi', clientMessageId: 'SM-in-1', customer: { firstName: 'Sam', language: 'de' } };
      const received = (await recorder.emit(sms, 'sendMessage', inbound)) as { ok: true; conversationId: string };
      expect(received.ok).to.equal(true);
      const conversationId = received.conversationId;

      const cleo = await watched({ token: await agentToken(hub.url, 'cleo', 'Cleo') });
      const info = nextEvent<Info>(cleo, 'conversationInfo', (i) => i.conversation.id === conversationId);
      expect((await recorder.emit(cleo, 'joinConversation', { conversationId, id: 'cleo', name: 'Cleo' })).ok).to.equal(true);
      await info;
      const handed = nextEvent<Msg>(sms, 'messageArrived', (m) => m.conversationId === conversationId);
      const sent = (await recorder.emit(cleo, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: 'cleo', name: 'Cleo' }, text: 'Hello Sam' })) as { ok: true; message: Msg };
      expect(sent.message.state).to.equal('PENDING');
      await handed;
      const updated = nextEvent<Msg>(cleo, 'messageUpdated', (m) => m.id === sent.message.id && m.state === 'DELIVERED');
      expect((await recorder.emit(sms, 'messageStatus', { messageId: sent.message.id, state: 'DELIVERED', externalId: `SM-${sent.message.id}` })).ok).to.equal(true);
      await updated;

      const stranger = await watched();
      const closed = nextEvent(stranger, 'disconnect');
      const wrongKey = await recorder.emit(stranger, 'registerConnector', { id: 'sms', name: 'SMS', channel: 'sms', key: 'wrong-key-000' });
      expect(wrongKey.ok).to.equal(false);
      await closed;
      await recorder.emit(sms, 'messageStatus', { messageId: sent.message.id, state: 'LOST' }, { invalid: true });
      expectConforming();
    });

    it('every event and ack of the default namespace was seen in real traffic', () => {
      expect(recorder.unseen('root'), 'documented but never seen').to.deep.equal([]);
    });
  });

  /** The /ws.chatplugin namespace lands with the §6 endpoints; until then these fail. */
  describe('§6: the /ws.chatplugin namespace', () => {
    const plugin = `/ws.chatplugin`;

    async function chatPluginSession(): Promise<{ token: string; conversation_id: string }> {
      const channel = await postJson<{ id: string }>(`${hub.url}/channels.connect`, { source: 'chat_plugin', name: 'Website' }, { authorization: `Bearer ${SYSTEM_TOKEN}` });
      const session = await postJson<{ token: string; conversation_id: string }>(`${hub.url}/chatplugin.authenticate`, { channel_id: channel.body.id });
      expect(session.status, JSON.stringify(session.body)).to.equal(200);
      return session.body;
    }

    it('/ws.chatplugin: message and activity events as documented', async () => {
      const session = await chatPluginSession();
      const visitor = await watched({ token: session.token }, hub.url + plugin, 'chatplugin');
      const conversationId = session.conversation_id;
      const dan = await connect(hub.url, { token: await agentToken(hub.url, 'dan', 'Dan') }, (s) => recorder.watch(s));
      const joined = nextEvent(visitor, 'activity');
      expect((await recorder.emit(dan, 'joinConversation', { conversationId, id: 'dan', name: 'Dan' })).ok).to.equal(true);
      await joined;
      const message = nextEvent(visitor, 'message');
      expect((await recorder.emit(dan, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: 'dan', name: 'Dan' }, text: 'Hello from support' })).ok).to.equal(true);
      await message;
      const ended = nextEvent<{ activity: { type: string } }>(visitor, 'activity', (a) => a.activity.type === 'endOfConversation');
      await endAsSystem(hub.url, conversationId);
      await ended;
      expectConforming();
    });

    it('/ws.chatplugin: a refused handshake, and an error event before the disconnect on revocation', async () => {
      const refused = await connectRefused(hub.url + plugin, { token: 'garbage' });
      recorder.check('chatplugin connect_error data', contract.handshakeErrors('chatplugin', 'connectError', refused.data), refused.data);
      const session = await chatPluginSession();
      const visitor = await watched({ token: session.token }, hub.url + plugin, 'chatplugin');
      const error = nextEvent(visitor, 'error');
      const closed = nextEvent(visitor, 'disconnect');
      const revoked = await postJson(`${hub.url}/chatplugin.revokeResumeToken`, {}, { authorization: `Bearer ${session.token}` });
      expect(revoked.status).to.equal(200);
      await error;
      await closed;
      expectConforming();
    });

    it('every /ws.chatplugin event was seen in real traffic', () => {
      expect(recorder.unseen('chatplugin'), 'documented but never seen').to.deep.equal([]);
    });
  });
});
