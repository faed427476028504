import { expect } from 'chai';
import { type AuthenticateBody, bearer, chatPluginWorld, newVisitor, pluginSend, type SeedMessage, system } from './support/chatplugin.js';
import { agentToken, emitAck, initCustomer, joinedAgent, nextEvent, postJson } from './support/clients.js';

interface Page {
  data: SeedMessage[];
  pagination_data: { previous_cursor: string | null; next_cursor: string | null; total: number };
}

describe('Messages API (§6, seed 002)', function () {
  const world = chatPluginWorld('messages_api');

  const list = (body: Record<string, unknown>, headers: Record<string, string> = system) => postJson<Page>(`${world.hub.url}/messages.list`, body, headers);
  const texts = (page: Page): string[] => page.data.map((m) => m.content.text);

  /** A visitor's conversation with messages m1..m{n}. */
  async function conversationWith(n: number): Promise<AuthenticateBody> {
    const visitor = await newVisitor(world.hub.url, world.channelId);
    for (let i = 1; i <= n; i += 1) {
      const res = await pluginSend(world.hub.url, visitor.token, `m${i}`);
      if (res.status !== 200) throw new Error(`send failed: ${JSON.stringify(res.body)}`);
    }
    return visitor;
  }

  describe('POST /messages.list', () => {
    it('pages oldest first with opaque cursors and a total, stable while new messages arrive', async () => {
      const visitor = await conversationWith(7);
      const cid = visitor.conversation_id;
      const first = await list({ conversation_id: cid, page_size: 3 });
      expect(first.status, JSON.stringify(first.body)).to.equal(200);
      expect(texts(first.body)).to.deep.equal(['m1', 'm2', 'm3']);
      expect(first.body.pagination_data.total).to.equal(7);
      expect(first.body.pagination_data.previous_cursor).to.equal(null);
      const next = first.body.pagination_data.next_cursor;
      expect(next).to.be.a('string');
      // Two messages arrive between the pages: the second page still starts right after m3.
      await pluginSend(world.hub.url, visitor.token, 'm8');
      await pluginSend(world.hub.url, visitor.token, 'm9');
      const second = await list({ conversation_id: cid, page_size: 3, cursor: next });
      expect(texts(second.body)).to.deep.equal(['m4', 'm5', 'm6']);
      expect(second.body.pagination_data.total).to.equal(9);
      const third = await list({ conversation_id: cid, page_size: 3, cursor: second.body.pagination_data.next_cursor });
      expect(texts(third.body)).to.deep.equal(['m7', 'm8', 'm9']);
      expect(third.body.pagination_data.next_cursor, 'nothing after the last page').to.equal(null);
      // Backwards from the second page lands exactly on the first.
      const back = await list({ conversation_id: cid, page_size: 3, cursor: second.body.pagination_data.previous_cursor });
      expect(texts(back.body)).to.deep.equal(['m1', 'm2', 'm3']);
      expect(back.body.pagination_data.previous_cursor).to.equal(null);
      expect(back.body.pagination_data.next_cursor).to.be.a('string');
      expect(texts((await list({ conversation_id: cid, page_size: 3, cursor: back.body.pagination_data.next_cursor })).body)).to.deep.equal(['m4', 'm5', 'm6']);
      // The default page is 20: everything here.
      const all = await list({ conversation_id: cid });
      expect(texts(all.body)).to.deep.equal(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      expect(all.body.data[0]).to.include({ conversation_id: cid, from_contact: true, state: 'delivered', source: 'chat_plugin' });
      expect(all.body.data[0]).to.have.keys(['id', 'conversation_id', 'content', 'state', 'from_contact', 'sent_at', 'source', 'metadata', 'sender']);
    });

    it('shows each caller what they may read: whispers for the system and agents, not for the visitor; chat messages only', async () => {
      const visitor = await conversationWith(1);
      const cid = visitor.conversation_id;
      const { socket } = await joinedAgent(world.hub.url, cid, 'agent-ml-1');
      await emitAck(socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: 'agent-ml-1', name: 'A' }, text: 'reply' });
      await emitAck(socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: 'agent-ml-1', name: 'A' }, text: 'note', tag: 'whisper' });
      const bySystem = (await list({ conversation_id: cid })).body;
      expect(texts(bySystem)).to.deep.equal(['m1', 'reply', 'note']);
      expect(bySystem.data.map((m) => m.tag ?? null), 'whispers are marked').to.deep.equal([null, null, 'whisper']);
      const asAgent = await list({ conversation_id: cid }, bearer(await agentToken(world.hub.url, 'agent-ml-2')));
      expect(texts(asAgent.body)).to.deep.equal(['m1', 'reply', 'note']);
      const asVisitor = await list({ conversation_id: cid }, bearer(visitor.token));
      expect(asVisitor.status).to.equal(200);
      expect(texts(asVisitor.body)).to.deep.equal(['m1', 'reply']);
      expect(asVisitor.body.pagination_data.total).to.equal(2);
      // An init (Customer Channel API) customer reads their own conversation too.
      const customer = await initCustomer(world.hub.url);
      expect((await list({ conversation_id: customer.conversationId }, bearer(customer.token))).status).to.equal(200);
    });

    it('refuses bad cursors, page sizes out of range, unknown conversations, foreign and missing tokens', async () => {
      const visitor = await conversationWith(2);
      const other = await conversationWith(2);
      const cid = visitor.conversation_id;
      const garbage = await list({ conversation_id: cid, cursor: 'not-a-cursor' });
      expect(garbage.status).to.equal(400);
      expect(JSON.stringify(garbage.body)).to.contain('cursor');
      const page = await list({ conversation_id: other.conversation_id, page_size: 1 });
      const foreignCursor = await list({ conversation_id: cid, cursor: page.body.pagination_data.next_cursor });
      expect(foreignCursor.status, 'a cursor of another conversation').to.equal(400);
      const forged = Buffer.from(JSON.stringify(['m', cid, 'x', 1])).toString('base64url');
      expect((await list({ conversation_id: cid, cursor: forged })).status).to.equal(400);
      const big = await postJson<{ details: Array<{ field: string; message: string }> }>(`${world.hub.url}/messages.list`, { conversation_id: cid, page_size: 101 }, system);
      expect(big.status).to.equal(400);
      expect(big.body.details[0]).to.deep.include({ field: 'page_size' });
      expect((await list({ conversation_id: cid, page_size: 0 })).status).to.equal(400);
      expect((await list({ conversation_id: cid, page_size: 2.5 })).status).to.equal(400);
      expect((await list({ conversation_id: cid, page_size: '10' })).status).to.equal(400);
      const unknown = await list({ conversation_id: '6f1c2d4e-1111-4222-8333-444455556666' });
      expect(unknown.status).to.equal(404);
      const foreign = await list({ conversation_id: cid }, bearer(other.token));
      expect(foreign.status).to.equal(403);
      expect((await list({ conversation_id: cid }, {})).status).to.equal(401);
      expect((await list({ conversation_id: cid }, bearer('expired.or.forged'))).status).to.equal(401);
      expect((await list({})).status).to.equal(400);
    });
  });

  describe('POST /messages.suggest-replies', () => {
    it('stores suggestions in the message metadata and tells the agents (messageUpdated)', async () => {
      const visitor = await conversationWith(1);
      const cid = visitor.conversation_id;
      const [message] = (await list({ conversation_id: cid })).body.data;
      const { socket } = await joinedAgent(world.hub.url, cid, 'agent-sr-1');
      const updated = nextEvent<{ id: string; metadata: Record<string, unknown> }>(socket, 'messageUpdated', (m) => m.id === message?.id);
      const suggestions = {
        'suggestion-id-1': { content: { text: 'Great that it worked. Is there anything else you need?' } },
        'suggestion-id-2': { content: { text: 'Have a nice day!' } },
      };
      const res = await postJson<SeedMessage>(`${world.hub.url}/messages.suggest-replies`, { message_id: message?.id, suggestions }, system);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.id).to.equal(message?.id);
      expect(res.body.metadata['suggestions']).to.deep.equal(suggestions);
      expect((await updated).metadata['suggestions']).to.deep.equal(suggestions);
      // Stored: messages.list shows them; an agent may replace them.
      const asAgent = await postJson<SeedMessage>(`${world.hub.url}/messages.suggest-replies`, { message_id: message?.id, suggestions: { only: { content: { text: 'Hi!' } } } }, bearer(await agentToken(world.hub.url, 'agent-sr-1')));
      expect(asAgent.status).to.equal(200);
      expect((await list({ conversation_id: cid })).body.data[0]?.metadata['suggestions']).to.deep.equal({ only: { content: { text: 'Hi!' } } });
    });

    it('refuses unknown messages, bad bodies, visitors and missing tokens', async () => {
      const visitor = await conversationWith(1);
      const [message] = (await list({ conversation_id: visitor.conversation_id })).body.data;
      const url = `${world.hub.url}/messages.suggest-replies`;
      const good = { message_id: message?.id, suggestions: { a: { content: { text: 'x' } } } };
      expect((await postJson(url, { ...good, message_id: '6f1c2d4e-1111-4222-8333-444455556666' }, system)).status).to.equal(404);
      expect((await postJson(url, { ...good, message_id: 'nope' }, system)).status).to.equal(400);
      expect((await postJson(url, { message_id: message?.id, suggestions: { a: { content: {} } } }, system)).status).to.equal(400);
      expect((await postJson(url, { message_id: message?.id }, system)).status).to.equal(400);
      expect((await postJson(url, good, bearer(visitor.token))).status).to.equal(403);
      expect((await postJson(url, good)).status).to.equal(401);
    });
  });
});
