import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { ApiClient, agentToken, chatPluginToken, coverageGaps, customerToken, systemToken, type Exchange } from './support/api-client.js';
import { endAsSystem, SECTION_6_NEW_OPERATIONS, startHubWithRoutes } from './support/api-fixtures.js';
import { agentToken as mintAgentToken, closeAllSockets, initCustomer } from './support/clients.js';
import { routeAnswers, type RouteEntry } from './support/express-routes.js';
import type { RunningHub } from './support/hub.js';
import { OpenApiContract } from './support/openapi-contract.js';
import { startTestStore, type TestStore } from './support/store.js';

type SeedMessage = { id: string; conversation_id: string; from_contact: boolean; content: { text: string }; metadata: Record<string, unknown> };
type Authenticated = { token: string; messages: SeedMessage[]; conversation_id: string; channel_id: string };
type Page = { data: SeedMessage[]; pagination_data: { previous_cursor: string | null; next_cursor: string | null; total: number } };
type Identified = { contact: { id: string; email: string | null }; conversations: Array<{ id: string; resume_token: string }> };

const SMS_CHANNEL = 'promo-sms';

/**
 * CONTRACT.md §6 endpoints that are being implemented now: documented in docs/openapi.yaml and
 * checked here the same way as the others. Until they land these tests fail (404: no route).
 */
describe('§6 endpoints against docs/openapi.yaml', function () {
  this.timeout(30_000);
  const contract = new OpenApiContract();
  const exchanges: Exchange[] = [];
  let store: TestStore;
  let hub: RunningHub;
  let routes: RouteEntry[];
  let api: ApiClient;
  let channelId: string;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    ({ hub, routes } = await startHubWithRoutes(store.uri('openapi_section6'), {
      CHANNELS: JSON.stringify([{ id: SMS_CHANNEL, source: 'sms', name: 'Promotions' }]),
    }));
    api = new ApiClient(hub.url, contract, exchanges);
    const channel = await api.post<{ id: string }>('/channels.connect', { auth: systemToken, body: { source: 'chat_plugin', name: 'Website' } });
    channelId = channel.body.id;
  });
  after(async () => {
    closeAllSockets();
    await hub?.close();
    await store?.close();
  });

  /** A new chat plugin conversation. */
  async function authenticate(): Promise<Authenticated> {
    const res = await api.post<Authenticated>('/chatplugin.authenticate', { body: { channel_id: channelId } });
    expect(res.status).to.equal(200);
    return res.body;
  }

  async function say(token: string, text: string): Promise<SeedMessage> {
    const res = await api.post<SeedMessage>('/chatplugin.send', { auth: chatPluginToken(token), body: { message: { text } } });
    expect(res.status).to.equal(200);
    return res.body;
  }

  async function resumeToken(token: string): Promise<string> {
    const res = await api.post<{ resume_token: string }>('/chatplugin.resumeToken', { auth: chatPluginToken(token), body: {} });
    expect(res.status).to.equal(200);
    return res.body.resume_token;
  }

  it('the hub routes every new §6 operation', () => {
    const unrouted = SECTION_6_NEW_OPERATIONS.filter((op) => !routes.some((r) => routeAnswers(r, ...(op.split(' ') as [string, string]))));
    expect(unrouted, 'operations in docs/openapi.yaml the hub has no route for').to.deep.equal([]);
  });

  it('POST /chatplugin.authenticate: 200 for a new conversation; 400, 401, 404', async () => {
    const session = await authenticate();
    expect(session.messages).to.deep.equal([]);
    expect(session.channel_id).to.equal(channelId);
    const claims = jwt.decode(session.token) as Record<string, unknown>;
    expect(claims).to.include({ conversation_id: session.conversation_id, channel_id: channelId });
    expect((await api.post('/chatplugin.authenticate', { body: {}, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/chatplugin.authenticate', { body: { channel_id: channelId, resume_token: 'a.b.c' }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/chatplugin.authenticate', { body: { channel_id: SMS_CHANNEL } })).status).to.equal(400);
    expect((await api.post('/chatplugin.authenticate', { body: { resume_token: 'a.b.c' } })).status).to.equal(401);
    expect((await api.post('/chatplugin.authenticate', { body: { channel_id: randomUUID() } })).status).to.equal(404);
  });

  it('POST /chatplugin.send: 200 from the contact; 400, 401, 403, 409', async () => {
    const session = await authenticate();
    const message = await say(session.token, 'Hello from the website');
    expect(message).to.include({ conversation_id: session.conversation_id, from_contact: true });
    expect(message.content.text).to.equal('Hello from the website');
    const auth = chatPluginToken(session.token);
    expect((await api.post('/chatplugin.send', { auth, body: { message: {} }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/chatplugin.send', { body: { message: { text: 'x' } } })).status).to.equal(401);
    const agent = agentToken(await mintAgentToken(hub.url, 'agent-s6-send'));
    expect((await api.post('/chatplugin.send', { auth: agent, body: { message: { text: 'x' } } })).status).to.equal(403);
    await endAsSystem(hub.url, session.conversation_id);
    expect((await api.post('/chatplugin.send', { auth, body: { message: { text: 'too late' } } })).status).to.equal(409);
  });

  it('POST /chatplugin.resumeToken: 200 with the chat plugin or the system token; resuming returns the history; 400, 401, 403, 404', async () => {
    const session = await authenticate();
    const first = await say(session.token, 'first');
    const second = await say(session.token, 'second');
    const mine = await resumeToken(session.token);
    const onBehalf = await api.post<{ resume_token: string }>('/chatplugin.resumeToken', { auth: systemToken, body: { channel_id: channelId, conversation_id: session.conversation_id } });
    expect(onBehalf.status).to.equal(200);
    for (const resume_token of [mine, onBehalf.body.resume_token]) {
      const resumed = await api.post<Authenticated>('/chatplugin.authenticate', { body: { resume_token } });
      expect(resumed.status).to.equal(200);
      expect(resumed.body.conversation_id).to.equal(session.conversation_id);
      expect(resumed.body.messages.map((m) => m.id)).to.deep.equal([first.id, second.id]);
    }
    expect((await api.post('/chatplugin.resumeToken', { auth: systemToken, body: {} })).status).to.equal(400);
    expect((await api.post('/chatplugin.resumeToken', { body: {} })).status).to.equal(401);
    const agent = agentToken(await mintAgentToken(hub.url, 'agent-s6-resume'));
    expect((await api.post('/chatplugin.resumeToken', { auth: agent, body: {} })).status).to.equal(403);
    expect((await api.post('/chatplugin.resumeToken', { auth: systemToken, body: { channel_id: channelId, conversation_id: randomUUID() } })).status).to.equal(404);
    const web = await initCustomer(hub.url);
    expect((await api.post('/chatplugin.resumeToken', { auth: systemToken, body: { channel_id: channelId, conversation_id: web.conversationId } })).status).to.equal(404);
  });

  it('POST /chatplugin.revokeResumeToken: 200 by resume token, chat plugin token or system token; revoked tokens stop working; 400, 401, 403, 404', async () => {
    const session = await authenticate();
    const resume_token = await resumeToken(session.token);
    const revoked = await api.post<{ conversation_id: string; revoked: boolean }>('/chatplugin.revokeResumeToken', { body: { resume_token } });
    expect(revoked.status).to.equal(200);
    expect(revoked.body).to.deep.equal({ conversation_id: session.conversation_id, revoked: true });
    expect((await api.post('/chatplugin.authenticate', { body: { resume_token } })).status).to.equal(401);
    expect((await api.post('/chatplugin.revokeResumeToken', { auth: systemToken, body: { conversation_id: session.conversation_id } })).status).to.equal(200);
    const other = await authenticate();
    expect((await api.post('/chatplugin.revokeResumeToken', { auth: chatPluginToken(other.token), body: {} })).status).to.equal(200);
    expect((await api.post('/chatplugin.revokeResumeToken', { auth: systemToken, body: { conversation_id: 42 }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/chatplugin.revokeResumeToken', { body: { resume_token: 'a.b.c' } })).status).to.equal(401);
    const agent = agentToken(await mintAgentToken(hub.url, 'agent-s6-revoke'));
    expect((await api.post('/chatplugin.revokeResumeToken', { auth: agent, body: { conversation_id: other.conversation_id } })).status).to.equal(403);
    expect((await api.post('/chatplugin.revokeResumeToken', { auth: systemToken, body: { conversation_id: randomUUID() } })).status).to.equal(404);
  });

  it('POST /messages.list: pages oldest first for the system, agents and the conversation’s own token; 400, 401, 403, 404', async () => {
    const session = await authenticate();
    const sent = [await say(session.token, 'one'), await say(session.token, 'two'), await say(session.token, 'three')];
    const first = await api.post<Page>('/messages.list', { auth: systemToken, body: { conversation_id: session.conversation_id, page_size: 2 } });
    expect(first.status).to.equal(200);
    expect(first.body.data.map((m) => m.id)).to.deep.equal([sent[0]?.id, sent[1]?.id]);
    expect(first.body.pagination_data).to.include({ previous_cursor: null, total: 3 });
    const cursor = first.body.pagination_data.next_cursor;
    expect(cursor).to.be.a('string');
    const second = await api.post<Page>('/messages.list', { auth: chatPluginToken(session.token), body: { conversation_id: session.conversation_id, page_size: 2, cursor } });
    expect(second.body.data.map((m) => m.id)).to.deep.equal([sent[2]?.id]);
    expect(second.body.pagination_data.next_cursor).to.equal(null);
    const agent = agentToken(await mintAgentToken(hub.url, 'agent-s6-list'));
    expect((await api.post('/messages.list', { auth: agent, body: { conversation_id: session.conversation_id } })).status).to.equal(200);
    const web = await initCustomer(hub.url);
    await api.post('/messages.send', { auth: systemToken, body: { conversation_id: web.conversationId, message: { text: 'for the web customer' } } });
    expect((await api.post('/messages.list', { auth: customerToken(web.token), body: { conversation_id: web.conversationId } })).status).to.equal(200);

    expect((await api.post('/messages.list', { auth: systemToken, body: { conversation_id: session.conversation_id, page_size: 0 }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/messages.list', { auth: systemToken, body: { conversation_id: session.conversation_id, page_size: 101 }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/messages.list', { auth: systemToken, body: { conversation_id: session.conversation_id, cursor: 'not-a-cursor' } })).status).to.equal(400);
    expect((await api.post('/messages.list', { body: { conversation_id: session.conversation_id } })).status).to.equal(401);
    expect((await api.post('/messages.list', { auth: customerToken(web.token), body: { conversation_id: session.conversation_id } })).status).to.equal(403);
    expect((await api.post('/messages.list', { auth: systemToken, body: { conversation_id: randomUUID() } })).status).to.equal(404);
  });

  it('POST /messages.send answers 202 with no body for a conversation it does not know', async () => {
    const res = await api.post('/messages.send', { auth: systemToken, body: { conversation_id: randomUUID(), message: { text: 'early' } } });
    expect(res.status).to.equal(202);
    expect(res.bytes.length).to.equal(0);
  });

  it('POST /messages.suggest-replies: 200 with metadata.suggestions; 400, 401, 403, 404', async () => {
    const session = await authenticate();
    const message = await say(session.token, 'Did my refund go through?');
    const suggestions = { 'suggestion-1': { content: { text: 'Yes, it did.' } }, 'suggestion-2': { content: { text: 'Let me check.' } } };
    const res = await api.post<SeedMessage>('/messages.suggest-replies', { auth: systemToken, body: { message_id: message.id, suggestions } });
    expect(res.status).to.equal(200);
    expect(res.body.metadata['suggestions']).to.deep.equal(suggestions);
    const agent = agentToken(await mintAgentToken(hub.url, 'agent-s6-suggest'));
    expect((await api.post('/messages.suggest-replies', { auth: agent, body: { message_id: message.id, suggestions } })).status).to.equal(200);
    expect((await api.post('/messages.suggest-replies', { auth: systemToken, body: { message_id: message.id, suggestions: 'yes' }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/messages.suggest-replies', { body: { message_id: message.id, suggestions } })).status).to.equal(401);
    expect((await api.post('/messages.suggest-replies', { auth: chatPluginToken(session.token), body: { message_id: message.id, suggestions } })).status).to.equal(403);
    expect((await api.post('/messages.suggest-replies', { auth: systemToken, body: { message_id: randomUUID(), suggestions } })).status).to.equal(404);
  });

  it('POST /contacts.identify: 200 finds or creates one contact per identity; resume tokens resume; 400, 401, 403, 404, 409', async () => {
    const email = `ann-${randomUUID()}@example.org`;
    const created = await api.post<Identified>('/contacts.identify', { auth: systemToken, body: { channel_id: channelId, email, metadata: { plan: 'gold' } } });
    expect(created.status).to.equal(200);
    expect(created.body.contact.email).to.equal(email);
    const again = await api.post<Identified>('/contacts.identify', { auth: systemToken, body: { channel_id: channelId, email } });
    expect(again.body.contact.id).to.equal(created.body.contact.id);
    for (const conversation of again.body.conversations) {
      const resumed = await api.post<Authenticated>('/chatplugin.authenticate', { body: { resume_token: conversation.resume_token } });
      expect(resumed.body.conversation_id).to.equal(conversation.id);
    }
    const externalId = `crm-${randomUUID()}`;
    const other = await api.post<Identified>('/contacts.identify', { auth: systemToken, body: { channel_id: channelId, external_id: externalId } });
    expect(other.body.contact.id).to.not.equal(created.body.contact.id);
    expect((await api.post('/contacts.identify', { auth: systemToken, body: { channel_id: channelId, email, external_id: externalId } })).status).to.equal(409);
    expect((await api.post('/contacts.identify', { auth: systemToken, body: { channel_id: channelId }, invalidBody: true })).status).to.equal(400);
    expect((await api.post('/contacts.identify', { body: { channel_id: channelId, email } })).status).to.equal(401);
    const agent = agentToken(await mintAgentToken(hub.url, 'agent-s6-identify'));
    expect((await api.post('/contacts.identify', { auth: agent, body: { channel_id: channelId, email } })).status).to.equal(403);
    expect((await api.post('/contacts.identify', { auth: systemToken, body: { channel_id: randomUUID(), email } })).status).to.equal(404);
  });

  it('a chat plugin token is a customer credential: refused where customers are refused, good for its own transcript', async () => {
    const session = await authenticate();
    const message = await say(session.token, 'hi');
    const auth = chatPluginToken(session.token);
    expect((await api.post('/messages.resend', { auth, body: { message_id: message.id } })).status).to.equal(403);
    expect((await api.get('/api/conversations', { auth })).status).to.equal(403);
    expect((await api.post('/messages.send', { auth, body: { conversation_id: session.conversation_id, message: { text: 'x' } } })).status).to.equal(403);
    expect((await api.post('/channels.connect', { auth, body: { source: 'chat_plugin', name: 'Mine' } })).status).to.equal(403);
    // CONTRACT §1: chatplugin.authenticate issues a customer token, which opens its own conversation's transcript.
    await endAsSystem(hub.url, session.conversation_id);
    expect((await api.get('/api/customer/transcript/{id}/pdf', { auth, params: { id: session.conversation_id } })).status).to.equal(200);
    const other = await authenticate();
    expect((await api.get('/api/customer/transcript/{id}/pdf', { auth: chatPluginToken(other.token), params: { id: session.conversation_id } })).status).to.equal(403);
  });

  it('POST /chatplugin.authenticate is rate-limited per IP: 429 with Retry-After', async () => {
    expect(routes.some((r) => routeAnswers(r, 'POST', '/chatplugin.authenticate')), 'no route for POST /chatplugin.authenticate').to.equal(true);
    let status = 0;
    // Bounded: the default limit is far below this many requests a minute.
    for (let i = 0; i < 2000 && status !== 429; i += 1) {
      status = (await api.post('/chatplugin.authenticate', { body: { channel_id: randomUUID() } })).status;
    }
    expect(status).to.equal(429);
  });

  it('called every new §6 operation with a success', () => {
    expect(coverageGaps(SECTION_6_NEW_OPERATIONS, exchanges, { success: true }).missing, 'operations never answered 2xx').to.deep.equal([]);
  });
});
