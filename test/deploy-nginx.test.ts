import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { parse as parseYaml } from 'yaml';
import { PROJECT_ROOT } from '../src/config.js';
import { freePort } from '../src/devstore/local-docstore.js';
import { COMPOSE_NGINX_CONF, COMPOSE_UPSTREAMS, nginxBinary, renderComposeNginxConfig, renderNginxConfig, testNginxConfig } from '../tools/launch/nginx.js';
import { clusterToolsMissing, startHubs, startNginx, startRedis, upstreamOf, type RunningNginx, type RunningRedis } from './support/cluster.js';
import { agentToken, emitAck, initCustomer, nextEvent, postJson, type AnyAck, type InitBody } from './support/clients.js';
import type { HubProcess } from './support/hub-process.js';
import { SYSTEM_TOKEN } from './support/hub.js';
import { startTestStore, type TestStore } from './support/store.js';

type Transport = 'websocket' | 'polling';

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A socket.io-client on the given transports, optionally from another loopback address (nginx hashes on it). */
async function connectVia(url: string, auth: Record<string, unknown>, transports: Transport[], localAddress?: string, reconnection = false): Promise<Socket> {
  const agent = localAddress ? new Agent({ localAddress, keepAlive: true }) : undefined;
  // engine.io-client hands `agent` to Node's http/ws requests; its type says string | boolean (a browser leftover).
  const socket = io(url, {
    transports,
    auth,
    reconnection,
    reconnectionDelay: 200,
    forceNew: true,
    upgrade: false,
    ...(agent ? { agent: agent as unknown as string } : {}),
  });
  opened.push({ socket, agent });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    // A reconnecting client keeps trying after a refusal; the caller's timeout bounds it.
    if (!reconnection) socket.once('connect_error', (err) => reject(err));
  });
  return socket;
}
const opened: Array<{ socket: Socket; agent: Agent | undefined }> = [];
function closeOpened(): void {
  for (const { socket, agent } of opened.splice(0)) {
    socket.close();
    agent?.destroy();
  }
}

/** A customer of a fresh web conversation, connected and joined through `url`. */
async function customerVia(url: string, transports: Transport[], localAddress?: string, reconnection = false): Promise<{ init: InitBody; socket: Socket }> {
  const init = await initCustomer(url);
  const socket = await connectVia(url, { token: init.token }, transports, localAddress, reconnection);
  const info = nextEvent(socket, 'conversationInfo');
  const ack = await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: init.participant.name });
  expect(ack.ok, JSON.stringify(ack)).to.equal(true);
  await info;
  return { init, socket };
}

function say(socket: Socket, init: InitBody, text: string): Promise<AnyAck> {
  return emitAck(socket, 'sendMessage', {
    conversationId: init.conversationId,
    type: 'ChatMessage',
    from: { id: init.participant.id, name: init.participant.name },
    to: [],
    text,
  });
}

/** The engine.io session id of a connected client (the `sid` of its polling requests). */
function engineSid(socket: Socket): string {
  const sid = (socket.io.engine as unknown as { id: string | null }).id;
  if (!sid) throw new Error('no engine.io session id');
  return sid;
}

/** The upstreams nginx's access log names for `/socket.io/` requests of engine.io session `sid`. */
function upstreamsOfSession(nginx: RunningNginx, sid: string): string[] {
  const lines = nginx.accessLines().filter((l) => l.includes('/socket.io/') && l.includes(`sid=${sid}`));
  // After a retry nginx logs every upstream tried ("a:1, b:2"): the last one answered.
  return lines.map((l) => /upstream=(.+?) upstream_status=/.exec(l)?.[1]?.split(', ').at(-1) ?? '?');
}

describe('deploy/nginx.conf', () => {
  it('is the rendering of deploy/nginx.conf.template for docker-compose (regenerate: npm run deploy:nginx-conf)', () => {
    expect(readFileSync(COMPOSE_NGINX_CONF, 'utf8')).to.equal(renderComposeNginxConfig());
  });

  it('passes `nginx -t` when rendered for local hubs, and nginx -t refuses a broken one', async function () {
    if (!nginxBinary()) return this.skip(); // CI installs nginx (.ci/run)
    const prefix = mkdtempSync(join(tmpdir(), 'hub-nginx-t-'));
    try {
      const conf = join(prefix, 'nginx.conf');
      const text = renderNginxConfig({ upstreams: ['127.0.0.1:1', '127.0.0.1:2'], listen: `127.0.0.1:${await freePort()}`, target: { kind: 'local', prefix } });
      writeFileSync(conf, text);
      const good = testNginxConfig(conf, prefix);
      expect(good.ok, good.output).to.equal(true);
      expect(good.output).to.match(/test is successful/);
      writeFileSync(conf, text.replace('proxy_http_version 1.1;', 'proxy_http_version 1.1'));
      expect(testNginxConfig(conf, prefix).ok, 'a missing semicolon is refused').to.equal(false);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}

/** Docker is not here: the compose file is checked as data, against the files it names and the nginx configuration. */
describe('deploy/docker-compose.yml', () => {
  const file = join(PROJECT_ROOT, 'deploy', 'docker-compose.yml');
  const text = readFileSync(file, 'utf8');
  const services = (parseYaml(text, { merge: true }) as { services: Record<string, ComposeService> }).services;
  const hubs = Object.keys(services).filter((n) => /^hub\d+$/.test(n));

  it('runs three hubs of the repository image on one replica set and one Redis, behind the nginx upstreams', () => {
    expect(hubs).to.deep.equal(['hub1', 'hub2', 'hub3']);
    expect(COMPOSE_UPSTREAMS).to.deep.equal(hubs.map((h) => `${h}:8080`));
    for (const name of hubs) {
      const hub = services[name]!;
      expect(hub.build?.dockerfile).to.equal('Dockerfile');
      const env = hub.environment ?? {};
      // Several hosts: not a WHATWG URL.
      const uri = /^mongodb:\/\/([^/]+)\/(\w+)\?(.*)$/.exec(env['MONGODB_URI'] ?? '');
      expect(uri, env['MONGODB_URI']).to.not.equal(null);
      expect(new URLSearchParams(uri![3]).get('replicaSet')).to.equal('rs0');
      const hosts = uri![1]!.split(',');
      expect(hosts).to.have.length(3);
      for (const host of hosts) {
        const mongo = services[host.split(':')[0]!];
        expect(mongo?.command, host).to.include.members(['--replSet', 'rs0']);
      }
      expect(new URL(env['REDIS_URL'] ?? '').hostname).to.equal('redis');
      expect(services['redis']?.image).to.match(/^redis:7/);
      expect(env['HUB_SECRET']).to.match(/^\$\{HUB_SECRET:\?/);
      expect(env['SYSTEM_TOKEN']).to.match(/^\$\{SYSTEM_TOKEN:\?/);
      expect(env['TRUST_PROXY']).to.be.a('string').and.not.equal('');
      expect(hub.depends_on?.['mongo-init']?.condition).to.equal('service_completed_successfully');
    }
    expect(services['mongo-init']?.command?.join(' ')).to.match(/rs\.initiate/);
    expect(services['nginx']?.volumes).to.include('./nginx.conf:/etc/nginx/nginx.conf:ro');
  });

  it('starts each connector from its built main with a key the hubs accept', () => {
    const keys = services['hub1']?.environment?.['CONNECTOR_KEYS'] ?? '';
    for (const name of ['sms', 'facebook', 'web']) {
      const connector = services[name]!;
      const main = connector.command?.[1] ?? '';
      expect(main).to.equal(`connectors/${name}/dist/src/main.js`);
      expect(readFileSync(join(PROJECT_ROOT, main.replace('/dist/src/', '/src/').replace(/\.js$/, '.ts')), 'utf8')).to.be.a('string');
      const key = /^\$\{(\w+):\?/.exec(connector.environment?.['CONNECTOR_KEY'] ?? '')?.[1];
      expect(key, `${name}: CONNECTOR_KEY from a required variable`).to.be.a('string');
      expect(keys, `${name}'s key is in CONNECTOR_KEYS`).to.include(`\${${key}:?}`);
      expect(connector.environment?.['HUB_URL']).to.equal('http://nginx');
    }
  });

  it('names every variable it reads in deploy/.env.example', () => {
    const example = readFileSync(join(PROJECT_ROOT, 'deploy', '.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const used = new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect([...used].filter((v) => !listed.has(v))).to.deep.equal([]);
  });
});

/**
 * Issue 15, item 6: Debian's nginx with the shipped configuration in front of three real hub
 * processes (one database, one redis-server): HTTP, Socket.IO over WebSocket and over
 * long-polling (sticky), and a stopped hub's new clients landing on another.
 */
describe('deploy: nginx in front of three hub processes', function () {
  this.timeout(90_000);
  let store: TestStore | undefined;
  let redis: RunningRedis | undefined;
  let hubs: HubProcess[] = [];
  let nginx: RunningNginx | undefined;

  before(async function () {
    const missing = clusterToolsMissing();
    if (missing) {
      console.log(`      skipped: ${missing}`);
      return this.skip();
    }
    this.timeout(180_000);
    store = await startTestStore();
    redis = await startRedis();
    hubs = await startHubs(3, store.uri('deploy_nginx'), redis.url, {
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
      RATE_LIMIT_INIT_PER_MINUTE_PER_IP: '1000',
    });
    nginx = await startNginx(hubs.map(upstreamOf));
  });
  afterEach(() => closeOpened());
  after(async () => {
    closeOpened();
    await nginx?.stop();
    await Promise.all(hubs.map((h) => h.stop()));
    await redis?.stop();
    await store?.close();
  });

  it('serves /health and /ready, keeps /metrics internal, and forwards the HTTP API', async () => {
    const lb = nginx!.url;
    expect((await fetch(`${lb}/health`)).status).to.equal(200);
    expect((await fetch(`${lb}/ready`)).status).to.equal(200);
    expect((await fetch(`${lb}/metrics`)).status, 'per-process counters are scraped from each hub').to.equal(404);
    expect((await fetch(`${hubs[0]!.url}/metrics`)).status).to.equal(200);

    const init = await initCustomer(lb);
    expect(init.conversationId).to.be.a('string');
    const token = await agentToken(lb, 'agent-nginx-http');
    expect(token).to.be.a('string');
    // The conversation opened through nginx is listed through nginx, whichever process answers.
    const list = await postJson<{ data: unknown[] }>(`${lb}/messages.list`, { conversation_id: init.conversationId }, { authorization: `Bearer ${SYSTEM_TOKEN}` });
    expect(list.status, JSON.stringify(list.body)).to.equal(200);
    expect(list.body.data).to.be.an('array');
  });

  it('lets the hub answer an oversize JSON body itself, and stops a far larger one at nginx', async () => {
    const lb = nginx!.url;
    // Above the hub's 256kb but within nginx's headroom: the hub's own JSON error.
    const hubSized = await fetch(`${lb}/api/customer/init`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ firstName: 'x'.repeat(280 * 1024) }),
    });
    expect(hubSized.status).to.equal(413);
    expect(hubSized.headers.get('content-type') ?? '').to.match(/json/);
    const huge = await fetch(`${lb}/api/customer/init`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ firstName: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(huge.status).to.equal(413);
    expect(huge.headers.get('content-type') ?? '', 'nginx, not the hub, refused it').to.match(/html/);
  });

  for (const transport of ['websocket', 'polling'] as const) {
    it(`carries Socket.IO over ${transport} only: connect, join, send, ack`, async () => {
      const { init, socket } = await customerVia(nginx!.url, [transport]);
      expect(socket.io.engine.transport.name).to.equal(transport);
      for (let i = 0; i < 5; i += 1) {
        const ack = await say(socket, init, `over ${transport} ${i}`);
        expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      }
      expect(socket.connected).to.equal(true);
    });
  }

  it('keeps each long-polling session on one upstream over many round trips, while clients spread over the hubs', async () => {
    const sessions: Array<{ sid: string; address: string }> = [];
    // Ten client addresses (127.0.0.0/8 is all loopback): nginx hashes on the address.
    for (let n = 2; n <= 11; n += 1) {
      const address = `127.0.0.${n}`;
      const { init, socket } = await customerVia(nginx!.url, ['polling'], address);
      for (let i = 0; i < 8; i += 1) {
        const ack = await say(socket, init, `poll ${i}`);
        expect(ack.ok, `${address} message ${i}: ${JSON.stringify(ack)}`).to.equal(true);
      }
      expect(socket.io.engine.transport.name).to.equal('polling');
      sessions.push({ sid: engineSid(socket), address });
    }
    const used = new Set<string>();
    for (const { sid, address } of sessions) {
      const upstreams = upstreamsOfSession(nginx!, sid);
      expect(upstreams.length, `${address}: polling requests logged`).to.be.greaterThan(10);
      expect(new Set(upstreams).size, `${address}: one upstream for every request of session ${sid}: ${upstreams.join(' ')}`).to.equal(1);
      used.add(upstreams[0]!);
    }
    expect(used.size, `sessions spread over the hubs: ${[...used].join(' ')}`).to.be.greaterThan(1);
  });

  it('control: without the sticky hash (round-robin), a long-polling session breaks', async () => {
    const roundRobin = await startNginx(hubs.map(upstreamOf), { balance: 'round-robin' });
    try {
      let broken = false;
      try {
        const { init, socket } = await customerVia(roundRobin.url, ['polling']);
        for (let i = 0; i < 10 && !broken; i += 1) {
          const ack = await say(socket, init, `rr ${i}`).catch(() => undefined);
          broken = !ack?.ok || !socket.connected;
        }
      } catch {
        broken = true; // the handshake's next request reached another process: "Session ID unknown"
      }
      expect(broken, 'a polling session through round-robin should fail; if not, the stickiness test proves nothing').to.equal(true);
    } finally {
      await roundRobin.stop();
    }
  });

  it('carries a conversation between a customer on long-polling through nginx and an agent on WebSocket at another hub (Redis adapter)', async () => {
    const customer = await customerVia(nginx!.url, ['polling']);
    const [customerUpstream] = upstreamsOfSession(nginx!, engineSid(customer.socket));
    const other = hubs.find((h) => upstreamOf(h) !== customerUpstream)!;
    expect(upstreamOf(other)).to.not.equal(customerUpstream);

    const agentId = 'agent-nginx-cross';
    const cid = customer.init.conversationId;
    const agent = await connectVia(other.url, { token: await agentToken(other.url, agentId) }, ['websocket']);
    const joined = nextEvent<{ conversation: { id: string } }>(agent, 'conversationInfo', (i) => i.conversation.id === cid);
    const join = await emitAck(agent, 'joinConversation', { conversationId: cid, id: agentId, name: 'ignored' });
    expect(join.ok, JSON.stringify(join)).to.equal(true);
    await joined;

    type Arrived = { text?: string; conversationId?: string };
    for (let i = 0; i < 3; i += 1) {
      const atAgent = nextEvent<Arrived>(agent, 'messageArrived', (m) => m.text === `from the customer ${i}`, 8000);
      const sent = await say(customer.socket, customer.init, `from the customer ${i}`);
      expect(sent.ok, JSON.stringify(sent)).to.equal(true);
      await atAgent;

      const atCustomer = nextEvent<Arrived>(customer.socket, 'messageArrived', (m) => m.text === `from the agent ${i}`, 8000);
      const reply = await emitAck(agent, 'sendMessage', {
        conversationId: cid,
        type: 'ChatMessage',
        from: { id: agentId, name: 'Agent' },
        to: [],
        text: `from the agent ${i}`,
      });
      expect(reply.ok, JSON.stringify(reply)).to.equal(true);
      await atCustomer;
    }
    // The customer's session never left its upstream, and was still polling.
    expect(new Set(upstreamsOfSession(nginx!, engineSid(customer.socket)))).to.deep.equal(new Set([customerUpstream]));
    expect(customer.socket.io.engine.transport.name).to.equal('polling');
  });

  /** SIGTERMs the hub this test process's address (127.0.0.1) hashes to; resolves once its /ready answers 503 (draining). */
  async function drainOwnHub(): Promise<{ victim: HubProcess; upstream: string; exited: Promise<void> }> {
    const probe = await customerVia(nginx!.url, ['polling']);
    const [upstream] = upstreamsOfSession(nginx!, engineSid(probe.socket));
    const victim = hubs.find((h) => upstreamOf(h) === upstream);
    if (!victim || !upstream) throw new Error(`upstream ${upstream} is not one of the hubs`);
    probe.socket.close();
    hubs = hubs.filter((h) => h !== victim);
    const exited = victim.stop(); // SIGTERM: /ready 503 and new sessions refused, then the listener closes
    const deadline = Date.now() + 5000;
    while ((await fetch(`${victim.url}/ready`).then((r) => r.status, () => 0)) === 200) {
      if (Date.now() > deadline) throw new Error('the hub never started draining');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { victim, upstream, exited };
  }

  /** A new customer through nginx on `transport` sends a message; on polling, every request of the session went to one upstream other than `avoid`. */
  async function newCustomerAvoiding(avoid: string, transport: Transport, phase: string): Promise<void> {
    const { init, socket } = await customerVia(nginx!.url, [transport]);
    const ack = await say(socket, init, `${phase}, over ${transport}`);
    expect(ack.ok, `${phase} over ${transport}: ${JSON.stringify(ack)}`).to.equal(true);
    if (transport === 'polling') {
      const used = upstreamsOfSession(nginx!, engineSid(socket));
      expect(new Set(used).size, `${phase}: ${used.join(' ')}`).to.equal(1);
      expect(used[0], phase).to.not.equal(avoid);
    }
    socket.close();
  }

  it('lets reconnecting clients in while a hub drains after SIGTERM, and new ones at the first attempt once it exited', async () => {
    const { victim, upstream, exited } = await drainOwnHub();
    expect((await fetch(`${nginx!.url}/ready`)).status, '/ready through nginx skips the draining hub').to.equal(200);
    // Draining: the hub refuses new sessions (until its listener closes, drainNoticeMs); a client that
    // reconnects, as socket.io-client does by default, gets in on another hub.
    const during = await Promise.all(
      (['polling', 'websocket'] as const).map(async (transport) => ({
        transport,
        ...(await within(15_000, customerVia(nginx!.url, [transport], undefined, true), `a reconnecting ${transport} client during the drain`)),
      })),
    );
    await exited;
    expect(await fetch(`${victim.url}/health`).then(() => 'up', () => 'down')).to.equal('down');
    for (const { transport, init, socket } of during) {
      const ack = await say(socket, init, `joined during the drain, over ${transport}`);
      expect(ack.ok, `${transport}: ${JSON.stringify(ack)}`).to.equal(true);
    }
    // Gone: connection refused, nginx marks it failed and hashes the address to the next hub for every request.
    for (const transport of ['polling', 'websocket'] as const) await newCustomerAvoiding(upstream, transport, 'after it exited');
    expect((await fetch(`${nginx!.url}/ready`)).status).to.equal(200);
  });
});
