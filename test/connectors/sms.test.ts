import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'socket.io-client';
import { freePort } from '../../src/devstore/local-docstore.js';
import { closeAllSockets, emitAck, joinedAgent, nextEvent, postJson, record, sleep } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { until } from '../support/raw-connector.js';
import { startTestStore, type TestStore } from '../support/store.js';

/**
 * The sms connector end to end: the real hub, real connector processes, and a local stand-in for
 * a Twilio-style Messages API. The test plays the provider (signed webhooks) and an agent.
 */

const SMS_KEY = 'sms-e2e-key-0123456789';
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'e2e-auth-token-9f8e7d6c5b4a';
const FROM = '+15005550006';
const CONNECTOR_MAIN = fileURLToPath(new URL('../../../connectors/sms/dist/src/main.js', import.meta.url));
const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };

type Msg = {
  id: string;
  conversationId: string;
  type: string;
  text?: string;
  state?: string;
  clientMessageId?: string;
  attachments?: Array<{ type: string; name: string; contentUrl: string }>;
  metadata: Record<string, unknown>;
  from: { id: string; role?: string };
};

/** One SMS the stand-in accepted (a replayed Idempotency-Key adds none). */
interface SentSms {
  sid: string;
  to: string;
  from: string | null;
  body: string;
  mediaUrls: string[];
  statusCallback: string | null;
  idempotencyKey: string | null;
  /** The path prefix of the connector process that sent it (each process gets its own SMS_API_BASE). */
  via: string;
}

/** Every request to the Messages endpoint, with the answer given. */
interface ProviderCall {
  via: string;
  to: string | null;
  body: string | null;
  idempotencyKey: string | null;
  status: number;
  replayed: boolean;
}

type Answer = { status: number; body: Record<string, unknown> };

const twilioError = (status: number, code: number, message: string): Answer => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

/**
 * A stand-in Messages API: POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json with Basic
 * auth and a form body, answering 201 with a Message resource or Twilio's error JSON. Like
 * providers that honour Idempotency-Key, a key it accepted before is answered with the first
 * response and sends nothing; a key whose earlier attempt failed may be tried again.
 */
class SmsProviderStandIn {
  readonly sent: SentSms[] = [];
  readonly calls: ProviderCall[] = [];
  /** Answers for the next valid requests, in order; afterwards every valid request is accepted. */
  readonly script: Answer[] = [];
  /** Refuses matching requests (checked before the script). */
  refuse: ((form: URLSearchParams) => Answer | undefined) | undefined;
  /** Called after an SMS is recorded and before the answer goes out. */
  onAccepted: ((sms: SentSms) => void) | undefined;
  latencyMs = 0;
  url = '';
  private readonly accepted = new Map<string, Answer>();
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const send = (a: Answer, replayed = false): void => {
          setTimeout(() => {
            if (!res.destroyed) res.writeHead(a.status, { 'content-type': 'application/json', ...(replayed ? { 'idempotent-replayed': 'true' } : {}) }).end(JSON.stringify(a.body));
          }, this.latencyMs);
        };
        const match = /^(\/[a-z0-9]+)?\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
        if (req.method !== 'POST' || !match) return send(twilioError(404, 20404, 'The requested resource was not found'));
        const via = match[1]?.slice(1) ?? '';
        const expectedAuth = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
        if (match[2] !== ACCOUNT_SID || req.headers.authorization !== expectedAuth) return send(twilioError(401, 20003, 'Authenticate'));
        if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return send(twilioError(400, 20001, 'Unsupported content type'));
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
        const call: ProviderCall = { via, to: form.get('To'), body: form.get('Body'), idempotencyKey: key, status: 0, replayed: false };
        this.calls.push(call);
        const previous = key ? this.accepted.get(key) : undefined;
        if (previous) {
          Object.assign(call, { status: previous.status, replayed: true });
          return send(previous, true);
        }
        let answer: Answer | undefined;
        if (!form.get('To')) answer = twilioError(400, 21604, "A 'To' phone number is required.");
        else if (!form.get('From') && !form.get('MessagingServiceSid')) answer = twilioError(400, 21603, "A 'From' phone number is required.");
        else if (!form.get('Body') && !form.has('MediaUrl')) answer = twilioError(400, 21602, 'Message body is required.');
        answer ??= this.refuse?.(form) ?? this.script.shift();
        if (!answer) {
          const sms: SentSms = {
            sid: `SM${randomBytes(16).toString('hex')}`,
            to: form.get('To') ?? '',
            from: form.get('From'),
            body: form.get('Body') ?? '',
            mediaUrls: form.getAll('MediaUrl'),
            statusCallback: form.get('StatusCallback'),
            idempotencyKey: key,
            via,
          };
          this.sent.push(sms);
          answer = {
            status: 201,
            body: { sid: sms.sid, account_sid: ACCOUNT_SID, to: sms.to, from: sms.from, body: sms.body, status: 'queued', num_media: String(sms.mediaUrls.length), error_code: null, error_message: null },
          };
          if (key) this.accepted.set(key, answer);
          this.onAccepted?.(sms);
        }
        call.status = answer.status;
        send(answer);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** The SMS sent to `to`, oldest first. */
  to(to: string): SentSms[] {
    return this.sent.filter((s) => s.to === to);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Twilio's signature, computed here independently of the connector's code. */
function twilioSignature(url: string, params: Record<string, string>, token = AUTH_TOKEN): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac('sha1', token).update(data, 'utf8').digest('base64');
}

/** Posts a webhook as the provider does: form body, X-Twilio-Signature over the URL and the params. */
function postWebhook(url: string, params: Record<string, string>, signature: string | null = twilioSignature(url, params)): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    body: new URLSearchParams(params).toString(),
  });
}

/** A real connector process; restartable on the same port. */
class ConnectorProcess {
  child: ChildProcess | undefined;
  readonly logs: string[] = [];
  url = '';
  private port = 0;

  constructor(
    private readonly env: () => Record<string, string>,
    readonly via: string,
  ) {}

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const from = this.logs.length;
    const child = spawn(process.execPath, [CONNECTOR_MAIN], {
      env: { PATH: process.env['PATH'] ?? '', PORT: String(this.port), HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => this.logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const deadline = Date.now() + 20_000;
    while (!this.logs.slice(from).some((l) => l.includes('"msg":"connector ready"'))) {
      if (child.exitCode !== null) throw new Error(`connector ${this.via} exited with ${child.exitCode}: ${this.logs.slice(from).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`connector ${this.via} did not register: ${this.logs.slice(from).join('\n')}`);
      await sleep(50);
    }
  }

  /** Stops it (SIGTERM: graceful; SIGKILL: a crash) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

let numbers = 0;
/** A fresh customer number per test (E.164, the 555 fiction range). */
const newNumber = (): string => `+1555${String(Date.now() % 1_000_000).padStart(6, '0')}${(numbers += 1) % 10}`;
let sids = 0;
const newMessageSid = (): string => `SM${Date.now().toString(16)}${String((sids += 1)).padStart(8, '0')}`.padEnd(34, '0');

describe('sms connector (e2e: real hub, real connector processes, stand-in Messages API)', function () {
  this.timeout(20_000);
  let store: TestStore;
  let hub: RunningHub;
  const provider = new SmsProviderStandIn();
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
  const main = new ConnectorProcess(() => baseEnv('p1'), 'p1');
  const processes: ConnectorProcess[] = [main];

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('connector_sms'), {
      CONNECTOR_KEYS: `sms:${SMS_KEY}`,
      CONNECTOR_ACK_TIMEOUT_MS: '5000',
      CONNECTOR_RETRY_BASE_MS: '100',
      CONNECTOR_MAX_ATTEMPTS: '5',
    });
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
    await store?.close();
  });

  async function conversationsOf(number: string): Promise<Array<{ id: string; channel: string }>> {
    const res = await fetch(`${hub.url}/api/conversations?channel=sms&refId=${encodeURIComponent(number)}`, { headers: system });
    expect(res.status).to.equal(200);
    return ((await res.json()) as { data: Array<{ id: string; channel: string }> }).data;
  }

  function inboundParams(from: string, body: string, extra: Record<string, string> = {}): Record<string, string> {
    return { MessageSid: newMessageSid(), AccountSid: ACCOUNT_SID, From: from, To: FROM, Body: body, NumMedia: '0', ...extra };
  }

  /** A customer SMS from a new number through `via`; the conversation it opened and a joined agent. */
  async function customerConversation(agentId: string, via = main): Promise<{ number: string; conversationId: string; agent: Socket }> {
    const number = newNumber();
    const res = await postWebhook(`${via.url}/sms/inbound`, inboundParams(number, 'Hi, I need help'));
    expect(res.status).to.equal(200);
    const [conversation] = await conversationsOf(number);
    expect(conversation, 'conversation opened').to.not.equal(undefined);
    const { socket } = await joinedAgent(hub.url, conversation!.id, agentId);
    return { number, conversationId: conversation!.id, agent: socket };
  }

  async function agentSays(agent: Socket, agentId: string, conversationId: string, text: string): Promise<Msg> {
    const ack = await emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: agentId, name: 'Agent' }, text });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    return (ack as unknown as { message: Msg }).message;
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
    const withCallbacks: ConnectorProcess = new ConnectorProcess((): Record<string, string> => ({ ...baseEnv('pb'), PUBLIC_URL: withCallbacks.url }), 'pb');
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
    const second = new ConnectorProcess(() => baseEnv('p2'), 'p2');
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
      // One agent socket per conversation, paced: the hub rate-limits events per connection.
      const agents: Socket[] = [];
      const updates: Msg[] = [];
      for (const c of conversations) {
        const { socket } = await joinedAgent(hub.url, c.conversationId, 'agent-sms-pool');
        socket.on('messageUpdated', (m: Msg) => updates.push(m));
        agents.push(socket);
      }

      // The 20th accepted SMS kills the process that sent it before the answer leaves: the
      // provider has sent that SMS but the hub never hears of it, so another member retries it.
      const byVia = new Map([main, second].map((p) => [p.via, p]));
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
        await sleep(40);
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
