import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { SYSTEM_TOKEN } from '../support/hub.js';
import type { Socket } from 'socket.io-client';
import { chatPluginChannel, newVisitor, pluginSocket } from '../support/chatplugin.js';
import { agentToken, closeAllSockets, connect, emitAck, initCustomer, joinedAgent, joinedCustomer, nextEvent, postJson, record, sleep, type AnyAck } from '../support/clients.js';
import { clusterTestEnv, clusterToolsMissing, startHubs, startRedis, type RunningRedis } from '../support/cluster.js';
import type { HubProcess } from '../support/hub-process.js';
import { rawConnector, until } from '../support/raw-connector.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

type Wire = { id: string; seq: number; conversationId: string; text?: string; tag?: string; state?: string; type?: string; activityType?: string };

const SMS_KEY = 'sms-cluster-key-0123456789';
const WEBHOOK_SECRET = 'cluster-webhook-secret-0123456789';

/**
 * Contract §7 scale-out (issue 15, items 1 and 2): three real hub processes on one database and
 * one real redis-server. A customer on one process, its agent on another and the channel's
 * connector on a third talk exactly as on one process; nothing users see is per process.
 */
describe('scale-out: several hub processes over Redis', function () {
  this.timeout(90_000);
  let store: TestStore;
  let redis: RunningRedis;
  let hubs: HubProcess[] = [];
  let receiver: WebhookReceiver;
  const url = (i: number): string => hubs[i]!.url;

  before(async function () {
    const missing = clusterToolsMissing();
    if (missing) this.skip();
    this.timeout(180_000);
    store = await startTestStore();
    redis = await startRedis();
    receiver = await startWebhookReceiver(WEBHOOK_SECRET);
    hubs = await startHubs(3, store.uri('scale_out'), redis.url, {
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET,
      DEFERRED_SEND_POLL_MS: '100',
      ...clusterTestEnv(SMS_KEY, 200),
      RATE_LIMIT_CHATPLUGIN_AUTH_PER_MINUTE: '9',
    });
  });
  afterEach(function () {
    closeAllSockets();
    if (this.currentTest?.state === 'failed') {
      hubs.forEach((h, i) => console.log(`--- hub ${i} ---\n${h.logs.filter((l) => !l.includes('"level":20')).slice(-40).join('\n')}`));
    }
  });
  after(async () => {
    await Promise.all(hubs.map((h) => h.stop()));
    await redis?.stop();
    await receiver?.close();
    await store?.close();
  });

  it('a customer on A, its agent on B and the connector on C: order, targeting, whispers, typing, messageUpdated', async () => {
    const connector = await rawConnector(url(2), 'sms', SMS_KEY);
    expect((await connector.register()).ok).to.equal(true);
    // An SMS customer writes through the connector (process C): the conversation is the connector's.
    const inbound = (await emitAck(connector.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+15550001', text: 'hello from sms' })) as AnyAck & { conversationId: string };
    expect(inbound.ok, JSON.stringify(inbound)).to.equal(true);
    const cid = inbound.conversationId;

    // The agent on B, a second agent tab-like observer (system token) on A.
    const agent = await joinedAgent(url(1), cid, 'agent-x');
    const agentSeen = record<Wire>(agent.socket, 'messageArrived');
    const updates = record<Wire>(agent.socket, 'messageUpdated');
    const other = await joinedAgent(url(0), cid, 'agent-y');
    const otherSeen = record<Wire>(other.socket, 'messageArrived');

    const sent: Wire[] = [];
    for (let i = 1; i <= 12; i += 1) {
      const whisper = i % 4 === 0;
      const ack = (await emitAck(agent.socket, 'sendMessage', {
        conversationId: cid,
        type: 'ChatMessage',
        from: { id: 'agent-x', name: 'X' },
        to: [],
        text: `agent ${i}`,
        clientMessageId: `x-${i}`,
        ...(whisper ? { tag: 'whisper' } : {}),
      })) as AnyAck & { message: Wire };
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      sent.push(ack.message);
    }
    const forCustomer = sent.filter((m) => m.tag !== 'whisper');
    // The connector (on C) gets every non-whisper, once each, in seq order.
    await until(() => connector.received.length >= forCustomer.length, 'the connector to receive the agent messages', 15_000);
    await sleep(300);
    expect(connector.received.map((m) => m.id)).to.deep.equal(forCustomer.map((m) => m.id));
    expect(connector.received.some((m) => m.tag === 'whisper')).to.equal(false);
    // The other agent (A) sees everything, whispers included, in order.
    await until(() => otherSeen.filter((m) => m.type === 'ChatMessage').length >= sent.length, 'agent-y to see every message', 8000);
    expect(otherSeen.filter((m) => m.type === 'ChatMessage').map((m) => m.seq)).to.deep.equal(sent.map((m) => m.seq));
    // The connector's acks (stored by C) reach the agent on B as messageUpdated, DELIVERED.
    await until(() => new Set(updates.filter((u) => u.state === 'DELIVERED').map((u) => u.id)).size >= forCustomer.length, 'messageUpdated DELIVERED on B', 8000);
    // Typing from the agent on B reaches the agent on A (relayed, never stored).
    const typing = nextEvent<Wire>(other.socket, 'messageArrived', (m) => m.activityType === 'typing');
    await emitAck(agent.socket, 'sendMessage', { conversationId: cid, type: 'ActivityMessage', activityType: 'typing', from: { id: 'agent-x', name: 'X' }, to: [] });
    await typing;
    // Nothing arrived twice anywhere.
    expect(new Set(agentSeen.map((m) => m.id)).size).to.equal(agentSeen.length);
    expect(new Set(otherSeen.map((m) => m.id)).size).to.equal(otherSeen.length);
  });

  it('a web customer on A and its agent on B: both ways, whispers never to the customer', async () => {
    const customer = await joinedCustomer(url(0));
    const cid = customer.init.conversationId;
    const seenByCustomer = record<Wire>(customer.socket, 'messageArrived');
    const agent = await joinedAgent(url(1), cid, 'agent-web');
    const seenByAgent = record<Wire>(agent.socket, 'messageArrived');
    const me = customer.init.participant;
    for (let i = 0; i < 5; i += 1) {
      const c = await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: me.id, name: me.name }, to: [], text: `c${i}` });
      expect(c.ok).to.equal(true);
      const a = await emitAck(agent.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: 'agent-web', name: 'W' }, to: [], text: `a${i}`, ...(i === 2 ? { tag: 'whisper' } : {}) });
      expect(a.ok).to.equal(true);
    }
    await until(() => seenByAgent.filter((m) => m.type === 'ChatMessage' && m.text?.startsWith('c')).length === 5, 'the agent on B to get the customer messages');
    await until(() => seenByCustomer.filter((m) => m.type === 'ChatMessage' && m.text?.startsWith('a')).length === 4, 'the customer on A to get the agent messages');
    await sleep(300);
    expect(seenByCustomer.some((m) => m.tag === 'whisper' || m.text === 'a2')).to.equal(false);
    const texts = seenByCustomer.filter((m) => m.type === 'ChatMessage').map((m) => m.text);
    expect(texts).to.deep.equal(['a0', 'a1', 'a3', 'a4']);
  });

  it('a chat plugin visitor on /ws.chatplugin of A gets the agent messages sent on C', async () => {
    const channel = await chatPluginChannel(url(0));
    const visitor = await newVisitor(url(0), channel);
    const messages: Array<{ message: { content: { text?: string } } }> = [];
    await pluginSocket(url(0), visitor.token, (s) => s.on('message', (m: { message: { content: { text?: string } } }) => messages.push(m)));
    const agent = await joinedAgent(url(2), visitor.conversation_id, 'agent-plugin');
    const ack = await emitAck(agent.socket, 'sendMessage', { conversationId: visitor.conversation_id, type: 'ChatMessage', from: { id: 'agent-plugin', name: 'P' }, to: [], text: 'hi visitor' });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    await until(() => messages.some((m) => m.message.content.text === 'hi visitor'), 'the visitor on A to get the message sent on C');
  });

  it("an agent's tabs on different processes receive the same conversations", async () => {
    const token = await agentToken(url(0), 'agent-tabs');
    const tabs: Socket[] = [];
    const infos: string[][] = [[], [], []];
    for (let i = 0; i < 3; i += 1) {
      tabs.push(await connect(url(i), { token }, (s) => s.on('conversationInfo', (info: { conversation: { id: string } }) => infos[i]!.push(info.conversation.id))));
    }
    const ready = await emitAck(tabs[1]!, 'agentState', { state: 'ready' });
    expect(ready.ok, JSON.stringify(ready)).to.equal(true);
    // A customer arrives on A's HTTP; the routing (on whichever process) assigns agent-tabs.
    const customer = await joinedCustomer(url(0));
    const cid = customer.init.conversationId;
    await until(() => infos.every((got) => got.includes(cid)), 'every tab to get the conversation', 8000);
    // A customer message reaches every tab.
    const arrivals = tabs.map((tab) => nextEvent<Wire>(tab, 'messageArrived', (m) => m.text === 'to all tabs'));
    const me = customer.init.participant;
    await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: me.id, name: me.name }, to: [], text: 'to all tabs' });
    await Promise.all(arrivals);
    await emitAck(tabs[1]!, 'agentState', { state: 'notReady' });
  });

  it('a conversation ended on one process is ended at once on the others (no stale cache)', async () => {
    const customer = await joinedCustomer(url(0));
    const cid = customer.init.conversationId;
    const me = customer.init.participant;
    // The customer's sends warm process A's cache.
    expect((await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: me.id, name: me.name }, to: [], text: 'before' })).ok).to.equal(true);
    const agent = await joinedAgent(url(1), cid, 'agent-ender');
    const ended = await emitAck(agent.socket, 'endConversation', { conversationId: cid });
    expect(ended.ok, JSON.stringify(ended)).to.equal(true);
    // Well inside the cache's 2 s expiry: the hint, not the expiry, made A forget.
    await sleep(150);
    const after = await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: me.id, name: me.name }, to: [], text: 'after' });
    expect(after.ok).to.equal(false);
    expect((after as { error: { code: string } }).error.code).to.equal('CONVERSATION_ENDED');
  });

  it('rate limits count across processes (9 chatplugin.authenticate per minute per address, over three hubs)', async () => {
    const channel = await chatPluginChannel(url(0));
    const statuses: number[] = [];
    // The earlier test used one; the budget left is shared by all three processes.
    for (let i = 0; i < 12; i += 1) {
      const res = await postJson(`${url(i % 3)}/chatplugin.authenticate`, { channel_id: channel });
      statuses.push(res.status);
    }
    const accepted = statuses.filter((s) => s === 200).length;
    expect(accepted, statuses.join(',')).to.equal(8);
    expect(statuses.slice(8).every((s) => s === 429), statuses.join(',')).to.equal(true);
  });

  it('webhooks: every message stored on any of the processes is announced once, signed', async () => {
    const sent: string[] = [];
    await Promise.all(
      [0, 1, 2].map(async (i) => {
        const customer = await joinedCustomer(url(i));
        const me = customer.init.participant;
        for (let k = 0; k < 6; k += 1) {
          const ack = (await emitAck(customer.socket, 'sendMessage', { conversationId: customer.init.conversationId, type: 'ChatMessage', from: { id: me.id, name: me.name }, to: [], text: `hook ${i}.${k}` })) as AnyAck & { message: { id: string } };
          expect(ack.ok).to.equal(true);
          sent.push(ack.message.id);
        }
      }),
    );
    const createdFor = (id: string) => receiver.received.filter((h) => h.body.type === 'message.created' && (h.body.payload['message'] as { id?: string } | undefined)?.id === id);
    await receiver.until(() => sent.every((id) => createdFor(id).length > 0), 'message.created for every message', 20_000);
    // Three processes poll one outbox: still one delivery per event.
    await sleep(1500);
    for (const id of sent) {
      const hooks = createdFor(id);
      expect(hooks, `message.created of ${id}`).to.have.length(1);
      expect(hooks[0]!.signatureValid).to.equal(true);
    }
  });

  it('deferred sends: a 202 send accepted by one process is sent once, whichever process sees its conversation first', async () => {
    const conversationId = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await fetch(`${url(i)}/messages.send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SYSTEM_TOKEN}` },
        body: JSON.stringify({ conversation_id: conversationId, message: { text: `early ${i}` } }),
      });
      expect(res.status).to.equal(202);
      ids.push(res.headers.get('x-message-id') ?? '');
    }
    // The conversation appears later, written by another party (a copy of an init conversation).
    const init = await initCustomer(url(1));
    const client = await mongoose.createConnection(store.uri('scale_out')).asPromise();
    try {
      const conversations = client.collection('conversations');
      const original = await conversations.findOne({ _id: init.conversationId as never });
      await conversations.insertOne({ ...original, _id: conversationId as never, requestId: `copy-${conversationId}`, openKey: conversationId });
      const messages = client.collection('messages');
      const deadline = Date.now() + 15_000;
      let stored: Array<{ _id: unknown }> = [];
      while (Date.now() < deadline) {
        stored = await messages.find({ conversationId, _id: { $in: ids as never[] } }).toArray();
        if (stored.length >= ids.length) break;
        await sleep(100);
      }
      await sleep(1000);
      stored = await messages.find({ conversationId, type: 'ChatMessage' }).toArray();
      expect(stored.map((m) => String(m._id)).sort()).to.deep.equal([...ids].sort());
      expect(await client.collection('deferred_sends').countDocuments({})).to.equal(0);
    } finally {
      await client.close();
    }
  });
});
