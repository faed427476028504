import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { chatPluginChannel, newVisitor, pluginSend, system, type SeedMessage } from './support/chatplugin.js';
import { closeAllSockets, emitAck, joinedAgent, postJson } from './support/clients.js';
import { startHub, type RunningHub } from './support/hub.js';
import { startTestStore, type TestStore } from './support/store.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'seed-api-webhook-secret-0123456789';
type HookMessage = SeedMessage & { delivery_state: string };
const messageOf = (h: ReceivedWebhook): HookMessage | undefined => h.body.payload['message'] as HookMessage | undefined;

describe('§6 endpoints and webhooks: one conversation model, one event stream', function () {
  let store: TestStore;
  let receiver: WebhookReceiver;
  let hub: RunningHub;
  let channelId: string;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    receiver = await startWebhookReceiver(SECRET);
    hub = await startHub(store.uri('seed_api_webhooks'), {
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RETRY_BASE_MS: '50',
      DEFERRED_SEND_GRACE_MS: '300',
      DEFERRED_SEND_POLL_MS: '50',
    });
    channelId = await chatPluginChannel(hub.url);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await receiver?.close();
    await store?.close();
  });

  it('a chat plugin visitor’s message is message.created with the chat plugin channel; an agent’s whisper is marked', async () => {
    const visitor = await newVisitor(hub.url, channelId);
    const cid = visitor.conversation_id;
    const sent = await pluginSend(hub.url, visitor.token, 'from the widget');
    const { socket } = await joinedAgent(hub.url, cid, 'agent-wh-1');
    await emitAck(socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: 'agent-wh-1', name: 'A' }, text: 'note to self', tag: 'whisper' });
    const got = await receiver.until((r) => r.some((h) => messageOf(h)?.content.text === 'note to self'), 'both message.created events');
    const created = got.find((h) => messageOf(h)?.id === sent.body.id);
    expect(created?.signatureValid).to.equal(true);
    expect(created?.body.type).to.equal('message.created');
    expect(created?.body.payload).to.include({ conversation_id: cid, channel_id: channelId });
    expect(messageOf(created!)).to.deep.include({ from_contact: true, source: 'chat_plugin', delivery_state: 'delivered' });
    expect(messageOf(created!)).to.not.have.property('tag');
    const whisper = got.find((h) => messageOf(h)?.content.text === 'note to self');
    expect(messageOf(whisper!)?.tag).to.equal('whisper');
  });

  it('suggest-replies is a message.updated carrying the suggestions', async () => {
    const visitor = await newVisitor(hub.url, channelId);
    const sent = await pluginSend(hub.url, visitor.token, 'can you help?');
    const suggestions = { s1: { content: { text: 'Of course!' } } };
    expect((await postJson(`${hub.url}/messages.suggest-replies`, { message_id: sent.body.id, suggestions }, system)).status).to.equal(200);
    const got = await receiver.until((r) => r.some((h) => h.body.type === 'message.updated' && messageOf(h)?.id === sent.body.id), 'message.updated');
    const updated = got.find((h) => h.body.type === 'message.updated' && messageOf(h)?.id === sent.body.id);
    expect(messageOf(updated!)?.metadata['suggestions']).to.deep.equal(suggestions);
    expect(updated?.body.payload['channel_id']).to.equal(channelId);
  });

  it('a 202 send whose conversation never appears fails as a message.updated with the error (seed 002)', async () => {
    const conversationId = randomUUID();
    const res = await fetch(`${hub.url}/messages.send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...system },
      body: JSON.stringify({ conversation_id: conversationId, message: { text: 'into the void' } }),
    });
    expect(res.status).to.equal(202);
    const messageId = res.headers.get('x-message-id');
    const got = await receiver.until((r) => r.some((h) => messageOf(h)?.id === messageId), 'the failure report', 8000);
    const failed = got.find((h) => messageOf(h)?.id === messageId);
    expect(failed?.signatureValid).to.equal(true);
    expect(failed?.body.type).to.equal('message.updated');
    expect(failed?.body.payload['conversation_id']).to.equal(conversationId);
    expect(messageOf(failed!)).to.deep.include({ id: messageId, delivery_state: 'failed', state: 'failed', from_contact: false, content: { text: 'into the void' } });
    expect(messageOf(failed!)?.metadata['error']).to.equal(`conversation ${conversationId} not found`);
    expect(await hub.db.connection.collection('deferred_sends').countDocuments({ _id: messageId as never })).to.equal(0);
  });
});
