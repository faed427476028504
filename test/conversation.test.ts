import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import {
  agentToken,
  closeAllSockets,
  connect,
  connectRefused,
  emitAck,
  initCustomer,
  joinedAgent,
  joinedCustomer,
  nextEvent,
  record,
  sleep,
  type AnyAck,
} from './support/clients.js';
import { HUB_SECRET, startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { startTestStore, type TestStore } from './support/store.js';

type Msg = {
  id: string;
  seq?: number;
  type: string;
  text?: string;
  activityType?: string;
  tag?: string;
  from: { id: string; name: string; role?: string };
  conversationId: string;
  state?: string;
  timestamp: string;
};

function chat(conversationId: string, from: { id: string; name: string }, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { conversationId, type: 'ChatMessage', from, text, ...extra };
}

function expectError(ack: AnyAck, code: string): void {
  expect(ack.ok, JSON.stringify(ack)).to.equal(false);
  if (!ack.ok) expect(ack.error.code).to.equal(code);
}

describe('Customer Channel API over Socket.IO', function () {
  let store: TestStore;
  let hub: RunningHub;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('conversation'));
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  describe('joinConversation', () => {
    it('acks with the role, sends conversationInfo, then greets a customer on first join', async () => {
      const init = await initCustomer(hub.url);
      const socket = await connect(hub.url, { token: init.token });
      const order: string[] = [];
      socket.onAny((event: string, payload: Msg) => order.push(event === 'messageArrived' ? `messageArrived:${payload.activityType}` : event));
      const greeting = nextEvent<Msg>(socket, 'messageArrived', (m) => m.activityType === 'greetings');
      const info = nextEvent<Record<string, unknown>>(socket, 'conversationInfo');
      const ack = await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: 'Jane' });
      expect(ack).to.deep.equal({ ok: true, role: 'customer' });
      const conversationInfo = (await info) as { conversation: Record<string, unknown>; messages: Msg[]; participants: unknown[]; role: string };
      expect(conversationInfo.role).to.equal('customer');
      expect(conversationInfo.conversation).to.include({ id: init.conversationId, channel: 'web', status: 'queued', endedAt: null });
      expect(conversationInfo.participants).to.deep.equal([init.participant]);
      const g = await greeting;
      expect(g.type).to.equal('ActivityMessage');
      expect(g.from.role).to.equal('system');
      expect(order.indexOf('conversationInfo')).to.be.lessThan(order.indexOf('messageArrived:greetings'));
    });

    it('broadcasts participantJoined to the others only on a first join, not on reconnect', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const joinedSeen = record<Msg>(customer.socket, 'messageArrived');
      const announced = nextEvent<Msg>(customer.socket, 'messageArrived', (m) => m.activityType === 'participantJoined');
      const agent = await joinedAgent(hub.url, cid, 'agent-pj');
      await announced;
      expect((agent.info as { role: string }).role).to.equal('agent');
      // The agent reconnects (new socket, same agent): no second participantJoined, no greeting.
      agent.socket.close();
      const again = await joinedAgent(hub.url, cid, 'agent-pj');
      const againSeen = record<Msg>(again.socket, 'messageArrived');
      // The customer reconnects too.
      customer.socket.close();
      const socket = await connect(hub.url, { token: customer.init.token });
      const mine = record<Msg>(socket, 'messageArrived');
      const ack = await emitAck(socket, 'joinConversation', { conversationId: cid, id: customer.init.participant.id, name: 'Jane' });
      expect(ack.ok).to.equal(true);
      await sleep(300);
      expect(joinedSeen.filter((m) => m.activityType === 'participantJoined')).to.have.length(1);
      expect(againSeen.filter((m) => m.activityType === 'participantJoined')).to.have.length(0);
      expect(mine.filter((m) => m.activityType === 'greetings')).to.have.length(0);
    });

    it('marks the conversation active when an agent joins', async () => {
      const customer = await joinedCustomer(hub.url);
      const agent = await joinedAgent(hub.url, customer.init.conversationId, 'agent-act');
      expect((agent.info as { conversation: { status: string } }).conversation.status).to.equal('active');
    });

    it('lets a customer join only their own conversation', async () => {
      const mine = await initCustomer(hub.url);
      const theirs = await initCustomer(hub.url);
      const socket = await connect(hub.url, { token: mine.token });
      expectError(await emitAck(socket, 'joinConversation', { conversationId: theirs.conversationId, id: mine.participant.id, name: 'x' }), 'FORBIDDEN');
      expectError(await emitAck(socket, 'joinConversation', { conversationId: mine.conversationId, id: theirs.participant.id, name: 'x' }), 'FORBIDDEN');
      const other = await connect(hub.url);
      expectError(
        await emitAck(other, 'joinConversation', { conversationId: theirs.conversationId, id: theirs.participant.id, name: 'x', token: mine.token }),
        'FORBIDDEN',
      );
    });

    it('requires a credential, and rejects expired, forged and alg:none tokens', async () => {
      const init = await initCustomer(hub.url);
      const join = { conversationId: init.conversationId, id: init.participant.id, name: 'x' };
      const anonymous = await connect(hub.url);
      expectError(await emitAck(anonymous, 'joinConversation', join), 'UNAUTHORIZED');
      const claims = { cid: init.conversationId, name: 'Jane' };
      const base = { audience: 'customer', issuer: 'chat-hub', subject: init.participant.id };
      const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, HUB_SECRET, { ...base, algorithm: 'HS256' });
      const forged = jwt.sign(claims, 'not-the-hub-secret-not-the-hub-secret', { ...base, algorithm: 'HS256', expiresIn: 600 });
      const noExpiry = jwt.sign(claims, HUB_SECRET, { ...base, algorithm: 'HS256' });
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      const body = Buffer.from(JSON.stringify({ ...claims, sub: init.participant.id, aud: 'customer', iss: 'chat-hub', exp: 9999999999 })).toString('base64url');
      const none = `${header}.${body}.`;
      for (const token of [expired, forged, noExpiry, none, 'garbage']) {
        expectError(await emitAck(anonymous, 'joinConversation', { ...join, token }), 'UNAUTHORIZED');
        const refused = await connectRefused(hub.url, { token });
        expect(refused.data?.code).to.equal('UNAUTHORIZED');
      }
      const expiredAck = await emitAck(anonymous, 'joinConversation', { ...join, token: expired });
      if (!expiredAck.ok) expect(expiredAck.error.message).to.include('expired');
    });

    it('answers unknown conversations with NOT_FOUND and bad payloads with BAD_REQUEST', async () => {
      const token = await agentToken(hub.url, 'agent-nf');
      const socket = await connect(hub.url, { token });
      expectError(await emitAck(socket, 'joinConversation', { conversationId: '6f1c3f5e-8a41-4c1e-9d2a-2b1f4c8e9a10', id: 'agent-nf', name: 'A' }), 'NOT_FOUND');
      expectError(await emitAck(socket, 'joinConversation', { conversationId: 'not-a-uuid', id: 'agent-nf', name: 'A' }), 'BAD_REQUEST');
      expectError(await emitAck(socket, 'joinConversation', { conversationId: { $ne: null }, id: 'agent-nf' }), 'BAD_REQUEST');
      expectError(await emitAck(socket, 'joinConversation', 'hello'), 'BAD_REQUEST');
      expectError(await emitAck(socket, 'joinConversation', null), 'BAD_REQUEST');
      const bad = await emitAck(socket, 'joinConversation', { id: 'agent-nf' });
      expectError(bad, 'BAD_REQUEST');
      if (!bad.ok) expect(bad.error.message).to.include('conversationId');
    });

    it('lets an agent join only as the agent its token names; the system token joins anyone', async () => {
      const init = await initCustomer(hub.url);
      const token = await agentToken(hub.url, 'agent-real');
      const socket = await connect(hub.url, { token });
      expectError(await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: 'someone-else', name: 'X' }), 'FORBIDDEN');
      const system = await connect(hub.url, { token: SYSTEM_TOKEN });
      const ack = await emitAck(system, 'joinConversation', { conversationId: init.conversationId, id: 'supervisor', name: 'Sue' });
      expect(ack).to.deep.equal({ ok: true, role: 'system' });
    });
  });

  describe('sendMessage and messageArrived', () => {
    it('stores a message and delivers it to the others, not back to the sender', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const agent = await joinedAgent(hub.url, cid, 'agent-send');
      const echo = record<Msg>(customer.socket, 'messageArrived');
      const arrived = nextEvent<Msg>(agent.socket, 'messageArrived', (m) => m.type === 'ChatMessage');
      const from = { id: customer.init.participant.id, name: 'Jane' };
      const ack = (await emitAck(customer.socket, 'sendMessage', chat(cid, from, 'Hello, my invoice?', { refId: 'ignored' }))) as { ok: true; message: Msg };
      expect(ack.ok).to.equal(true);
      expect(ack.message.id).to.match(/^[0-9a-f-]{36}$/);
      expect(ack.message).to.include({ conversationId: cid, type: 'ChatMessage', text: 'Hello, my invoice?', state: 'DELIVERED', channel: 'web' });
      expect(ack.message.from).to.deep.equal({ ...from, name: customer.init.participant.name, role: 'customer' });
      expect(ack.message.timestamp).to.match(/\.\d{3}Z$/);
      const got = await arrived;
      expect(got).to.deep.equal(ack.message);
      await sleep(100);
      expect(echo.filter((m) => m.id === ack.message.id)).to.have.length(0);
      const stored = await hub.db.connection.collection('messages').findOne({ _id: ack.message.id as never });
      expect(stored?.['text']).to.equal('Hello, my invoice?');
    });

    it("delivers to the sender's other tabs, but not back to the sending socket", async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const tab2 = await connect(hub.url, { token: customer.init.token });
      const info = nextEvent(tab2, 'conversationInfo');
      expect((await emitAck(tab2, 'joinConversation', { conversationId: cid, id: customer.init.participant.id })).ok).to.equal(true);
      await info;
      const echo = record<Msg>(customer.socket, 'messageArrived');
      const onTab2 = nextEvent<Msg>(tab2, 'messageArrived', (m) => m.text === 'from tab 1');
      const ack = await emitAck(customer.socket, 'sendMessage', chat(cid, { id: customer.init.participant.id, name: 'J' }, 'from tab 1'));
      expect(ack.ok).to.equal(true);
      await onTab2;
      await sleep(100);
      expect(echo.filter((m) => m.text === 'from tab 1')).to.have.length(0);
    });

    it('delivers a message with to[] only to the listed participants', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const a1 = await joinedAgent(hub.url, cid, 'agent-to-1');
      const a2 = await joinedAgent(hub.url, cid, 'agent-to-2');
      const seenByCustomer = record<Msg>(customer.socket, 'messageArrived');
      const seenByA2 = record<Msg>(a2.socket, 'messageArrived');
      const toA2 = nextEvent<Msg>(a2.socket, 'messageArrived', (m) => m.text === 'for agent 2 only');
      const ack = await emitAck(a1.socket, 'sendMessage', chat(cid, { id: 'agent-to-1', name: 'A1' }, 'for agent 2 only', { to: [{ id: 'agent-to-2', name: 'A2' }] }));
      expect(ack.ok).to.equal(true);
      await toA2;
      const toCustomer = nextEvent<Msg>(customer.socket, 'messageArrived', (m) => m.text === 'for the customer only');
      await emitAck(a1.socket, 'sendMessage', chat(cid, { id: 'agent-to-1', name: 'A1' }, 'for the customer only', { to: [{ id: customer.init.participant.id, name: 'Jane' }] }));
      await toCustomer;
      await sleep(150);
      expect(seenByCustomer.map((m) => m.text)).to.not.include('for agent 2 only');
      expect(seenByA2.map((m) => m.text)).to.not.include('for the customer only');
      // History respects to[] too.
      const again = await connect(hub.url, { token: customer.init.token });
      const info = nextEvent<{ messages: Msg[] }>(again, 'conversationInfo');
      await emitAck(again, 'joinConversation', { conversationId: cid, id: customer.init.participant.id, name: 'Jane' });
      const texts = (await info).messages.map((m) => m.text);
      expect(texts).to.include('for the customer only');
      expect(texts).to.not.include('for agent 2 only');
    });

    it('never shows a whisper to the customer, live or in history', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const a1 = await joinedAgent(hub.url, cid, 'agent-w1');
      const a2 = await joinedAgent(hub.url, cid, 'agent-w2');
      const seenByCustomer = record<Msg>(customer.socket, 'messageArrived');
      const whisper = nextEvent<Msg>(a2.socket, 'messageArrived', (m) => m.tag === 'whisper');
      const ack = await emitAck(a1.socket, 'sendMessage', chat(cid, { id: 'agent-w1', name: 'A1' }, 'customer seems upset', { tag: 'whisper' }));
      expect(ack.ok).to.equal(true);
      expect((await whisper).text).to.equal('customer seems upset');
      // A whisper addressed to the customer still never reaches them.
      await emitAck(a1.socket, 'sendMessage', chat(cid, { id: 'agent-w1', name: 'A1' }, 'targeted whisper', { tag: 'whisper', to: [{ id: customer.init.participant.id, name: 'J' }] }));
      const publicReply = nextEvent<Msg>(customer.socket, 'messageArrived', (m) => m.text === 'public reply');
      await emitAck(a1.socket, 'sendMessage', chat(cid, { id: 'agent-w1', name: 'A1' }, 'public reply'));
      await publicReply;
      expect(seenByCustomer.filter((m) => m.tag === 'whisper')).to.have.length(0);
      const again = await connect(hub.url, { token: customer.init.token });
      const info = nextEvent<{ messages: Msg[] }>(again, 'conversationInfo');
      await emitAck(again, 'joinConversation', { conversationId: cid, id: customer.init.participant.id, name: 'Jane' });
      const history = (await info).messages;
      expect(history.map((m) => m.text)).to.include('public reply');
      expect(history.filter((m) => m.tag === 'whisper')).to.have.length(0);
      // A customer cannot whisper.
      expectError(await emitAck(customer.socket, 'sendMessage', chat(cid, { id: customer.init.participant.id, name: 'J' }, 'psst', { tag: 'whisper' })), 'FORBIDDEN');
    });

    it('relays typing without storing it', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const agent = await joinedAgent(hub.url, cid, 'agent-typing');
      const typing = nextEvent<Msg>(agent.socket, 'messageArrived', (m) => m.activityType === 'typing');
      const ack = (await emitAck(customer.socket, 'sendMessage', {
        conversationId: cid,
        type: 'ActivityMessage',
        activityType: 'typing',
        from: { id: customer.init.participant.id, name: 'J' },
      })) as { ok: true; message: Msg };
      expect(ack.ok).to.equal(true);
      const got = await typing;
      expect(got.seq).to.equal(undefined);
      const count = await hub.db.connection.collection('messages').countDocuments({ conversationId: cid, activityType: 'typing' });
      expect(count).to.equal(0);
      expect(await hub.db.connection.collection('messages').countDocuments({ _id: ack.message.id as never })).to.equal(0);
    });

    it('stores a repeated clientMessageId once and answers with the first message', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const agent = await joinedAgent(hub.url, cid, 'agent-dedup');
      const seen = record<Msg>(agent.socket, 'messageArrived');
      const msg = chat(cid, { id: customer.init.participant.id, name: 'J' }, 'only once', { clientMessageId: 'c-1' });
      const [a, b] = (await Promise.all([emitAck(customer.socket, 'sendMessage', msg), emitAck(customer.socket, 'sendMessage', msg)])) as Array<{
        ok: true;
        message: Msg;
      }>;
      const c = (await emitAck(customer.socket, 'sendMessage', msg)) as { ok: true; message: Msg };
      expect(a!.message.id).to.equal(b!.message.id);
      expect(c.message.id).to.equal(a!.message.id);
      await sleep(200);
      expect(seen.filter((m) => m.text === 'only once')).to.have.length(1);
      expect(await hub.db.connection.collection('messages').countDocuments({ conversationId: cid, text: 'only once' })).to.equal(1);
      // Another sender may use the same clientMessageId.
      const other = (await emitAck(agent.socket, 'sendMessage', chat(cid, { id: 'agent-dedup', name: 'A' }, 'mine', { clientMessageId: 'c-1' }))) as {
        ok: true;
        message: Msg;
      };
      expect(other.message.id).to.not.equal(a!.message.id);
    });

    it('refuses spoofed senders, unjoined senders and hub-only activities', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      await joinedAgent(hub.url, cid, 'agent-spoof');
      const spoof = await emitAck(customer.socket, 'sendMessage', chat(cid, { id: 'agent-spoof', name: 'Agent' }, 'I am the agent'));
      expectError(spoof, 'FORBIDDEN');
      const other = await initCustomer(hub.url);
      const notJoined = await emitAck(customer.socket, 'sendMessage', chat(other.conversationId, { id: customer.init.participant.id, name: 'J' }, 'hi'));
      expectError(notJoined, 'FORBIDDEN');
      const fresh = await connect(hub.url, { token: customer.init.token });
      expectError(await emitAck(fresh, 'sendMessage', chat(cid, { id: customer.init.participant.id, name: 'J' }, 'before join')), 'FORBIDDEN');
      const forgedEnd = { conversationId: cid, type: 'ActivityMessage', activityType: 'endOfConversation', from: { id: customer.init.participant.id, name: 'J' } };
      expectError(await emitAck(customer.socket, 'sendMessage', forgedEnd), 'FORBIDDEN');
      expect(await hub.db.connection.collection('messages').countDocuments({ conversationId: cid, text: 'I am the agent' })).to.equal(0);
    });

    it('answers bad messages with BAD_REQUEST naming the field', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const from = { id: customer.init.participant.id, name: 'J' };
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ conversationId: cid, from, text: 'no type' }, 'type'],
        [{ conversationId: cid, type: 'ChatMessage', text: 'no from' }, 'from'],
        [{ conversationId: cid, type: 'ChatMessage', from, text: { $ne: null } }, 'text'],
        [{ conversationId: cid, type: 'ChatMessage', from: { id: { $gt: '' }, name: 'J' }, text: 'x' }, 'from.id'],
        [{ conversationId: cid, type: 'ChatMessage', from, text: 'x', attachments: [{ type: 'image/png', name: 'a', contentUrl: 'file:///etc/passwd' }] }, 'attachments.0.contentUrl'],
        [{ conversationId: cid, type: 'ChatMessage', from, text: 'x', metadata: { $where: '1' } }, 'metadata'],
        [{ conversationId: cid, type: 'ChatMessage', from, text: 'x', tag: 'secret' }, 'tag'],
        [{ conversationId: cid, type: 'ActivityMessage', from, activityType: 'dancing' }, 'activityType'],
        [{ conversationId: cid, type: 'ChatMessage', from, text: 'x'.repeat(20_001) }, 'text'],
        [{ type: 'ChatMessage', from, text: 'no conversation' }, 'conversationId'],
      ];
      for (const [payload, field] of cases) {
        const ack = await emitAck(customer.socket, 'sendMessage', payload);
        expectError(ack, 'BAD_REQUEST');
        if (!ack.ok) expect(ack.error.message, JSON.stringify(payload).slice(0, 80)).to.include(field);
      }
      const ok = await emitAck(customer.socket, 'sendMessage', {
        conversationId: cid,
        type: 'ChatMessage',
        from,
        text: 'with a picture',
        attachments: [{ type: 'image/png', name: 'pic.png', contentUrl: 'https://cdn.example/pic.png' }],
      });
      expect(ok.ok).to.equal(true);
    });

    it('emits the error back as an `error` event when the client passes no callback', async () => {
      const customer = await joinedCustomer(hub.url);
      const error = nextEvent<{ ok: boolean; error: { code: string } }>(customer.socket, 'error');
      customer.socket.emit('sendMessage', { conversationId: customer.init.conversationId, type: 'ChatMessage', text: 'no from' });
      const got = await error;
      expect(got.ok).to.equal(false);
      expect(got.error.code).to.equal('BAD_REQUEST');
    });

    it('answers an oversized event with PAYLOAD_TOO_LARGE, and drops only a connection past the hard cap', async () => {
      const customer = await joinedCustomer(hub.url);
      const from = { id: customer.init.participant.id, name: 'J' };
      const cid = customer.init.conversationId;
      const big = await emitAck(customer.socket, 'sendMessage', chat(cid, from, 'x', { metadata: { blob: 'y'.repeat(9_000) }, attachments: [{ type: 'image/png', name: 'a.png', contentUrl: `data:image/png;base64,${'A'.repeat(400_000)}` }] }));
      expectError(big, 'PAYLOAD_TOO_LARGE');
      expect(customer.socket.connected).to.equal(true);
      const closed = new Promise<string>((resolve) => customer.socket.once('disconnect', resolve));
      customer.socket.emit('sendMessage', chat(cid, from, 'x'.repeat(5_000_000)));
      expect(await closed).to.be.a('string');
      const next = await joinedCustomer(hub.url);
      expect(next.init.conversationId).to.be.a('string');
    });

    it('answers unknown events instead of ignoring them', async () => {
      const customer = await joinedCustomer(hub.url);
      expectError(await emitAck(customer.socket, 'launchRockets', { now: true }), 'BAD_REQUEST');
      const error = nextEvent<{ ok: boolean; error: { code: string; message: string } }>(customer.socket, 'error');
      customer.socket.emit('launchRockets');
      expect((await error).error.message).to.include('launchRockets');
    });

    it('works over HTTP long-polling, the socket.io-client default, as well as WebSocket', async () => {
      const init = await initCustomer(hub.url);
      const socket = io(hub.url, { auth: { token: init.token }, reconnection: false, forceNew: true, transports: ['polling'] });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
        const info = nextEvent(socket, 'conversationInfo');
        const ack = await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: 'J' });
        expect(ack.ok).to.equal(true);
        await info;
        const sent = await emitAck(socket, 'sendMessage', chat(init.conversationId, { id: init.participant.id, name: 'J' }, 'over polling'));
        expect(sent.ok).to.equal(true);
      } finally {
        socket.close();
      }
      expect((await fetch(`${hub.url}/health`)).status, 'the hub is still up').to.equal(200);
    });

    it('closes a socket, with an UNAUTHORIZED error first, once the token it joined with expires', async () => {
      const init = await initCustomer(hub.url);
      const shortLived = jwt.sign({ cid: init.conversationId, name: 'Jane' }, HUB_SECRET, {
        algorithm: 'HS256',
        audience: 'customer',
        issuer: 'chat-hub',
        subject: init.participant.id,
        expiresIn: 2,
      });
      const errors: string[] = [];
      const socket = await connect(hub.url, { token: shortLived }, (s) => s.on('error', (e: { error: { code: string } }) => errors.push(e.error.code)));
      const closed = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
      expect((await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id })).ok).to.equal(true);
      const from = { id: init.participant.id, name: 'J' };
      expect((await emitAck(socket, 'sendMessage', chat(init.conversationId, from, 'while valid'))).ok).to.equal(true);
      // Until now the socket stayed open and its events were refused; now the hub closes it at expiry (see test/hostile/expired-token.test.ts).
      expect(await Promise.race([closed, sleep(4000).then(() => 'still open')])).to.equal('io server disconnect');
      expect(errors).to.deep.equal(['UNAUTHORIZED']);
    });

    it('rate-limits a flooding socket with RATE_LIMITED', async () => {
      const limited = await startHub(store.uri('conversation_rate'), { RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '5' });
      try {
        const customer = await joinedCustomer(limited.url);
        const from = { id: customer.init.participant.id, name: 'J' };
        const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => emitAck(customer.socket, 'sendMessage', chat(customer.init.conversationId, from, `m${i}`))));
        const codes = acks.map((a) => (a.ok ? 'ok' : a.error.code));
        expect(codes).to.include('RATE_LIMITED');
        expect(codes).to.include('ok');
      } finally {
        closeAllSockets();
        await limited.close();
      }
    });
  });

  describe('ordering', () => {
    it('gives each conversation increasing seq numbers and delivers in that order', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const agent = await joinedAgent(hub.url, cid, 'agent-order');
      const seen = record<Msg>(agent.socket, 'messageArrived');
      const from = { id: customer.init.participant.id, name: 'J' };
      const N = 40;
      const acks = (await Promise.all(Array.from({ length: N }, (_, i) => emitAck(customer.socket, 'sendMessage', chat(cid, from, `n${i}`))))) as Array<{
        ok: true;
        message: Msg;
      }>;
      const seqs = acks.map((a) => a.message.seq ?? 0);
      for (let i = 1; i < N; i += 1) expect(seqs[i]).to.be.greaterThan(seqs[i - 1]!);
      await sleep(300);
      const chats = seen.filter((m) => m.type === 'ChatMessage');
      expect(chats.map((m) => m.text)).to.deep.equal(acks.map((a) => a.message.text));
      const arrivedSeqs = chats.map((m) => m.seq ?? 0);
      expect(arrivedSeqs).to.deep.equal([...arrivedSeqs].sort((x, y) => x - y));
    });
  });

  describe('endConversation', () => {
    it('ends by the customer: everyone joined gets endOfConversation, later sends get CONVERSATION_ENDED', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const agent = await joinedAgent(hub.url, cid, 'agent-end');
      const agentSees = nextEvent<Msg>(agent.socket, 'messageArrived', (m) => m.activityType === 'endOfConversation');
      const customerSees = nextEvent<Msg>(customer.socket, 'messageArrived', (m) => m.activityType === 'endOfConversation');
      const ack = (await emitAck(customer.socket, 'endConversation', { conversationId: cid })) as { ok: true; endedAt: string };
      expect(ack.ok).to.equal(true);
      expect(ack.endedAt).to.match(/Z$/);
      await agentSees;
      await customerSees;
      const doc = await hub.db.connection.collection('conversations').findOne({ _id: cid as never });
      expect(doc?.['status']).to.equal('ended');
      expect(doc?.['endedAt']).to.be.instanceOf(Date);
      expectError(await emitAck(agent.socket, 'sendMessage', chat(cid, { id: 'agent-end', name: 'A' }, 'too late')), 'CONVERSATION_ENDED');
      expectError(await emitAck(customer.socket, 'endConversation', { conversationId: cid }), 'CONVERSATION_ENDED');
      // Joining an ended conversation shows it, read-only, and records nothing.
      const late = await joinedAgent(hub.url, cid, 'agent-late');
      expect((late.info as { conversation: { status: string } }).conversation.status).to.equal('ended');
      const after = await hub.db.connection.collection('conversations').findOne({ _id: cid as never });
      expect((after?.['participants'] as Array<{ id: string }>).map((p) => p.id)).to.not.include('agent-late');
    });

    it('lets a joined agent or the system token end it, but not a stranger', async () => {
      const c1 = await joinedCustomer(hub.url);
      const agent = await joinedAgent(hub.url, c1.init.conversationId, 'agent-ender');
      expect((await emitAck(agent.socket, 'endConversation', { conversationId: c1.init.conversationId })).ok).to.equal(true);

      const c2 = await initCustomer(hub.url);
      const strangerToken = await agentToken(hub.url, 'agent-stranger');
      const stranger = await connect(hub.url, { token: strangerToken });
      expectError(await emitAck(stranger, 'endConversation', { conversationId: c2.conversationId }), 'FORBIDDEN');
      const other = await initCustomer(hub.url);
      const otherCustomer = await connect(hub.url, { token: other.token });
      expectError(await emitAck(otherCustomer, 'endConversation', { conversationId: c2.conversationId }), 'FORBIDDEN');
      const anonymous = await connect(hub.url);
      expectError(await emitAck(anonymous, 'endConversation', { conversationId: c2.conversationId }), 'UNAUTHORIZED');
      expect((await emitAck(anonymous, 'endConversation', { conversationId: c2.conversationId, token: SYSTEM_TOKEN })).ok).to.equal(true);
      const unknown = '0b8e7f4c-2d1a-4f3b-9c6e-5a4d3c2b1a09';
      expectError(await emitAck(anonymous, 'endConversation', { conversationId: unknown, token: SYSTEM_TOKEN }), 'NOT_FOUND');
      expectError(await emitAck(anonymous, 'endConversation', { conversationId: 'nope', token: SYSTEM_TOKEN }), 'BAD_REQUEST');
    });
  });
});
