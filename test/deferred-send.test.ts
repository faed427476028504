import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { system, type SeedMessage } from './support/chatplugin.js';
import { initCustomer, postJson } from './support/clients.js';
import { startHub, type RunningHub } from './support/hub.js';
import { until } from './support/routing.js';
import { startTestStore, type TestStore } from './support/store.js';

/** messages.send for a conversation_id, read raw: a 202 has no body. */
async function send(hub: RunningHub, conversationId: string, text: string): Promise<{ status: number; body: string; messageId: string | null }> {
  const res = await fetch(`${hub.url}/messages.send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...system },
    body: JSON.stringify({ conversation_id: conversationId, message: { text } }),
  });
  return { status: res.status, body: await res.text(), messageId: res.headers.get('x-message-id') };
}

describe('messages.send 202: a conversation not known yet (seed 002)', function () {
  let store: TestStore;
  let hub: RunningHub;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('deferred_send'), { DEFERRED_SEND_GRACE_MS: '20000', DEFERRED_SEND_POLL_MS: '50' });
  });
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('answers 202 without a body, and sends under the announced id once the conversation appears', async () => {
    const conversationId = randomUUID();
    const res = await send(hub, conversationId, 'early bird');
    expect(res.status).to.equal(202);
    expect(res.body).to.equal('');
    expect(res.messageId).to.match(/^[0-9a-f-]{36}$/);
    // The conversation shows up later, written by someone else (another process, a migration):
    // here, a copy of an init conversation stored under the awaited id.
    const init = await initCustomer(hub.url);
    const conversations = hub.db.connection.collection('conversations');
    const original = await conversations.findOne({ _id: init.conversationId as never });
    await conversations.insertOne({ ...original, _id: conversationId as never, requestId: `copy-${conversationId}`, openKey: conversationId });
    let listed: SeedMessage[] = [];
    await until(async () => {
      const page = await postJson<{ data: SeedMessage[] }>(`${hub.url}/messages.list`, { conversation_id: conversationId }, system);
      listed = page.body.data ?? [];
      return listed.some((m) => m.content.text === 'early bird');
    }, 'the deferred message in its conversation', 10_000);
    expect(listed.find((m) => m.content.text === 'early bird')?.id).to.equal(res.messageId);
    const left = await hub.db.connection.collection('deferred_sends').countDocuments({});
    expect(left, 'the deferred send is done').to.equal(0);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).to.match(/^hub_deferred_sends_total\{outcome="deferred"\} 1$/m);
    expect(metrics).to.match(/^hub_deferred_sends_total\{outcome="sent"\} 1$/m);
  });
});
