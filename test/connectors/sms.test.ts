import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, joinedAgent, nextEvent, postJson, record, sleep } from '../support/clients.js';
import { SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { until } from '../support/raw-connector.js';
import { agentJoinedTo, agentSays, conversationsOf as channelConversations, startConnectorHub, type HubMessage as Msg } from './connector-hub.js';
import { ConnectorProcess, postWebhook as post } from './connector-process.js';
import { twilioError, twilioSignature as sign, TwilioStandIn } from './twilio-stand-in.js';

/**
 * The sms connector end to end: the real hub, real connector processes, and a local stand-in for
 * a Twilio-style Messages API. The test plays the provider (signed webhooks) and an agent.
 */

const SMS_KEY = 'sms-e2e-key-0123456789';
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'e2e-auth-token-9f8e7d6c5b4a';
const FROM = '+15005550006';
const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };

/** Twilio's signature with the account's auth token (or another one, to forge). */
const twilioSignature = (url: string, params: Record<string, string>, token = AUTH_TOKEN): string => sign(url, params, token);

/** Posts a webhook as the provider does: form body, X-Twilio-Signature over the URL and the params. */
function postWebhook(url: string, params: Record<string, string>, signature: string | null = twilioSignature(url, params)): Promise<Response> {
  return post(url, 'application/x-www-form-urlencoded', new URLSearchParams(params).toString(), signature === null ? null : ['x-twilio-signature', signature]);
}

/** A connector process, started once it logged that it is ready; its label `via` tells the stand-in which one sent an SMS. */
const smsConnector = (env: () => Record<string, string>, via: string): ConnectorProcess => new ConnectorProcess('sms', env, { log: '"msg":"connector ready"' }, via);

let numbers = 0;
/** A fresh customer number per test (E.164, the 555 fiction range). */
const newNumber = (): string => `+1555${String(Date.now() % 1_000_000).padStart(6, '0')}${(numbers += 1) % 10}`;
let sids = 0;
const newMessageSid = (): string => `SM${Date.now().toString(16)}${String((sids += 1)).padStart(8, '0')}`.padEnd(34, '0');

describe('sms connector (e2e: real hub, real connector processes, stand-in Messages API)', function () {
  this.timeout(20_000);
  let hub: RunningHub;
  const provider = new TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN);
  const baseEnv = (via: string): Record<string, string> => ({
    HUB_URL: hub.url,
    CONNECTOR_KEY: SMS_KEY,
    SMS_ACCOUNT_SID: ACCOUNT_SID,
    SMS_AUTH_TOKEN: AUTH_TOKEN,
    SMS_FROM: FROM,
    // SMS_API_BASE may carry a path (a proxy in front of the provider); one per process tells the stand-in who sent what.
    SMS_API_BASE: `${provider.url}/${via}`,
    SMS_API_TIMEOUT_MS: '3000',
  });
  const main = smsConnector(() => baseEnv('p1'), 'p1');
  const processes: ConnectorProcess[] = [main];

  before(async function () {
    this.timeout(120_000);
    hub = await startConnectorHub('connector_sms', { id: 'sms', key: SMS_KEY, ackTimeoutMs: 5_000, maxAttempts: 5 });
    await provider.start();
    await main.start();
  });

  afterEach(() => {
    closeAllSockets();
    provider.refuse = undefined;
    provider.onAccepted = undefined;
    provider.latencyMs = 0;
    provider.script.length = 0;
  });

  after(async function () {
    this.timeout(40_000);
    await Promise.all(processes.map((p) => p.stop()));
    await provider.close();
    await hub?.close();
  });

  const conversationsOf = (number: string): ReturnType<typeof channelConversations> => channelConversations(hub.url, 'sms', number);

  function inboundParams(from: string, body: string, extra: Record<string, string> = {}): Record<string, string> {
    return { MessageSid: newMessageSid(), AccountSid: ACCOUNT_SID, From: from, To: FROM, Body: body, NumMedia: '0', ...extra };
  }

  /** A customer SMS from a new number through `via`; the conversation it opened and a joined agent. */
  async function customerConversation(agentId: string, via = main): Promise<{ number: string; conversationId: string; agent: Socket }> {
    const number = newNumber();
    const res = await postWebhook(`${via.url}/sms/inbound`, inboundParams(number, 'Hi, I need help'));
    expect(res.status).to.equal(200);
    return { number, ...(await agentJoinedTo(hub.url, 'sms', number, agentId)) };
  }

  it('opens a conversation for an SMS from a new number; the agent sees it; a repeated webhook is stored once', async () => {
    const number = newNumber();
    const params = inboundParams(number, 'Mein Paket ist nicht angekommen', {
      NumMedia: '1',
      MediaUrl0: `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/MM1/Media/ME1`,
      MediaContentType0: 'image/jpeg',
    });
    expect((await fetch(`${main.url}/health`)).status).to.equal(200);
    const first = await postWebhook(`${main.url}/sms/inbound`, params);
    expect(first.status).to.equal(200);
    expect(first.headers.get('content-type')).to.match(/^text\/xml/);
    expect(await first.text()).to.equal('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');

    const conversations = await conversationsOf(number);
    expect(conversations).to.have.length(1);
    expect(conversations[0]!.channel).to.equal('sms');

    // The provider retries the same webhook (same MessageSid): answered again, stored once.
    expect((await postWebhook(`${main.url}/sms/inbound`, params)).status).to.equal(200);

    const { info } = await joinedAgent(hub.url, conversations[0]!.id, 'agent-sms-1');
    const chats = (info['messages'] as Msg[]).filter((m) => m.type === 'ChatMessage');
    expect(chats).to.have.length(1);
    expect(chats[0]).to.deep.include({ text: 'Mein Paket ist nicht angekommen', clientMessageId: params['MessageSid'] });
    expect(chats[0]!.from.role).to.equal('customer');
    expect(chats[0]!.metadata).to.deep.include({ to: FROM });
    expect(chats[0]!.attachments).to.deep.equal([{ type: 'image/jpeg', name: 'image-1.jpg', contentUrl: params['MediaUrl0'] }]);
    expect(await conversationsOf(number)).to.have.length(1);
  });

  it('refuses an invalid or missing signature with 403 and stores nothing', async () => {
    const number = newNumber();
    const params = inboundParams(number, 'forged');
    const url = `${main.url}/sms/inbound`;
    expect((await postWebhook(url, params, twilioSignature(url, params, 'not-the-auth-token'))).status).to.equal(403);
    expect((await postWebhook(url, params, twilioSignature(url, { ...params, Body: 'other' }))).status).to.equal(403);
    expect((await postWebhook(url, params, null)).status).to.equal(403);
    expect(await conversationsOf(number)).to.deep.equal([]);
  });

  it("sends an agent's reply as one SMS (To, From, Body); DELIVERED with the provider's sid", async () => {
    const { number, conversationId, agent } = await customerConversation('agent-sms-2');
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-sms-2', conversationId, 'Ihr Paket kommt morgen');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED', 10_000);
    const sent = provider.to(number);
    expect(sent).to.have.length(1);
    expect(sent[0]).to.deep.include({ from: FROM, body: 'Ihr Paket kommt morgen', statusCallback: null, idempotencyKey: reply.id });
    expect(updates.find((m) => m.id === reply.id && m.state === 'DELIVERED')!.metadata['externalId']).to.equal(sent[0]!.sid);
  });

  it('retries after the provider answers 500: exactly one SMS, DELIVERED', async () => {
    const { number, conversationId, agent } = await customerConversation('agent-sms-3');
    const callsBefore = provider.calls.length;
    provider.script.push(twilioError(500, 20500, 'Internal Server Error'));
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-sms-3', conversationId, 'Sorry for the wait');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED after a retry', 10_000);
    expect(provider.calls.slice(callsBefore).filter((c) => c.to === number).map((c) => c.status)).to.deep.equal([500, 201]);
    expect(provider.to(number).map((s) => s.body)).to.deep.equal(['Sorry for the wait']);
    expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.not.include('FAILED');
  });

  it('sends a campaign SMS to a new number; resend of a FAILED one sends it again; 409 for a delivered one', async () => {
    const channel = await postJson<{ id: string; source: string }>(`${hub.url}/channels.connect`, { source: 'sms', name: 'SMS campaigns' }, system);
    expect(channel.status).to.equal(200);
    const number = newNumber();
    const sendRes = await postJson<{ id: string; conversation_id: string; state: string }>(
      `${hub.url}/messages.send`,
      { source_recipient_id: number, channel_id: channel.body.id, message: { text: 'Your code is 4711' } },
      system,
    );
    expect(sendRes.status, JSON.stringify(sendRes.body)).to.equal(200);
    expect(sendRes.body.state).to.equal('pending');
    await until(() => provider.to(number).length === 1, 'the campaign SMS at the provider', 10_000);
    expect(provider.to(number)[0]).to.deep.include({ from: FROM, body: 'Your code is 4711', idempotencyKey: sendRes.body.id });

    // A second campaign message to the same number, refused by the provider (opted out) the first time.
    provider.refuse = (form) => (form.get('Body') === 'Last chance: 20% off' ? twilioError(400, 21610, 'Attempt to send to unsubscribed recipient') : undefined);
    const { socket: agent } = await joinedAgent(hub.url, sendRes.body.conversation_id, 'agent-sms-4');
    const updates = record<Msg>(agent, 'messageUpdated');
    const failing = await postJson<{ id: string; conversation_id: string }>(
      `${hub.url}/messages.send`,
      { source_recipient_id: number, channel_id: channel.body.id, message: { text: 'Last chance: 20% off' } },
      system,
    );
    expect(failing.status).to.equal(200);
    expect(failing.body.conversation_id).to.equal(sendRes.body.conversation_id);
    await until(() => updates.some((m) => m.id === failing.body.id && m.state === 'FAILED'), 'FAILED', 10_000);
    const failed = updates.find((m) => m.id === failing.body.id && m.state === 'FAILED')!;
    expect(String(failed.metadata['error'])).to.contain('21610').and.contain('unsubscribed');
    expect(provider.to(number)).to.have.length(1);

    provider.refuse = undefined;
    const resend = await postJson(`${hub.url}/messages.resend`, { message_id: failing.body.id }, system);
    expect(resend.status).to.equal(200);
    await until(() => updates.some((m) => m.id === failing.body.id && m.state === 'DELIVERED'), 'DELIVERED after resend', 10_000);
    expect(provider.to(number).map((s) => s.body)).to.deep.equal(['Your code is 4711', 'Last chance: 20% off']);
    expect((await postJson(`${hub.url}/messages.resend`, { message_id: failing.body.id }, system)).status).to.equal(409);
  });

  it('keeps messages PENDING while the connector is down and sends them in order when it is back', async function () {
    this.timeout(40_000);
    const { number, conversationId, agent } = await customerConversation('agent-sms-5');
    await main.stop('SIGTERM');
    expect(main.logs.some((l) => l.includes('"msg":"stopped"'))).to.equal(true, 'a graceful stop');
    const texts = [1, 2, 3, 4, 5].map((i) => `while offline ${i}`);
    const ids: string[] = [];
    for (const text of texts) {
      const m = await agentSays(agent, 'agent-sms-5', conversationId, text);
      expect(m.state).to.equal('PENDING');
      ids.push(m.id);
    }
    await sleep(300);
    expect(provider.to(number)).to.deep.equal([]);
    const updates = record<Msg>(agent, 'messageUpdated');
    await main.start();
    await until(() => ids.every((id) => updates.some((m) => m.id === id && m.state === 'DELIVERED')), 'five deliveries', 15_000);
    expect(provider.to(number).map((s) => s.body)).to.deep.equal(texts);
  });

  describe('with PUBLIC_URL (status callbacks)', () => {
    const withCallbacks: ConnectorProcess = smsConnector((): Record<string, string> => ({ ...baseEnv('pb'), PUBLIC_URL: withCallbacks.url }), 'pb');
    processes.push(withCallbacks);

    before(async function () {
      this.timeout(40_000);
      // One process in the pool, so every outbound message goes through the one with PUBLIC_URL.
      await main.stop();
      await withCallbacks.start();
    });
    after(async function () {
      this.timeout(40_000);
      await withCallbacks.stop();
      await main.start();
    });

    it('keeps a reply PENDING until a signed delivered callback; undelivered makes it FAILED with metadata.error', async () => {
      const { number, conversationId, agent } = await customerConversation('agent-sms-6', withCallbacks);
      const updates = record<Msg>(agent, 'messageUpdated');
      const reply = await agentSays(agent, 'agent-sms-6', conversationId, 'We shipped it');
      await until(() => provider.to(number).length === 1, 'the SMS at the provider', 10_000);
      const sms = provider.to(number)[0]!;
      expect(sms.statusCallback).to.equal(`${withCallbacks.url}/sms/status?messageId=${reply.id}`);
      await until(() => updates.some((m) => m.id === reply.id && m.metadata['externalId'] === sms.sid), 'the accepted ack', 10_000);
      expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.deep.equal(['PENDING']);

      const status = (s: string, extra: Record<string, string> = {}) => ({ MessageSid: sms.sid, AccountSid: ACCOUNT_SID, From: FROM, To: number, MessageStatus: s, ...extra });
      // `sent` is not final; a forged callback is refused.
      expect((await postWebhook(sms.statusCallback!, status('sent'))).status).to.be.oneOf([200, 204]);
      expect((await postWebhook(sms.statusCallback!, status('delivered'), twilioSignature(sms.statusCallback!, status('delivered'), 'wrong'))).status).to.equal(403);
      await sleep(200);
      expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.deep.equal(['PENDING']);

      const delivered = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.id === reply.id && m.state === 'DELIVERED');
      expect((await postWebhook(sms.statusCallback!, status('delivered'))).status).to.equal(200);
      expect((await delivered).metadata['externalId']).to.equal(sms.sid);

      const second = await agentSays(agent, 'agent-sms-6', conversationId, 'Did you get it?');
      await until(() => provider.to(number).length === 2, 'the second SMS', 10_000);
      const secondSms = provider.to(number)[1]!;
      const failed = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.id === second.id && m.state === 'FAILED');
      const res = await postWebhook(secondSms.statusCallback!, { ...status('undelivered', { ErrorCode: '30003' }), MessageSid: secondSms.sid });
      expect(res.status).to.equal(200);
      expect((await failed).metadata['error']).to.equal('provider status undelivered (error 30003)');
    });
  });

  describe('a pool of two processes', () => {
    const second = smsConnector(() => baseEnv('p2'), 'p2');
    processes.push(second);

    it('delivers every message exactly once, in order per conversation, when one member is SIGKILLed mid-traffic', async function () {
      this.timeout(45_000);
      await second.start();
      const conversations: Array<{ number: string; conversationId: string }> = [];
      for (let i = 0; i < 4; i += 1) {
        const number = newNumber();
        expect((await postWebhook(`${main.url}/sms/inbound`, inboundParams(number, `pool customer ${i}`))).status).to.equal(200);
        const [c] = await conversationsOf(number);
        conversations.push({ number, conversationId: c!.id });
      }
      // One agent socket per conversation, paced: the hub rate-limits an agent's events over all its connections (50/s).
      const agents: Socket[] = [];
      const updates: Msg[] = [];
      for (const c of conversations) {
        const { socket } = await joinedAgent(hub.url, c.conversationId, 'agent-sms-pool');
        socket.on('messageUpdated', (m: Msg) => updates.push(m));
        agents.push(socket);
      }

      // The 20th accepted SMS kills the process that sent it before the answer leaves: the
      // provider has sent that SMS but the hub never hears of it, so another member retries it.
      const byVia = new Map([main, second].map((p) => [p.label, p]));
      let killed: ConnectorProcess | undefined;
      provider.latencyMs = 10;
      provider.onAccepted = (sms) => {
        if (killed || !sms.body.startsWith('pool ') || provider.sent.filter((s) => s.body.startsWith('pool ')).length < 20) return;
        killed = byVia.get(sms.via);
        killed?.child?.kill('SIGKILL');
      };
      const replayedBefore = provider.calls.filter((c) => c.replayed).length;

      const ids: string[] = [];
      const rounds = 15;
      for (let r = 0; r < rounds; r += 1) {
        for (const [i, c] of conversations.entries()) ids.push((await agentSays(agents[i]!, 'agent-sms-pool', c.conversationId, `pool c${i} #${r}`)).id);
        await sleep(100);
      }
      expect(ids).to.have.length(60);
      const delivered = (): number => new Set(updates.filter((m) => m.state === 'DELIVERED' && ids.includes(m.id)).map((m) => m.id)).size;
      await until(() => delivered() === 60, `60 deliveries (have ${delivered()})`, 30_000);

      expect(killed, 'a member was killed mid-traffic').to.not.equal(undefined);
      expect(killed!.child!.signalCode).to.equal('SIGKILL');
      const poolSms = provider.sent.filter((s) => s.body.startsWith('pool c'));
      expect(poolSms).to.have.length(60);
      expect(new Set(poolSms.map((s) => s.body)).size).to.equal(60);
      for (const [i, c] of conversations.entries()) {
        expect(provider.to(c.number).map((s) => s.body)).to.deep.equal(Array.from({ length: rounds }, (_, r) => `pool c${i} #${r}`));
      }
      // The killed member's accepted-but-unacked SMS came back from the survivor with the same key.
      expect(provider.calls.filter((c) => c.replayed).length - replayedBefore).to.be.greaterThan(0);
      expect(updates.filter((m) => ids.includes(m.id)).map((m) => m.state)).to.not.include('FAILED');
    });
  });

  // A suite of its own: mocha runs a suite's tests before its child suites, and this must come last.
  describe('logs', () => {
    it('never contained a secret', () => {
      const all = processes.flatMap((p) => p.logs).join('\n');
      expect(all.length).to.be.greaterThan(0);
      const basic = Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64');
      for (const secret of [AUTH_TOKEN, SMS_KEY, basic]) expect(all).to.not.contain(secret);
    });
  });
});
