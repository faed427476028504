import { expect } from 'chai';
import { io, type Socket } from 'socket.io-client';
import { chatPluginChannel, newVisitor } from '../support/chatplugin.js';
import { emitAck, initCustomer, sleep, type AnyAck } from '../support/clients.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

const PER_PRINCIPAL = 3;
const PER_ADDRESS = 8;
const EVENTS_PER_SECOND = 5;

type Refusal = Error & { data?: { code?: string; message?: string } };

/**
 * Issue 13 item 10: sockets per token and per address were unlimited, the event limiter counted
 * per socket (a thousand sockets, a thousand budgets), and every bad event was logged.
 */
describe('hostile: socket caps per principal and address (issue 13, item 10)', function () {
  this.timeout(60_000);
  let store: TestStore;
  let hub: RunningHub;
  let channelId: string;
  const lines: string[] = [];
  const opened: Socket[] = [];

  /** Opens a socket (namespace path in `path`) and resolves with it once connected, or with the refusal. */
  function open(path: string, auth: Record<string, unknown>, forwardedFor?: string): Promise<{ socket: Socket; refusal?: Refusal }> {
    const socket = io(`${hub.url}${path}`, {
      transports: ['websocket'],
      auth,
      reconnection: false,
      forceNew: true,
      ...(forwardedFor ? { extraHeaders: { 'x-forwarded-for': forwardedFor } } : {}),
    });
    opened.push(socket);
    return new Promise((resolve) => {
      socket.once('connect', () => resolve({ socket }));
      socket.once('connect_error', (err) => resolve({ socket, refusal: err as Refusal }));
    });
  }

  async function accepted(path: string, auth: Record<string, unknown>, forwardedFor?: string): Promise<Socket> {
    const { socket, refusal } = await open(path, auth, forwardedFor);
    if (refusal) throw new Error(`refused: ${JSON.stringify(refusal.data ?? refusal.message)}`);
    return socket;
  }

  async function refused(path: string, auth: Record<string, unknown>, forwardedFor?: string): Promise<Refusal> {
    const { refusal } = await open(path, auth, forwardedFor);
    if (!refusal) throw new Error('the handshake was accepted');
    return refusal;
  }

  async function closeAndSettle(sockets: Socket[]): Promise<void> {
    for (const s of sockets) s.close();
    const deadline = Date.now() + 10_000;
    while (hub.hub.io.engine.clientsCount > 0 && Date.now() < deadline) await sleep(20);
  }

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(
      store.uri('hostile_socket_caps'),
      {
        MAX_SOCKETS_PER_PRINCIPAL: String(PER_PRINCIPAL),
        MAX_SOCKETS_PER_ADDRESS: String(PER_ADDRESS),
        RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: String(EVENTS_PER_SECOND),
        // Loopback proxies are trusted (the default): X-Forwarded-For names the client.
        TRUST_PROXY: 'loopback',
        LOG_LEVEL: 'debug',
      },
      (line) => lines.push(line),
    );
    channelId = await chatPluginChannel(hub.url);
  });
  afterEach(async () => {
    await closeAndSettle(opened.splice(0));
  });
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('refuses a principal’s socket past MAX_SOCKETS_PER_PRINCIPAL, over both namespaces, and admits again once one closes', async () => {
    // A visitor's chat plugin token works on /ws.chatplugin and on the default namespace: one budget.
    const visitor = await newVisitor(hub.url, channelId);
    const first = await accepted('/ws.chatplugin', { token: visitor.token });
    await accepted('/ws.chatplugin', { token: visitor.token });
    await accepted('', { token: visitor.token });
    for (const path of ['', '/ws.chatplugin']) {
      const refusal = await refused(path, { token: visitor.token });
      expect(refusal.data?.code, path).to.equal('RATE_LIMITED');
      expect(refusal.data?.message).to.match(/at most 3 at once/);
    }
    first.close();
    const deadline = Date.now() + 5000;
    let again = await open('', { token: visitor.token });
    while (again.refusal && Date.now() < deadline) {
      await sleep(50);
      again = await open('', { token: visitor.token });
    }
    expect(again.refusal, 'a slot freed by a closed socket').to.equal(undefined);

    // A customer init token too.
    const init = await initCustomer(hub.url);
    for (let i = 0; i < PER_PRINCIPAL; i += 1) await accepted('', { token: init.token });
    expect((await refused('', { token: init.token })).data?.code).to.equal('RATE_LIMITED');
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).to.match(/^hub_socket_handshakes_refused_total\{cap="principal"\} [1-9]\d*$/m);
  });

  it('refuses sockets from one client address past MAX_SOCKETS_PER_ADDRESS (X-Forwarded-For from a trusted proxy), with or without a token', async () => {
    for (let i = 0; i < PER_ADDRESS; i += 1) await accepted('', {}, '203.0.113.7');
    const refusal = await refused('', {}, '203.0.113.7');
    expect(refusal.data?.code).to.equal('RATE_LIMITED');
    expect(refusal.data?.message).to.match(/too many connections from this address/);
    // The chat plugin namespace counts the same address.
    const visitor = await newVisitor(hub.url, channelId);
    expect((await refused('/ws.chatplugin', { token: visitor.token }, '203.0.113.7')).data?.code).to.equal('RATE_LIMITED');
    // Another client behind the same proxy is not affected.
    await accepted('', {}, '203.0.113.8');
    await accepted('/ws.chatplugin', { token: visitor.token }, '203.0.113.8');
  });

  it('shares one event budget among a principal’s sockets', async () => {
    const init = await initCustomer(hub.url);
    const a = await accepted('', { token: init.token });
    const b = await accepted('', { token: init.token });
    const join = { conversationId: init.conversationId, id: init.participant.id };
    expect((await emitAck(a, 'joinConversation', join)).ok).to.equal(true);
    expect((await emitAck(b, 'joinConversation', join)).ok).to.equal(true);
    const send = (s: Socket, i: number): Promise<AnyAck> =>
      emitAck(s, 'sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from: { id: init.participant.id, name: 'J' }, text: `m${i}` });
    // Four each: within a per-socket budget of five, twice the principal's.
    const acks = await Promise.all([0, 1, 2, 3].flatMap((i) => [send(a, i), send(b, i)]));
    const limited = acks.filter((x): x is Extract<AnyAck, { ok: false }> => !x.ok && x.error.code === 'RATE_LIMITED');
    expect(limited.length, JSON.stringify(acks.map((x) => (x.ok ? 'ok' : x.error.code)))).to.be.greaterThan(0);
    expect(limited[0]?.error.message).to.match(/all its connections together/);
  });

  it('logs a repeated bad event once per interval, without a stack, instead of once per event', async () => {
    const socket = await accepted('', {}, '198.51.100.1');
    const id = socket.id ?? '';
    const acks: AnyAck[] = [];
    for (let i = 0; i < 4; i += 1) acks.push(await emitAck(socket, 'endConversation', { nonsense: i }));
    expect(acks.every((x) => !x.ok && x.error.code === 'BAD_REQUEST')).to.equal(true);
    await sleep(200);
    const refusedLines = lines.filter((l) => l.includes(id) && l.includes('endConversation'));
    expect(refusedLines, refusedLines.join('\n')).to.have.length(1);
    expect(refusedLines[0]).to.not.include('stack');
    expect(JSON.parse(refusedLines[0] ?? '{}')).to.include({ code: 'BAD_REQUEST', suppressed: 0 });
  });
});
