import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'socket.io-client';
import { freePort } from '../../src/devstore/local-docstore.js';
import { closeAllSockets, emitAck, joinedAgent, nextEvent, record, sleep } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { until } from '../support/raw-connector.js';
import { startTestStore, type TestStore } from '../support/store.js';

/**
 * The web connector end to end: the real hub, the real connector process, and a local HTTP
 * server playing the website's backend (it receives the signed callbacks). The test plays the
 * website (inbound POSTs) and an agent.
 */

const WEB_KEY = 'web-e2e-key-0123456789';
const INBOUND_TOKEN = 'web-e2e-inbound-token-0123456789';
const CALLBACK_SECRET = 'web-e2e-callback-secret-0123456789';
const CONNECTOR_MAIN = fileURLToPath(new URL('../../../connectors/web/dist/src/main.js', import.meta.url));
const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };

type Msg = {
  id: string;
  conversationId: string;
  type: string;
  text?: string;
  state?: string;
  clientMessageId?: string;
  metadata: Record<string, unknown>;
  from: { id: string; name: string; role?: string };
};

interface Callback {
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  /** Checked here, independently of the connector's code: HMAC-SHA256(secret, `${ts}.${body}`), ts within 5 minutes. */
  signatureValid: boolean;
  status: number;
}

type Reply = { status: number; body?: Record<string, unknown>; delayMs?: number };

/** The website's backend: verifies each callback's signature, answers from a script (then 200 with its own id). */
class WebsiteBackend {
  readonly callbacks: Callback[] = [];
  /** Replies for the next callbacks, in order. */
  readonly script: Reply[] = [];
  /** Message ids it took (2xx), de-duplicated by Idempotency-Key as the README tells receivers to. */
  readonly accepted = new Map<string, string>();
  /** Callbacks received, counted before any scripted delay. */
  arrivals = 0;
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.arrivals += 1;
        const body = Buffer.concat(chunks).toString('utf8');
        const ts = String(req.headers['x-hub-timestamp'] ?? '');
        const given = String(req.headers['x-hub-signature-256'] ?? '');
        const expected = `sha256=${createHmac('sha256', CALLBACK_SECRET).update(`${ts}.${body}`).digest('hex')}`;
        const signatureValid =
          given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected)) && Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // recorded as {}; the test then fails on the fields
        }
        let reply: Reply = this.script.shift() ?? { status: 200 };
        if (!signatureValid) reply = { status: 401, body: { error: 'bad signature' } };
        const key = String(req.headers['idempotency-key'] ?? '');
        if (reply.status === 200 && !reply.body) {
          const siteId = this.accepted.get(key) ?? `site-${this.accepted.size + 1}`;
          this.accepted.set(key, siteId);
          reply = { status: 200, body: { id: siteId } };
        }
        const answer = (): void => {
          this.callbacks.push({ headers: req.headers, body, json, signatureValid, status: reply.status });
          res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body ?? {}));
        };
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/chat/callback`;
  }

  /** Callbacks for one hub message. */
  for(messageId: string): Callback[] {
    return this.callbacks.filter((c) => c.json['id'] === messageId);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A real connector process. */
class ConnectorProcess {
  child: ChildProcess | undefined;
  readonly logs: string[] = [];
  url = '';
  exit: Promise<number | null> = Promise.resolve(null);

  constructor(private readonly env: () => Record<string, string>) {}

  /** Spawns it; with `waitFor`, resolves once a log line contains it. */
  async start(waitFor: string | null = '"msg":"registered with the hub"'): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [CONNECTOR_MAIN], {
      env: { PATH: process.env['PATH'] ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => this.logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    if (!waitFor) return;
    const deadline = Date.now() + 20_000;
    while (!this.logs.some((l) => l.includes(waitFor))) {
      if (child.exitCode !== null) throw new Error(`connector exited with ${child.exitCode}: ${this.logs.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`connector did not log ${waitFor}: ${this.logs.join('\n')}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([this.exit, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await this.exit;
    }
  }
}

let users = 0;
const newUser = (): string => `site-user-${Date.now().toString(36)}-${(users += 1)}`;

describe('web connector (e2e: real hub, real connector process, a website backend)', function () {
  this.timeout(20_000);
  let store: TestStore;
  let hub: RunningHub;
  const backend = new WebsiteBackend();
  const env = (): Record<string, string> => ({
    HUB_URL: hub.url,
    CONNECTOR_KEY: WEB_KEY,
    WEB_INBOUND_TOKEN: INBOUND_TOKEN,
    WEB_CALLBACK_URL: backend.url,
    WEB_CALLBACK_SECRET: CALLBACK_SECRET,
    WEB_CALLBACK_TIMEOUT_MS: '2000',
    WEB_CALLBACK_RETRIES: '1',
  });
  const connector = new ConnectorProcess(env);
  const intruder = new ConnectorProcess(() => ({ ...env(), CONNECTOR_KEY: 'not-the-web-key-0123' }));

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('connector_web'), {
      CONNECTOR_KEYS: `web:${WEB_KEY}`,
      CONNECTOR_ACK_TIMEOUT_MS: '8000',
      CONNECTOR_RETRY_BASE_MS: '100',
      CONNECTOR_MAX_ATTEMPTS: '5',
    });
    await backend.start();
    await connector.start();
  });

  afterEach(() => {
    closeAllSockets();
    backend.script.length = 0;
  });

  after(async function () {
    this.timeout(40_000);
    await Promise.all([connector.stop(), intruder.stop()]);
    await backend.close();
    await hub?.close();
    await store?.close();
  });

  function postMessage(body: unknown, token: string | null = INBOUND_TOKEN): Promise<Response> {
    return fetch(`${connector.url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
  }

  async function conversationsOf(userId: string): Promise<Array<{ id: string; channel: string }>> {
    const res = await fetch(`${hub.url}/api/conversations?channel=web&refId=${encodeURIComponent(userId)}`, { headers: system });
    expect(res.status).to.equal(200);
    return ((await res.json()) as { data: Array<{ id: string; channel: string }> }).data;
  }

  /** A website user's first message, the conversation it opened, and an agent joined to it. */
  async function userConversation(agentId: string): Promise<{ userId: string; conversationId: string; agent: Socket }> {
    const userId = newUser();
    const res = await postMessage({ userId, name: 'Jane', text: 'Hi, I need help' });
    expect(res.status).to.equal(200);
    const { conversationId } = (await res.json()) as { conversationId: string };
    const { socket } = await joinedAgent(hub.url, conversationId, agentId);
    return { userId, conversationId, agent: socket };
  }

  async function agentSays(agent: Socket, agentId: string, conversationId: string, text: string): Promise<Msg> {
    const ack = await emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: agentId, name: 'Alex', role: 'agent' }, text });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    return (ack as unknown as { message: Msg }).message;
  }

  it('reports health with the registration', async () => {
    const res = await fetch(`${connector.url}/health`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok', registered: true });
  });

  it('relays an inbound POST into a conversation the agent sees; a repeated messageId is stored once', async () => {
    const userId = newUser();
    const first = await postMessage({ userId, name: 'Jane Doe', text: 'Where is my order?', messageId: 'site-msg-1', metadata: { page: '/orders/17' } });
    expect(first.status).to.equal(200);
    const stored = (await first.json()) as { conversationId: string; messageId: string };
    expect(stored.conversationId).to.be.a('string');
    expect(stored.messageId).to.be.a('string');

    const conversations = await conversationsOf(userId);
    expect(conversations.map((c) => [c.id, c.channel])).to.deep.equal([[stored.conversationId, 'web']]);

    // The website retries the same message: same answer, nothing new stored.
    const again = await postMessage({ userId, name: 'Jane Doe', text: 'Where is my order?', messageId: 'site-msg-1', metadata: { page: '/orders/17' } });
    expect(again.status).to.equal(200);
    expect(await again.json()).to.deep.equal(stored);

    const { socket: agent, info } = await joinedAgent(hub.url, stored.conversationId, 'agent-web-1');
    const chats = (info['messages'] as Msg[]).filter((m) => m.type === 'ChatMessage');
    expect(chats).to.have.length(1);
    expect(chats[0]).to.deep.include({ id: stored.messageId, text: 'Where is my order?', clientMessageId: 'site-msg-1' });
    expect(chats[0]!.from).to.deep.include({ name: 'Jane Doe', role: 'customer' });
    expect(chats[0]!.metadata).to.deep.include({ page: '/orders/17' });

    // A later message from the same user lands in the same conversation and reaches the joined agent live.
    const live = nextEvent<Msg>(agent, 'messageArrived', (m) => m.text === 'Order 17, placed Monday');
    const second = await postMessage({ userId, text: 'Order 17, placed Monday' });
    expect(second.status).to.equal(200);
    expect(((await second.json()) as { conversationId: string }).conversationId).to.equal(stored.conversationId);
    expect((await live).from.role).to.equal('customer');
    expect(await conversationsOf(userId)).to.have.length(1);
  });

  it('refuses a wrong or missing bearer with 401 and stores nothing', async () => {
    const userId = newUser();
    expect((await postMessage({ userId, text: 'forged' }, 'wrong-token-0123456789abcdef')).status).to.equal(401);
    expect((await postMessage({ userId, text: 'forged' }, null)).status).to.equal(401);
    expect(await conversationsOf(userId)).to.deep.equal([]);
  });

  it('answers 400 naming the field and stores nothing', async () => {
    const userId = newUser();
    const res = await postMessage({ userId, text: 'x', customer: { email: 'not-an-email' } });
    expect(res.status).to.equal(400);
    const body = (await res.json()) as { code: string; details: Array<{ field: string }> };
    expect(body.code).to.equal('BAD_REQUEST');
    expect(body.details.map((d) => d.field)).to.deep.equal(['customer.email']);
    expect(await conversationsOf(userId)).to.deep.equal([]);
  });

  it("delivers an agent's reply to the callback, signed; DELIVERED with the receiver's id", async () => {
    const { userId, conversationId, agent } = await userConversation('agent-web-2');
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-2', conversationId, 'It ships today');
    expect(reply.state).to.equal('PENDING');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED', 10_000);

    const callbacks = backend.for(reply.id);
    expect(callbacks).to.have.length(1);
    const [callback] = callbacks;
    expect(callback!.signatureValid).to.equal(true);
    expect(callback!.headers['content-type']).to.equal('application/json');
    expect(callback!.headers['idempotency-key']).to.equal(reply.id);
    expect(callback!.json).to.deep.equal({
      id: reply.id,
      conversationId,
      userId,
      text: 'It ships today',
      attachments: [],
      // The hub names the agent from its token.
      from: { name: reply.from.name, role: 'agent' },
      timestamp: (callback!.json as { timestamp: string }).timestamp,
    });
    expect(Date.parse(String(callback!.json['timestamp']))).to.be.closeTo(Date.now(), 60_000);
    const delivered = updates.find((m) => m.id === reply.id && m.state === 'DELIVERED')!;
    expect(delivered.metadata['externalId']).to.equal(backend.accepted.get(reply.id));
  });

  it('retries a callback answered 500: delivered once, DELIVERED', async () => {
    const { conversationId, agent } = await userConversation('agent-web-3');
    backend.script.push({ status: 500, body: { error: 'database restarting' } });
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-3', conversationId, 'Sorry for the wait');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED after a retry', 10_000);
    const callbacks = backend.for(reply.id);
    expect(callbacks.map((c) => c.status)).to.deep.equal([500, 200]);
    expect(callbacks.every((c) => c.signatureValid && c.headers['idempotency-key'] === reply.id)).to.equal(true);
    expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.deep.equal(['DELIVERED']);
  });

  it('hands a delivery back to the hub after its in-handler retries; the hub retries it to DELIVERED', async () => {
    const { conversationId, agent } = await userConversation('agent-web-4');
    // WEB_CALLBACK_RETRIES=1: two failures use up the connector's attempts, the hub's retry succeeds.
    backend.script.push({ status: 503 }, { status: 502 });
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-4', conversationId, 'Back online');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED after the hub retried', 15_000);
    expect(backend.for(reply.id).map((c) => c.status)).to.deep.equal([503, 502, 200]);
    expect(updates.filter((m) => m.id === reply.id).map((m) => m.state)).to.not.include('FAILED');
  });

  it('marks a reply the callback refuses with 400 FAILED, with metadata.error, without retrying', async () => {
    const { conversationId, agent } = await userConversation('agent-web-5');
    backend.script.push({ status: 400, body: { error: 'unknown user' } });
    const updates = record<Msg>(agent, 'messageUpdated');
    const reply = await agentSays(agent, 'agent-web-5', conversationId, 'Hello?');
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'FAILED'), 'FAILED', 10_000);
    const failed = updates.find((m) => m.id === reply.id && m.state === 'FAILED')!;
    expect(JSON.stringify(failed.metadata['error'])).to.contain('400').and.contain('unknown user');
    await sleep(500);
    expect(backend.for(reply.id)).to.have.length(1);
  });

  it('exits non-zero with a clear log line when the hub refuses CONNECTOR_KEY', async () => {
    await intruder.start(null);
    const code = await Promise.race([intruder.exit, sleep(15_000).then(() => 'still running' as const)]);
    expect(code, intruder.logs.join('\n')).to.be.a('number').and.not.equal(0);
    const fatal = intruder.logs.find((l) => l.includes('refused CONNECTOR_KEY'));
    expect(fatal, intruder.logs.join('\n')).to.not.equal(undefined);
    expect(JSON.parse(fatal!)).to.deep.include({ level: 60, connector: 'web' });
    expect(intruder.logs.join('\n')).not.to.include('not-the-web-key-0123');
    // The real connector is not disturbed.
    expect(await (await fetch(`${connector.url}/health`)).json()).to.deep.include({ registered: true });
  });

  it('never logs the connector key, the inbound token or the callback secret', () => {
    const all = connector.logs.join('\n');
    expect(all).to.include('registered with the hub');
    for (const secret of [WEB_KEY, INBOUND_TOKEN, CALLBACK_SECRET]) expect(all).not.to.include(secret);
  });

  // Last: it stops the connector.
  it('on SIGTERM finishes a running delivery, then exits 0', async () => {
    const { conversationId, agent } = await userConversation('agent-web-6');
    backend.script.push({ status: 200, body: { id: 'slow-1' }, delayMs: 1000 });
    const updates = record<Msg>(agent, 'messageUpdated');
    const arrivals = backend.arrivals;
    const reply = await agentSays(agent, 'agent-web-6', conversationId, 'One last thing');
    await until(() => backend.arrivals > arrivals, 'the callback to arrive', 5000);
    connector.child!.kill('SIGTERM');
    expect(await connector.exit).to.equal(0);
    expect(connector.logs.some((l) => l.includes('"msg":"stopped"'))).to.equal(true);
    await until(() => updates.some((m) => m.id === reply.id && m.state === 'DELIVERED'), 'DELIVERED', 5000);
    expect(updates.find((m) => m.id === reply.id && m.state === 'DELIVERED')!.metadata['externalId']).to.equal('slow-1');
    expect(backend.for(reply.id)).to.have.length(1);
  });
});
