import { expect } from 'chai';
import { bearer, chatPluginChannel, newVisitor, pluginSend } from '../support/chatplugin.js';
import { closeAllSockets, connect, emitAck, joinedCustomer, nextEvent, postJson } from '../support/clients.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

/**
 * The attack: text with a NUL character (U+0000). Many stores and consumers cut or refuse it
 * (PostgreSQL-backed stores refuse the whole document), so a hub that accepted it could ack a
 * message it cannot store or read back as sent. Every input refuses it up front with a
 * BAD_REQUEST naming the field, and the conversation goes on.
 */
describe('hostile: NUL characters in any text are refused by name, never half-stored', function () {
  this.timeout(30_000);
  const world = {} as { store: TestStore; hub: RunningHub };
  before(async function () {
    this.timeout(120_000);
    world.store = await startTestStore();
    world.hub = await startHub(world.store.uri('hostile_nul_text'));
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await world.hub?.close();
    await world.store?.close();
  });

  it('socket sendMessage: the text and a metadata key are refused by name; a clean message after them is stored and delivered', async () => {
    const customer = await joinedCustomer(world.hub.url);
    const cid = customer.init.conversationId;
    const from = customer.init.participant;
    const bad = await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, to: [], text: 'before\u0000after' });
    expect(bad.ok).to.equal(false);
    if (bad.ok) return;
    expect(bad.error.code).to.equal('BAD_REQUEST');
    expect(bad.error.message).to.contain('text').and.to.contain('NUL');

    const badKey = await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, to: [], text: 'ok', metadata: { 'a\u0000b': 1 } });
    expect(badKey.ok).to.equal(false);
    if (!badKey.ok) expect(badKey.error.message).to.contain('metadata').and.to.contain('NUL');

    const good = await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, to: [], text: 'still here' });
    expect(good.ok, JSON.stringify(good)).to.equal(true);
    // A second tab joining now reads back exactly the clean message: nothing of the refused ones.
    const tab = await connect(world.hub.url, { token: customer.init.token });
    const info = nextEvent<{ messages: Array<{ type: string; text?: string }> }>(tab, 'conversationInfo');
    await emitAck(tab, 'joinConversation', { conversationId: cid, id: from.id, name: from.name });
    const texts = (await info).messages.filter((m) => m.type === 'ChatMessage').map((m) => m.text);
    expect(texts).to.deep.equal(['still here']);
  });

  it('HTTP: customer init and the chat plugin refuse NUL with 400 naming the field', async () => {
    const init = await postJson<{ code: string; error: string }>(`${world.hub.url}/api/customer/init`, {
      firstName: 'Ja\u0000ne', lastName: 'Doe', email: 'jane@example.org', channel: 'web',
    });
    expect(init.status).to.equal(400);
    expect(init.body.code).to.equal('BAD_REQUEST');
    expect(init.body.error).to.contain('firstName').and.to.contain('NUL');

    const channelId = await chatPluginChannel(world.hub.url);
    const visitor = await newVisitor(world.hub.url, channelId);
    const sent = await pluginSend(world.hub.url, visitor.token, 'x\u0000y');
    expect(sent.status).to.equal(400);
    const list = await postJson<{ data: unknown[] }>(`${world.hub.url}/messages.list`, { conversation_id: visitor.conversation_id }, bearer(visitor.token));
    expect(list.status).to.equal(200);
    expect(list.body.data, 'nothing of the refused send was stored').to.have.length(0);
  });
});
