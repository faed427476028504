import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, joinedAgent, record } from '../support/clients.js';
import type { RunningHub } from '../support/hub.js';
import { until } from '../support/raw-connector.js';
import { agentJoinedTo, agentSays, conversationsOf as channelConversations, startConnectorHub, type HubMessage as Msg } from './connector-hub.js';
import { ConnectorProcess, postWebhook } from './connector-process.js';
import { GraphStandIn } from './fb-graph-stand-in.js';

/**
 * The facebook connector end to end: the real hub, the real connector process, and a local
 * stand-in for the Graph API Send API. The test plays Meta (signed webhooks) and an agent.
 */

const FB_KEY = 'fb-e2e-key-0123456789';
const APP_SECRET = 'e2e-app-secret-abcdef';
const VERIFY_TOKEN = 'e2e-verify-token-123';
const PAGE_TOKEN = 'EAAG-e2e-page-access-token';
const PAGE_ID = '100200300400';
const GRAPH_VERSION = 'v21.0';

const sign = (raw: string, secret = APP_SECRET): string => `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

let psids = 0;
/** A fresh page-scoped id per test. */
const newPsid = (): string => `${Date.now()}${String((psids += 1)).padStart(3, '0')}`;

function messageBody(psid: string, message: Record<string, unknown>): Record<string, unknown> {
  const now = Date.now();
  return { object: 'page', entry: [{ id: PAGE_ID, time: now, messaging: [{ sender: { id: psid }, recipient: { id: PAGE_ID }, timestamp: now, message }] }] };
}

describe('facebook connector (e2e: real hub, real connector process, stand-in Graph API)', function () {
  this.timeout(20_000);
  let hub: RunningHub;
  const graph = new GraphStandIn(PAGE_TOKEN);
  const connector = new ConnectorProcess(
    'facebook',
    () => ({
      HUB_URL: hub.url,
      CONNECTOR_KEY: FB_KEY,
      FB_APP_SECRET: APP_SECRET,
      FB_VERIFY_TOKEN: VERIFY_TOKEN,
      FB_PAGE_ACCESS_TOKEN: PAGE_TOKEN,
      FB_GRAPH_BASE: graph.url,
      FB_GRAPH_VERSION: GRAPH_VERSION,
      FB_API_TIMEOUT_MS: '2000',
    }),
    'health',
  );
  const { logs } = connector;

  before(async function () {
    this.timeout(120_000);
    hub = await startConnectorHub('connector_facebook', { id: 'fb', key: FB_KEY, ackTimeoutMs: 5_000, maxAttempts: 4 });
    await graph.start();
    await connector.start();
    expect(logs.some((l) => l.includes('"event":"registered"'))).to.equal(true);
  });

  afterEach(() => closeAllSockets());
  after(async function () {
    this.timeout(30_000);
    await connector.stop();
    await graph.close();
    await hub?.close();
  });

  const postEvent = (raw: string, signature: string | null = sign(raw)): Promise<Response> =>
    postWebhook(`${connector.url}/webhook`, 'application/json', raw, signature === null ? null : ['x-hub-signature-256', signature]);

  const conversationsOf = (psid: string): ReturnType<typeof channelConversations> => channelConversations(hub.url, 'fb', psid);

  /** A customer message from a new PSID, relayed through the connector; the conversation it opened and a joined agent. */
  async function customerConversation(agentId: string): Promise<{ psid: string; conversationId: string; agent: Socket }> {
    const psid = newPsid();
    const res = await postEvent(JSON.stringify(messageBody(psid, { mid: `m_in_${psid}`, text: 'hello from Messenger' })));
    expect(res.status).to.equal(200);
    return { psid, ...(await agentJoinedTo(hub.url, 'fb', psid, agentId)) };
  }

  /** The agent replies; resolves with the reply once the hub announced it in a final state. */
  async function agentReply(agent: Socket, agentId: string, conversationId: string, text: string): Promise<Msg> {
    const updates = record<Msg>(agent, 'messageUpdated');
    const { id } = await agentSays(agent, agentId, conversationId, text);
    await until(() => updates.some((m) => m.id === id && m.state !== 'PENDING'), `a final state for "${text}"`, 15_000);
    return updates.filter((m) => m.id === id && m.state !== 'PENDING').at(-1)!;
  }

  it('answers the verification handshake: the challenge for the right token, 403 for a wrong one', async () => {
    const q = (token: string) => new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': '987654321' }).toString();
    const right = await fetch(`${connector.url}/webhook?${q(VERIFY_TOKEN)}`);
    expect(right.status).to.equal(200);
    expect(await right.text()).to.equal('987654321');
    const wrong = await fetch(`${connector.url}/webhook?${q('not-the-token')}`);
    expect(wrong.status).to.equal(403);
    expect(await wrong.text()).to.not.contain('987654321');
  });

  it('relays a message from a new PSID into a new fb conversation; an agent sees its text and image, a redelivery is stored once', async () => {
    const psid = newPsid();
    const imageUrl = 'https://scontent.example.net/v/t1.15752-9/photo_123.jpg?oh=abc';
    const raw = JSON.stringify(messageBody(psid, { mid: `m_${psid}`, text: 'My order is late', attachments: [{ type: 'image', payload: { url: imageUrl } }] }));
    const first = await postEvent(raw);
    expect(first.status).to.equal(200);
    expect(await first.text()).to.equal('EVENT_RECEIVED');

    const conversations = await conversationsOf(psid);
    expect(conversations).to.have.length(1);
    expect(conversations[0]!.channel).to.equal('fb');

    // Meta redelivers the same event (same mid): acknowledged again, stored once.
    const again = await postEvent(raw);
    expect(again.status).to.equal(200);

    const { info } = await joinedAgent(hub.url, conversations[0]!.id, 'agent-fb-1');
    const chats = (info['messages'] as Msg[]).filter((m) => m.type === 'ChatMessage');
    expect(chats).to.have.length(1);
    expect(chats[0]).to.deep.include({ text: 'My order is late', clientMessageId: `m_${psid}` });
    expect(chats[0]!.from.role).to.equal('customer');
    expect(chats[0]!.metadata).to.deep.include({ pageId: PAGE_ID });
    expect(chats[0]!.attachments).to.deep.equal([{ type: 'image/jpeg', name: 'image-1.jpg', contentUrl: imageUrl }]);
    expect(await conversationsOf(psid)).to.have.length(1);
  });

  it('refuses a bad signature with 403 and stores nothing', async () => {
    const psid = newPsid();
    const raw = JSON.stringify(messageBody(psid, { mid: `m_forged_${psid}`, text: 'forged' }));
    expect((await postEvent(raw, sign(raw, 'not-the-app-secret'))).status).to.equal(403);
    expect((await postEvent(raw, null)).status).to.equal(403);
    expect(await conversationsOf(psid)).to.deep.equal([]);
  });

  it('ignores echoes and read receipts', async () => {
    const psid = newPsid();
    const body = {
      object: 'page',
      entry: [
        {
          id: PAGE_ID,
          time: Date.now(),
          messaging: [
            { sender: { id: PAGE_ID }, recipient: { id: psid }, timestamp: Date.now(), message: { mid: `m_echo_${psid}`, text: 'echo', is_echo: true } },
            { sender: { id: psid }, recipient: { id: PAGE_ID }, timestamp: Date.now(), read: { watermark: Date.now() } },
          ],
        },
      ],
    };
    expect((await postEvent(JSON.stringify(body))).status).to.equal(200);
    expect(await conversationsOf(psid)).to.deep.equal([]);
    expect(await conversationsOf(PAGE_ID)).to.deep.equal([]);
  });

  it("delivers an agent's reply through the Send API to the PSID; DELIVERED with the message_id as externalId", async () => {
    const { psid, conversationId, agent } = await customerConversation('agent-fb-2');
    const before = graph.calls.length;
    const reply = await agentReply(agent, 'agent-fb-2', conversationId, 'Your parcel ships today');
    const calls = graph.calls.slice(before);
    expect(calls).to.have.length(1);
    expect(calls[0]!.token).to.equal(PAGE_TOKEN);
    expect(calls[0]!.body).to.deep.equal({ recipient: { id: psid }, messaging_type: 'RESPONSE', message: { text: 'Your parcel ships today' } });
    expect(reply.state).to.equal('DELIVERED');
    expect(reply.metadata?.['externalId']).to.equal(calls[0]!.messageId);
  });

  it('retries when the Graph API answers 500, then records one successful send (DELIVERED)', async () => {
    const { psid, conversationId, agent } = await customerConversation('agent-fb-3');
    const before = graph.calls.length;
    graph.script.push({ status: 500, body: { error: { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', code: 2, is_transient: true, fbtrace_id: 'T500' } } });
    const reply = await agentReply(agent, 'agent-fb-3', conversationId, 'Sorry for the wait');
    const calls = graph.calls.slice(before);
    expect(calls.map((c) => c.status)).to.deep.equal([500, 200]);
    expect(calls.filter((c) => c.status === 200 && c.body.recipient.id === psid)).to.have.length(1);
    expect(reply.state).to.equal('DELIVERED');
    expect(reply.metadata?.['externalId']).to.equal(calls[1]!.messageId);
  });

  it('marks a reply FAILED with metadata.error when the Graph API refuses it for good (code 100)', async () => {
    const { conversationId, agent } = await customerConversation('agent-fb-4');
    const before = graph.calls.length;
    graph.script.push({ status: 400, body: { error: { message: '(#100) No matching user found', type: 'OAuthException', code: 100, error_subcode: 2018001, fbtrace_id: 'T100' } } });
    const reply = await agentReply(agent, 'agent-fb-4', conversationId, 'Are you still there?');
    expect(graph.calls.slice(before)).to.have.length(1, 'a permanent error is not retried');
    expect(reply.state).to.equal('FAILED');
    expect(String(reply.metadata?.['error'])).to.contain('No matching user found').and.contain('100');
  });

  it('never logged a secret, and stops cleanly on SIGTERM', async () => {
    connector.child!.kill('SIGTERM');
    expect(await connector.exit).to.equal(0);
    expect(logs.some((l) => l.includes('"event":"stopped"'))).to.equal(true);
    const all = logs.join('\n');
    for (const secret of [PAGE_TOKEN, APP_SECRET, VERIFY_TOKEN, FB_KEY]) expect(all).to.not.contain(secret);
  });
});
