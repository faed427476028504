import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { chatPluginChannel, newVisitor, pluginSend } from '../support/chatplugin.js';
import { connect, emitAck, postJson, sleep, type InitBody } from '../support/clients.js';
import { hubSuite } from '../support/hub-suite.js';
import { SYSTEM_TOKEN } from '../support/hub.js';
import { rawConnector } from '../support/raw-connector.js';

const SMS_KEY = 'sms-key-0123456789';
const WINDOW_MS = 2500;
type ErrorBody = { error: string; code: string };

/**
 * The attack: init with a requestId the hub uses internally (`open:<id>`, `chatplugin:<id>`) or
 * a client's guessable one (`order-1001`) handed out a customer token for a stranger's
 * conversation. Client requestIds now live under their own key space, and a replay is answered
 * only for the same request within REQUEST_ID_REPLAY_WINDOW_MS.
 */
describe('hostile: requestId replay cannot take over a conversation', function () {
  this.timeout(60_000);
  const suite = hubSuite('hostile_requestid', { CONNECTOR_KEYS: `sms:${SMS_KEY}`, REQUEST_ID_REPLAY_WINDOW_MS: String(WINDOW_MS) });

  const init = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    postJson<InitBody & ErrorBody>(`${suite.hub.url}/api/customer/init`, body, headers);

  /** Tries the token on the victim's conversation: joining it must fail if the token is not for it. */
  async function canJoin(token: string, conversationId: string, participantId: string): Promise<boolean> {
    const socket = await connect(suite.hub.url, { token });
    const ack = await emitAck(socket, 'joinConversation', { conversationId, id: participantId, name: 'x' });
    socket.close();
    return ack.ok;
  }

  it('an internal connector key ("open:<conversationId>") opens a new conversation of the caller, never the SMS customer\'s', async () => {
    const sms = await rawConnector(suite.hub.url, 'sms', SMS_KEY);
    expect((await sms.register()).ok).to.equal(true);
    const inbound = await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+4915112340001', text: 'my PIN is 4711' });
    expect(inbound.ok, JSON.stringify(inbound)).to.equal(true);
    const victim = (inbound as unknown as { conversationId: string }).conversationId;

    const res = await init({ firstName: 'Mallory', channel: 'web', email: 'm@evil.example', requestId: `open:${victim}` });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.conversationId).to.not.equal(victim);
    expect(res.body.requestId).to.equal(`open:${victim}`);
    expect(await canJoin(res.body.token, victim, res.body.participant.id)).to.equal(false);
  });

  it('an internal chat plugin key ("chatplugin:<conversationId>") gives no token for the visitor\'s conversation', async () => {
    const channelId = await chatPluginChannel(suite.hub.url);
    const visitor = await newVisitor(suite.hub.url, channelId);
    expect((await pluginSend(suite.hub.url, visitor.token, 'my address is 1 Main St')).status).to.equal(200);

    const res = await init({ firstName: 'Mallory', channel: 'web', email: 'm@evil.example', requestId: `chatplugin:${visitor.conversation_id}` });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.conversationId).to.not.equal(visitor.conversation_id);
  });

  it('a guessable requestId reused with a different body is 409 CONFLICT, with no token', async () => {
    const requestId = `order-${randomUUID().slice(0, 8)}`;
    const victim = await init({ firstName: 'Victor', lastName: 'Tim', channel: 'web', email: 'victor@example.org', requestId });
    expect(victim.status).to.equal(200);

    const attack = await init({ firstName: 'Mallory', channel: 'web', email: 'm@evil.example', requestId });
    expect(attack.status).to.equal(409);
    expect(attack.body.code).to.equal('CONFLICT');
    expect(attack.body.error).to.match(/requestId .*different/);
    expect(attack.body).to.not.have.property('token');
    expect(attack.body).to.not.have.property('conversationId');
  });

  it('the same request repeated (also concurrently, also with another timestamp) returns the same conversation', async () => {
    const body = { firstName: 'Retry', channel: 'web', email: 'retry@example.org', requestId: `req-${randomUUID()}`, plan: 'gold' };
    const [a, b, c] = await Promise.all([init(body), init(body), init({ ...body, timestamp: new Date().toISOString() })]);
    for (const r of [a, b, c]) expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(b.body.conversationId).to.equal(a.body.conversationId);
    expect(c.body.conversationId).to.equal(a.body.conversationId);
    expect(b.body.participant).to.deep.equal(a.body.participant);
    expect(a.body.requestId).to.equal(body.requestId);
    // Keys are named in any order: the request is the same.
    const reordered = await init({ plan: 'gold', requestId: body.requestId, email: 'retry@example.org', channel: 'web', firstName: 'Retry' });
    expect(reordered.body.conversationId).to.equal(a.body.conversationId);
  });

  it("one caller's requestId never answers another's: the system token's requestIds are apart from anonymous ones", async () => {
    const body = { firstName: 'Sam', channel: 'web', email: 'sam@example.org', requestId: `crm-${randomUUID()}` };
    const bySystem = await init(body, { authorization: `Bearer ${SYSTEM_TOKEN}` });
    const anonymous = await init(body);
    expect(bySystem.status).to.equal(200);
    expect(anonymous.status).to.equal(200);
    expect(anonymous.body.conversationId).to.not.equal(bySystem.body.conversationId);
  });

  it('a replay after the window is 409 CONFLICT', async () => {
    const body = { firstName: 'Late', channel: 'web', email: 'late@example.org', requestId: `req-${randomUUID()}` };
    expect((await init(body)).status).to.equal(200);
    await sleep(WINDOW_MS + 300);
    const late = await init(body);
    expect(late.status).to.equal(409);
    expect(late.body.code).to.equal('CONFLICT');
    expect(late.body.error).to.match(/window/);
  });

  it('a bad credential on init is 401, not an anonymous init', async () => {
    const res = await init({ firstName: 'A', channel: 'web', email: 'a@example.org' }, { authorization: 'Bearer not-a-token' });
    expect(res.status).to.equal(401);
  });
});
