import { expect } from 'chai';
import { io } from 'socket.io-client';
import { agentToken, closeAllSockets, emitAck, initCustomer, joinedAgent, sleep, type AnyAck } from '../support/clients.js';
import { clusterTestEnv, clusterToolsMissing, startHubs, startNginx, startRedis, type RunningNginx, type RunningRedis } from '../support/cluster.js';
import { HubProcess } from '../support/hub-process.js';
import { rawConnector, until, type RawConnector } from '../support/raw-connector.js';
import { ResilientClient, type SeenMessage } from '../support/resilient-client.js';
import { startTestStore, type TestStore } from '../support/store.js';

const SMS_KEY = 'sms-faults-key-0123456789';
const ENV = clusterTestEnv(SMS_KEY, 500);

interface Pair {
  conversationId: string;
  customer: ResilientClient;
  agent: ResilientClient;
}

/** Every acked message of the pair's two parties, in seq order, and each once: what both must hold. */
function expectWhole(pair: Pair, stored: SeenMessage[]): void {
  const acked = [...pair.customer.acked, ...pair.agent.acked].sort((a, b) => a.seq - b.seq);
  const ackedIds = acked.map((m) => m.id);
  // Stored once: one message per clientMessageId, however often it was retried.
  const chat = stored.filter((m) => m.clientMessageId);
  expect(new Set(chat.map((m) => m.clientMessageId)).size, 'one stored message per clientMessageId').to.equal(chat.length);
  expect(chat.map((m) => m.id)).to.deep.equal(ackedIds);
  for (const party of [pair.customer, pair.agent]) {
    // Seen once each (held by id), in seq order, nothing missing; no live repeat on one connection.
    expect(party.ordered().filter((m) => m.clientMessageId).map((m) => m.id)).to.deep.equal(ackedIds);
    // Twice on one connection only for a send retried after its process died: stored there, maybe
    // announced there, and announced again by the process that answered the retry.
    const retried = new Set([...pair.customer.retried, ...pair.agent.retried]);
    expect(party.liveRepeats.filter((id) => !retried.has(id)), 'a message delivered twice on one connection').to.deep.equal([]);
  }
}

/** The conversation as stored, read by a fresh agent socket with afterSeq 0 (paged). */
async function storedMessages(url: string, conversationId: string): Promise<SeenMessage[]> {
  const token = await agentToken(url, 'auditor');
  const reader = new ResilientClient({ url, token, conversationId, participant: { id: 'auditor', name: 'Auditor' } });
  await reader.ready();
  const all = reader.ordered();
  reader.close();
  return all;
}

/**
 * Contract §7 under faults (issue 15): a hub process killed with -9, Redis stopped and
 * restarted, a process drained with SIGTERM, a connector pool split over processes. Real
 * processes, a real redis-server, Debian's nginx in front; clients written as real ones are
 * (reconnect, rejoin with afterSeq, retry with the same clientMessageId).
 */
describe('scale-out under faults', function () {
  this.timeout(180_000);
  let store: TestStore;
  let redis: RunningRedis;
  let hubs: HubProcess[] = [];
  let nginx: RunningNginx | undefined;
  const clients: ResilientClient[] = [];
  /** Reconnecting sockets of a test, closed after it whatever happened (they would keep mocha alive). */
  const sockets: Array<{ close(): void }> = [];

  before(async function () {
    if (clusterToolsMissing()) this.skip();
    this.timeout(180_000);
    store = await startTestStore();
    redis = await startRedis();
  });
  beforeEach(async function () {
    this.timeout(120_000);
    hubs = await startHubs(3, store.uri('scale_faults'), redis.url, ENV);
  });
  afterEach(async function () {
    for (const c of clients.splice(0)) c.close();
    for (const socket of sockets.splice(0)) socket.close();
    closeAllSockets();
    if (this.currentTest?.state === 'failed') {
      hubs.forEach((h, i) => console.log(`--- hub ${i} ---\n${h.logs.filter((l) => !l.includes('"path":"/ready"')).slice(-30).join('\n')}`));
    }
    await nginx?.stop();
    nginx = undefined;
    await Promise.all(hubs.map((h) => h.stop()));
  });
  after(async () => {
    await redis?.stop();
    await store?.close();
  });

  /** `n` customer/agent pairs, each party from its own loopback address through `url`. */
  async function pairs(n: number, url: string, base: number, agentUrl = url): Promise<Pair[]> {
    const made: Pair[] = [];
    for (let i = 0; i < n; i += 1) {
      const init = await initCustomer(url);
      const agentId = `agent-${base}-${i}`;
      const token = await agentToken(agentUrl, agentId);
      const customer = new ResilientClient({ url, token: init.token, conversationId: init.conversationId, participant: { id: init.participant.id, name: init.participant.name }, localAddress: `127.0.${base}.${2 * i + 10}` });
      const agent = new ResilientClient({ url: agentUrl, token, conversationId: init.conversationId, participant: { id: agentId, name: agentId }, localAddress: `127.0.${base}.${2 * i + 11}` });
      clients.push(customer, agent);
      made.push({ conversationId: init.conversationId, customer, agent });
    }
    await Promise.all(made.flatMap((p) => [p.customer.ready(), p.agent.ready()]));
    return made;
  }

  /** Each party sends `count` messages, interleaved, with a short pause. */
  async function exchange(all: Pair[], count: number, tag: string, pauseMs = 40): Promise<void> {
    await Promise.all(
      all.map(async (pair, p) => {
        for (let i = 0; i < count; i += 1) {
          await pair.customer.send(`c${i}`, `${tag}-c-${p}-${i}`);
          await pair.agent.send(`a${i}`, `${tag}-a-${p}-${i}`);
          await sleep(pauseMs);
        }
      }),
    );
  }

  /**
   * Waits until every party holds every acked message of its pair, without forcing anyone to
   * reconnect: a party that stayed connected must have had them live; one that moved caught up.
   */
  async function settle(all: Pair[]): Promise<void> {
    const whole = (pair: Pair): boolean => {
      const ids = [...pair.customer.acked, ...pair.agent.acked].map((m) => m.id);
      return [pair.customer, pair.agent].every((party) => ids.every((id) => party.messages.has(id)));
    };
    await until(() => all.every(whole), 'every party to hold every acked message of its pair', 15_000).catch(() => undefined);
    await sleep(300);
  }

  it('kill -9 of a hub while 20 customer/agent pairs talk through nginx: every acked message stored once, seen once by each party, in order', async () => {
    nginx = await startNginx(hubs.map((h) => new URL(h.url).host));
    const all = await pairs(20, nginx.url, 1);
    const traffic = exchange(all, 12, 'k');
    await sleep(700);
    // The hub with the most of these clients dies without any shutdown code.
    const counts = await Promise.all(hubs.map((h) => fetch(`${h.url}/metrics`).then((r) => r.text()).then((t) => Number(/^hub_connected_sockets (\d+)/m.exec(t)?.[1] ?? 0))));
    const victim = counts.indexOf(Math.max(...counts));
    expect(counts[victim]).to.be.greaterThan(0);
    await hubs[victim]!.kill();
    await traffic;
    await settle(all);
    for (const pair of all) expectWhole(pair, await storedMessages(nginx.url, pair.conversationId));
    // The clients of the dead process did move.
    expect(all.some((p) => p.customer.connects > 1 || p.agent.connects > 1)).to.equal(true);
  });

  it('Redis stopped and restarted mid-traffic: sends are still acked; cross-process delivery resumes and clients catch up', async () => {
    // Customers on hub 0, their agents on hub 1: every delivery crosses processes through Redis.
    const all = await pairs(8, hubs[0]!.url, 2, hubs[1]!.url);
    const traffic = exchange(all, 10, 'r', 80);
    await sleep(400);
    await redis.kill();
    // While Redis is away: stored and acked anyway, and /ready says what is degraded.
    await until(() => all.every((p) => p.customer.acked.length >= 4), 'sends acked with Redis down', 20_000);
    const ready = (await fetch(`${hubs[0]!.url}/ready`).then((r) => r.json())) as { status: string; degraded?: Array<{ component: string }> };
    expect(ready.status).to.equal('degraded');
    expect(ready.degraded?.[0]?.component).to.equal('redis');
    await sleep(500);
    await redis.restart();
    await traffic;
    // Once Redis is back the hubs send their clients to reconnect; they catch up with afterSeq.
    await until(() => all.every((p) => p.agent.ordered().length >= 20 && p.customer.ordered().length >= 20), 'every party to hold every message', 20_000);
    for (const pair of all) expectWhole(pair, await storedMessages(hubs[2]!.url, pair.conversationId));
    expect(((await fetch(`${hubs[0]!.url}/ready`).then((r) => r.json())) as { status: string }).status).to.equal('ready');
  });

  it('SIGTERM drains a hub: /ready 503, lanes handed back at once, clients moved, every acked message kept, exit within the bound', async () => {
    nginx = await startNginx(hubs.map((h) => new URL(h.url).host));
    const all = await pairs(10, nginx.url, 3);
    // A connector pool member on each of two processes; the first to register holds the lease.
    const first: RawConnector = await rawConnector(hubs[0]!.url, 'sms', SMS_KEY);
    expect((await first.register()).ok).to.equal(true);
    await sleep(300);
    const second: RawConnector = await rawConnector(hubs[1]!.url, 'sms', SMS_KEY);
    expect((await second.register()).ok).to.equal(true);
    const sms = (await emitAck(first.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+15550100', text: 'hi' })) as AnyAck & { conversationId: string };
    const smsAgent = await joinedAgent(hubs[2]!.url, sms.conversationId, 'agent-sms-drain');
    const smsSent: string[] = [];
    const smsTraffic = (async () => {
      for (let i = 0; i < 30; i += 1) {
        const ack = (await emitAck(smsAgent.socket, 'sendMessage', { conversationId: sms.conversationId, type: 'ChatMessage', from: { id: 'agent-sms-drain', name: 'A' }, to: [], text: `sms ${i}` })) as AnyAck & { message: { id: string } };
        expect(ack.ok).to.equal(true);
        smsSent.push(ack.message.id);
        await sleep(30);
      }
    })();
    const traffic = exchange(all, 10, 'd');
    await sleep(500);
    const victim = hubs[0]!;
    const statuses: number[] = [];
    const poll = (async () => {
      for (let i = 0; i < 40; i += 1) {
        statuses.push(await fetch(`${victim.url}/ready`).then((r) => r.status, () => 0));
        await sleep(25);
      }
    })();
    const started = Date.now();
    const exit = await victim.terminate();
    const tookMs = Date.now() - started;
    await poll;
    expect(exit.code, 'a clean exit').to.equal(0);
    expect(tookMs, 'drain and stop within the documented bound').to.be.lessThan(10_000);
    expect(statuses, statuses.join(',')).to.include(503);
    await Promise.all([traffic, smsTraffic]);
    await settle(all);
    for (const pair of all) expectWhole(pair, await storedMessages(hubs[1]!.url, pair.conversationId));
    // The pool: every message once, in seq order, across the two members; the second took over.
    const received = (): string[] => [...first.received, ...second.received].map((m) => m.id);
    await until(() => new Set(received()).size >= smsSent.length, 'every SMS message handed to the pool', 20_000);
    await sleep(500);
    const twice = received().filter((id, i, list) => list.indexOf(id) !== i);
    const where = (id: string): string => `first@${first.received.findIndex((m) => m.id === id)}/${first.received.length} second@${second.received.findIndex((m) => m.id === id)}/${second.received.length} sent@${smsSent.indexOf(id)}`;
    expect(twice.map(where), 'each message handed over exactly once').to.deep.equal([]);
    const order = [...first.received, ...second.received].map((m) => m.id);
    expect(order.filter((id) => smsSent.includes(id))).to.deep.equal(smsSent);
    expect(second.received.length).to.be.greaterThan(0);
  });

  it('connection state recovery: a customer whose process drains reconnects to another with its rooms, the broadcasts it missed, and its join', async () => {
    nginx = await startNginx(hubs.map((h) => new URL(h.url).host));
    const init = await initCustomer(nginx.url);
    const metrics = (): Promise<number[]> =>
      Promise.all(hubs.map((h) => fetch(`${h.url}/metrics`).then((r) => r.text()).then((t) => Number(/^hub_connected_sockets (\d+)/m.exec(t)?.[1] ?? 0))));
    const before = await metrics();
    const customer = io(nginx.url, { transports: ['websocket'], auth: { token: init.token }, forceNew: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000, localAddress: '127.0.9.10' } as Parameters<typeof io>[1]);
    const arrived: Array<{ id: string; text?: string }> = [];
    customer.on('messageArrived', (m: { id: string; text?: string; type: string }) => {
      if (m.type === 'ChatMessage') arrived.push(m);
    });
    sockets.push(customer);
    await new Promise<void>((resolve) => customer.once('connect', () => resolve()));
    const joined = await customer.timeout(5000).emitWithAck('joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: init.participant.name });
    expect(joined.ok).to.equal(true);
    const after = await metrics();
    const home = after.findIndex((n, i) => n > before[i]!);
    expect(home).to.be.greaterThan(-1);
    // The agent is on another process.
    const agent = await joinedAgent(hubs[(home + 1) % 3]!.url, init.conversationId, 'agent-recovery');
    // A broadcast received gives the client the stream offset it resumes from.
    const hello = (await emitAck(agent.socket, 'sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from: { id: 'agent-recovery', name: 'R' }, to: [], text: 'hello' })) as AnyAck & { message: { id: string } };
    await until(() => arrived.some((m) => m.id === hello.message.id), 'the first message', 5000);
    const disconnected = new Promise<void>((resolve) => customer.once('disconnect', () => resolve()));
    const drained = hubs[home]!.terminate();
    await disconnected;
    // Sent while the customer is between processes: only recovery (or afterSeq) brings it.
    const missed = (await emitAck(agent.socket, 'sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from: { id: 'agent-recovery', name: 'R' }, to: [], text: 'while you were away' })) as AnyAck & { message: { id: string } };
    expect(missed.ok).to.equal(true);
    await new Promise<void>((resolve) => customer.once('connect', () => resolve()));
    expect(customer.recovered, 'the session was recovered on another process').to.equal(true);
    await until(() => arrived.some((m) => m.id === missed.message.id), 'the missed message to be replayed', 5000);
    // Its join came back with it: it sends without joining again.
    const sent = await customer.timeout(5000).emitWithAck('sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from: { id: init.participant.id, name: init.participant.name }, to: [], text: 'still here' });
    expect(sent.ok, JSON.stringify(sent)).to.equal(true);
    expect((await drained).code).to.equal(0);
  });

  it('a connector pool split over two processes, the holder killed -9: the other member delivers the rest, in seq order', async () => {
    const first = await rawConnector(hubs[0]!.url, 'sms', SMS_KEY);
    expect((await first.register()).ok).to.equal(true);
    await sleep(300);
    const second = await rawConnector(hubs[1]!.url, 'sms', SMS_KEY);
    expect((await second.register()).ok).to.equal(true);
    const conversations: string[] = [];
    for (let c = 0; c < 3; c += 1) {
      const ack = (await emitAck(second.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: `+1555020${c}`, text: 'hi' })) as AnyAck & { conversationId: string };
      conversations.push(ack.conversationId);
    }
    const agents = await Promise.all(conversations.map((cid, c) => joinedAgent(hubs[2]!.url, cid, `agent-pool-${c}`)));
    const sent = new Map<string, string[]>(conversations.map((cid) => [cid, []]));
    const traffic = Promise.all(
      agents.map(async (agent, c) => {
        const cid = conversations[c]!;
        for (let i = 0; i < 15; i += 1) {
          const ack = (await emitAck(agent.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: `agent-pool-${c}`, name: 'A' }, to: [], text: `m${i}` })) as AnyAck & { message: { id: string } };
          expect(ack.ok).to.equal(true);
          sent.get(cid)!.push(ack.message.id);
          await sleep(40);
        }
      }),
    );
    await until(() => first.received.length >= 6, 'the lease holder to deliver some', 10_000);
    await hubs[0]!.kill();
    await traffic;
    const all = (): string[] => [...first.received, ...second.received].map((m) => m.id);
    const expected = [...sent.values()].flat();
    await until(() => expected.every((id) => all().includes(id)), 'every message delivered after the holder died', 20_000);
    await sleep(500);
    // Per conversation, the order the pool first saw them is seq order.
    for (const [cid, ids] of sent) {
      const firstSeen: string[] = [];
      for (const m of [...first.received, ...second.received]) if (m.conversationId === cid && !firstSeen.includes(m.id)) firstSeen.push(m.id);
      expect(firstSeen.filter((id) => ids.includes(id))).to.deep.equal(ids);
    }
    // A repeat can only be a message the killed process handed over whose ack it had not stored:
    // at most the one in flight per conversation, first seen by its member, never two by the survivor.
    const repeats = all().filter((id, i, list) => list.indexOf(id) !== i);
    expect(repeats.length, `repeats: ${repeats.join(',')}`).to.be.at.most(conversations.length);
    for (const id of repeats) expect(first.received.map((m) => m.id)).to.include(id);
    const secondIds = second.received.map((m) => m.id);
    expect(new Set(secondIds).size).to.equal(secondIds.length);
  });
});
