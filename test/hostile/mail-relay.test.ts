import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { authenticate, chatPluginChannel, pluginSend, system } from '../support/chatplugin.js';
import { agentToken, closeAllSockets, connect, emitAck, joinedCustomer, postJson, sleep, type JoinedCustomer } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { startTestStore, type TestStore } from '../support/store.js';

const PER_RECIPIENT = 2;
const GLOBAL = 5;

interface Fetched {
  status: number;
  body: { error?: string; code?: string };
  retryAfter: string | null;
}

/**
 * The attack (open relay): init with a victim's address, write any text, end the conversation and
 * have the hub mail it from MAIL_FROM. A customer may now have the transcript mailed only to an
 * address a trusted party set, and all transcript mail is rate limited per recipient and overall.
 */
describe('hostile: the transcript mail is no open relay', function () {
  this.timeout(60_000);
  let store: TestStore;
  let smtp: SmtpSink;
  let hub: RunningHub;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    smtp = new SmtpSink();
    const port = await smtp.listen();
    hub = await startHub(store.uri('hostile_mail_relay'), {
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      MAIL_FROM: 'Support <support@hub.example>',
      RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '1000',
      MAIL_PER_RECIPIENT_PER_HOUR: String(PER_RECIPIENT),
      MAIL_GLOBAL_PER_MINUTE: String(GLOBAL),
    });
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await smtp?.close();
    await store?.close();
  });

  async function mail(conversationId: string, token: string, to?: string): Promise<Fetched> {
    const query = to === undefined ? '' : `?to=${encodeURIComponent(to)}`;
    const res = await fetch(`${hub.url}/api/customer/transcript/${conversationId}/email${query}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Fetched['body'], retryAfter: res.headers.get('retry-after') };
  }

  /** A customer who wrote `text` and ended the conversation. */
  async function endedConversation(email: string, text: string, headers: Record<string, string> = {}): Promise<JoinedCustomer> {
    const c = await joinedCustomer(hub.url, { email }, headers);
    const me = { id: c.init.participant.id, name: c.init.participant.name };
    expect((await emitAck(c.socket, 'sendMessage', { conversationId: c.init.conversationId, type: 'ChatMessage', from: me, text })).ok).to.equal(true);
    expect((await emitAck(c.socket, 'endConversation', { conversationId: c.init.conversationId })).ok).to.equal(true);
    return c;
  }

  it('an anonymous customer cannot have the hub mail their text to an address they typed', async () => {
    const victim = `victim-${randomUUID().slice(0, 8)}@target.example`;
    const spam = await endedConversation(victim, 'Cheap pills at https://spam.example');
    const before = smtp.received.length;
    const res = await mail(spam.init.conversationId, spam.init.token);
    await sleep(300);
    expect(smtp.received.slice(before).flatMap((m) => m.recipients), 'nothing may be sent').to.deep.equal([]);
    expect(res.status).to.equal(403);
    expect(res.body.code).to.equal('FORBIDDEN');
    expect(res.body.error).to.match(/trusted/);
  });

  it('an agent may still mail that transcript to the customer on request', async () => {
    const address = `typed-${randomUUID().slice(0, 8)}@example.org`;
    const c = await endedConversation(address, 'please send me the transcript');
    const before = smtp.received.length;
    const res = await mail(c.init.conversationId, await agentToken(hub.url, 'agent-mail'));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect((await smtp.next(before)).recipients).to.deep.equal([address]);
  });

  it('a customer may have it mailed to the address a trusted party set (system-token init)', async () => {
    const address = `trusted-${randomUUID().slice(0, 8)}@example.org`;
    const c = await endedConversation(address, 'thanks', system);
    const before = smtp.received.length;
    const res = await mail(c.init.conversationId, c.init.token);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect((await smtp.next(before)).recipients).to.deep.equal([address]);
  });

  it('a chat plugin visitor identified by contacts.identify may have it mailed to the contact address', async () => {
    const channelId = await chatPluginChannel(hub.url);
    const address = `contact-${randomUUID().slice(0, 8)}@example.org`;
    const identified = await postJson<{ conversations: Array<{ id: string; resume_token: string }> }>(`${hub.url}/contacts.identify`, { channel_id: channelId, email: address }, system);
    expect(identified.status, JSON.stringify(identified.body)).to.equal(200);
    const [conversation] = identified.body.conversations;
    const widget = await authenticate(hub.url, { resume_token: conversation?.resume_token });
    expect(widget.status).to.equal(200);
    expect((await pluginSend(hub.url, widget.body.token, 'hello')).status).to.equal(200);
    const systemSocket = await connect(hub.url, { token: SYSTEM_TOKEN });
    expect((await emitAck(systemSocket, 'endConversation', { conversationId: widget.body.conversation_id })).ok).to.equal(true);
    const before = smtp.received.length;
    const res = await mail(widget.body.conversation_id, widget.body.token);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect((await smtp.next(before)).recipients).to.deep.equal([address]);
  });

  it(`rate limits mail per recipient (${PER_RECIPIENT}/h) and overall (${GLOBAL}/min) with 429 RATE_LIMITED and Retry-After`, async () => {
    // This test runs last: earlier tests sent 3 mails, within the global budget.
    const c = await endedConversation(`rl-${randomUUID().slice(0, 8)}@example.org`, 'x', system);
    const flooded = `flooded-${randomUUID().slice(0, 8)}@example.org`;
    const statuses: number[] = [];
    for (let i = 0; i < PER_RECIPIENT; i += 1) statuses.push((await mail(c.init.conversationId, SYSTEM_TOKEN, flooded)).status);
    expect(statuses).to.deep.equal([200, 200]);
    const refused = await mail(c.init.conversationId, SYSTEM_TOKEN, flooded.toUpperCase());
    expect(refused.status).to.equal(429);
    expect(refused.body.code).to.equal('RATE_LIMITED');
    expect(refused.body.error).to.match(/this address/);
    expect(Number(refused.retryAfter)).to.be.greaterThan(0);

    // The global budget (5 a minute): 3 earlier + 2 above are spent; another address is refused too.
    const other = await mail(c.init.conversationId, SYSTEM_TOKEN, `other-${randomUUID().slice(0, 8)}@example.org`);
    expect(other.status).to.equal(429);
    expect(other.body.error).to.match(/too many transcript mails/);
    expect(Number(other.retryAfter)).to.be.greaterThan(0);
  });
});
