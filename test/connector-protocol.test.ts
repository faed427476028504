import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, emitAck, joinedAgent, nextEvent, postJson, record, sleep, type AnyAck } from './support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { rawConnector, until, type RawConnector } from './support/raw-connector.js';
import { startTestStore, type TestStore } from './support/store.js';

const KEYS = { sms: 'sms-key-0123456789', fb: 'fb-key-0123456789' };
const HUB_ENV = {
  CONNECTOR_KEYS: `sms:${KEYS.sms},fb:${KEYS.fb}`,
  CONNECTOR_ACK_TIMEOUT_MS: '500',
  CONNECTOR_RETRY_BASE_MS: '100',
  CONNECTOR_MAX_ATTEMPTS: '3',
  CHANNELS: JSON.stringify([{ id: 'promo-sms', source: 'sms', name: 'Promotions' }]),
};
const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };

type Msg = { id: string; conversationId: string; state: string; text?: string; refId: string; channel: string; metadata: Record<string, unknown>; from: { id: string; role?: string } };

let numbers = 0;
/** A fresh customer phone number per test. */
const phone = (): string => `+4915100${String(Date.now() % 100000).padStart(5, '0')}${String((numbers += 1)).padStart(3, '0')}`;

function ok(ack: AnyAck): Record<string, unknown> {
  expect(ack.ok, JSON.stringify(ack)).to.equal(true);
  return ack as Record<string, unknown>;
}

function refused(ack: AnyAck, code: string): void {
  expect(ack.ok, JSON.stringify(ack)).to.equal(false);
  if (!ack.ok) expect(ack.error.code).to.equal(code);
}

function agentSays(agent: Socket, conversationId: string, text: string, extra: Record<string, unknown> = {}): Promise<AnyAck> {
  return emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: 'agent-1', name: 'Agent' }, text, ...extra });
}

describe('Connectors (§5): the hub side of the protocol', function () {
  let store: TestStore;
  let hub: RunningHub;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('connectors'), HUB_ENV);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  /** An inbound SMS from a new number, and an agent joined to the conversation it opened. */
  async function inboundConversation(sms: RawConnector, from = phone()): Promise<{ conversationId: string; agent: Socket; refId: string }> {
    const ack = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: from, text: 'hi', clientMessageId: `SM-${from}` }));
    const conversationId = ack['conversationId'] as string;
    const { socket } = await joinedAgent(hub.url, conversationId);
    return { conversationId, agent: socket, refId: from };
  }

  describe('registerConnector', () => {
    it('accepts the key in the payload or in the handshake, and refuses a wrong or missing key by disconnecting', async () => {
      const a = await rawConnector(hub.url, 'sms', KEYS.sms);
      expect(ok(await a.register())['connector']).to.deep.equal({ id: 'sms', name: 'sms test', channel: 'sms' });
      const b = await rawConnector(hub.url, 'fb', KEYS.fb, true);
      ok(await b.register());

      for (const key of ['wrong-key-0000', '']) {
        const bad = await rawConnector(hub.url, 'sms', key);
        const closed = nextEvent(bad.socket, 'disconnect');
        refused(await emitAck(bad.socket, 'registerConnector', key ? { id: 'sms', name: 'x', channel: 'sms', key } : { id: 'sms', name: 'x', channel: 'sms' }), 'UNAUTHORIZED');
        await closed;
      }
      // The key of another connector does not open this one.
      const crossed = await rawConnector(hub.url, 'fb', KEYS.sms);
      refused(await crossed.register(), 'UNAUTHORIZED');
    });

    it('requires id to equal channel, and registration before connector events', async () => {
      const c = await rawConnector(hub.url, 'sms', KEYS.sms);
      refused(await emitAck(c.socket, 'registerConnector', { id: 'sms', name: 'x', channel: 'fb', key: KEYS.sms }), 'BAD_REQUEST');
      refused(await emitAck(c.socket, 'messageStatus', { messageId: '6f1c2d4e-1111-4222-8333-444455556666', state: 'DELIVERED' }), 'FORBIDDEN');
      // Without registration a sendMessage is an ordinary client event: it needs a conversation.
      refused(await emitAck(c.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+491', from: { id: 'x', name: 'x' }, text: 'x' }), 'BAD_REQUEST');
    });
  });

  describe('inbound', () => {
    it('opens a conversation for a new customer, appends to it afterwards, and stores a repeated provider id once', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const from = phone();
      const first = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: from, from: { name: 'Jane' }, text: 'first', clientMessageId: 'SM1' }));
      const conversationId = first['conversationId'] as string;
      expect((first['message'] as Msg).from.role).to.equal('customer');

      const { socket: agent, info } = await joinedAgent(hub.url, conversationId);
      expect((info['conversation'] as { channel: string; customer: { refId: string; phone: string } }).customer).to.include({ refId: from, phone: from });
      const arrivals = record<Msg>(agent, 'messageArrived');
      const second = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: from, text: 'second', clientMessageId: 'SM2' }));
      expect(second['conversationId']).to.equal(conversationId);
      const again = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: from, text: 'second', clientMessageId: 'SM2' }));
      expect((again['message'] as Msg).id).to.equal((second['message'] as Msg).id);
      await until(() => arrivals.length >= 1, 'the agent to receive the second message');
      await sleep(100);
      expect(arrivals.map((m) => m.text)).to.deep.equal(['second']);

      // The conversation is listed by channel and refId.
      const res = await fetch(`${hub.url}/api/conversations?channel=sms&refId=${encodeURIComponent(from)}`, { headers: system });
      const listed = (await res.json()) as { data: Array<{ id: string }> };
      expect(listed.data.map((c) => c.id)).to.deep.equal([conversationId]);

      // After the end, the same number opens a new conversation.
      ok(await emitAck(agent, 'endConversation', { conversationId }));
      const later = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: from, text: 'new topic' }));
      expect(later['conversationId']).to.not.equal(conversationId);
    });

    it('opens one conversation when the first messages of a customer arrive at once', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const from = phone();
      const acks = await Promise.all(
        Array.from({ length: 5 }, (_, i) => emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: from, text: `m${i}` })),
      );
      expect(new Set(acks.map((a) => ok(a)['conversationId'])).size).to.equal(1);
    });

    it('refuses a channel other than its own, a conversationId, and a message without content', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      refused(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'fb', refId: '+49', text: 'x' }), 'BAD_REQUEST');
      refused(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+49', text: 'x', conversationId: '6f1c2d4e-1111-4222-8333-444455556666' }), 'BAD_REQUEST');
      refused(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+49', text: '' }), 'BAD_REQUEST');
    });
  });

  describe('outbound', () => {
    it('hands an agent reply to the connector with refId and channel; the ack makes it DELIVERED with the externalId', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const { conversationId, agent, refId } = await inboundConversation(sms);
      const updated = nextEvent<Msg>(agent, 'messageUpdated');
      const sent = ok(await agentSays(agent, conversationId, 'hello from the agent'));
      expect((sent['message'] as Msg).state).to.equal('PENDING');
      const message = await updated;
      expect(message).to.include({ id: (sent['message'] as Msg).id, state: 'DELIVERED' });
      expect(message.metadata['externalId']).to.equal(`ext-${message.id}`);
      expect(sms.received).to.have.length(1);
      expect(sms.received[0]).to.include({ refId, channel: 'sms', text: 'hello from the agent', conversationId });

      // Whispers and activity messages never reach the channel.
      ok(await agentSays(agent, conversationId, 'internal note', { tag: 'whisper' }));
      ok(await emitAck(agent, 'sendMessage', { conversationId, type: 'ActivityMessage', activityType: 'typing', from: { id: 'agent-1', name: 'A' } }));
      await sleep(300);
      expect(sms.received).to.have.length(1);
    });

    it('marks a refused message FAILED with metadata.error; resend puts it back to PENDING and delivers it; 409 otherwise', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const { conversationId, agent } = await inboundConversation(sms);
      sms.answer = () => ({ ok: false, error: { message: 'invalid number' } });
      const failed = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.state === 'FAILED');
      const sent = ok(await agentSays(agent, conversationId, 'will fail'));
      const id = (sent['message'] as Msg).id;
      expect((await failed).metadata['error']).to.equal('invalid number');

      sms.answer = (m) => ({ ok: true, externalId: `retry-${m.id}` });
      const pending = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.id === id && m.state === 'PENDING');
      const delivered = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.id === id && m.state === 'DELIVERED');
      const res = await postJson<{ state: string; id: string }>(`${hub.url}/messages.resend`, { message_id: id }, system);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ id, state: 'pending' });
      expect((await pending).metadata).to.not.have.property('error');
      expect((await delivered).metadata['externalId']).to.equal(`retry-${id}`);

      const again = await postJson(`${hub.url}/messages.resend`, { message_id: id }, system);
      expect(again.status).to.equal(409);
      expect(again.body).to.deep.equal({ error: 'Message is not in a failed state', code: 'CONFLICT' });
      expect((await postJson(`${hub.url}/messages.resend`, { message_id: '6f1c2d4e-1111-4222-8333-444455556666' }, system)).status).to.equal(404);
      expect((await postJson(`${hub.url}/messages.resend`, { message_id: 'nope' }, system)).status).to.equal(400);
      expect((await postJson(`${hub.url}/messages.resend`, { message_id: id })).status).to.equal(401);
    });

    it('retries a retryable refusal with backoff and fails after the configured attempts', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const { conversationId, agent } = await inboundConversation(sms);
      let calls = 0;
      sms.answer = () => (++calls < 3 ? { ok: false, error: { message: 'provider 503', retryable: true } } : { ok: true, externalId: 'third' });
      const delivered = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.state === 'DELIVERED');
      ok(await agentSays(agent, conversationId, 'eventually'));
      expect((await delivered).metadata['externalId']).to.equal('third');
      expect(calls).to.equal(3);

      sms.answer = () => ({ ok: false, error: { message: 'provider 503', retryable: true } });
      const failed = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.state === 'FAILED');
      ok(await agentSays(agent, conversationId, 'never'));
      expect(String((await failed).metadata['error'])).to.match(/gave up after 3 attempts: provider 503/);
    });

    it('keeps messages PENDING without a connector and delivers them in order when one registers', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const { conversationId, agent } = await inboundConversation(sms);
      sms.socket.close();
      await sleep(100);
      for (let i = 1; i <= 5; i += 1) expect((ok(await agentSays(agent, conversationId, `queued ${i}`))['message'] as Msg).state).to.equal('PENDING');

      const back = await rawConnector(hub.url, 'sms', KEYS.sms);
      const delivered = record<Msg>(agent, 'messageUpdated');
      ok(await back.register());
      await until(() => delivered.filter((m) => m.state === 'DELIVERED').length >= 5, 'five deliveries');
      expect(back.received.filter((m) => m.conversationId === conversationId).map((m) => m.text)).to.deep.equal([1, 2, 3, 4, 5].map((i) => `queued ${i}`));
    });

    it('retries a silent pool member on another one, one message per conversation at a time', async () => {
      const a = await rawConnector(hub.url, 'sms', KEYS.sms);
      const b = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await a.register());
      ok(await b.register());
      const { conversationId, agent } = await inboundConversation(a);
      a.answer = () => 'silence';
      b.answer = () => 'silence';
      const delivered = record<Msg>(agent, 'messageUpdated');
      ok(await agentSays(agent, conversationId, 'one'));
      ok(await agentSays(agent, conversationId, 'two'));
      await until(() => a.received.length + b.received.length >= 1, 'a first hand-over');
      await sleep(100);
      // The second waits behind the first: order in the channel is the conversation's order.
      expect(a.received.length + b.received.length).to.equal(1);
      const silent = a.received.length === 1 ? a : b;
      const other = silent === a ? b : a;
      other.answer = (m) => ({ ok: true, externalId: `other-${m.id}` });
      await until(() => delivered.filter((m) => m.state === 'DELIVERED').length >= 2, 'both delivered by the other member', 5000);
      expect(other.received.map((m) => m.text)).to.deep.equal(['one', 'two']);
    });

    it('redelivers at once what a member held when it disconnected', async () => {
      const a = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await a.register());
      const { conversationId, agent } = await inboundConversation(a);
      a.answer = () => 'silence';
      ok(await agentSays(agent, conversationId, 'held'));
      await until(() => a.received.length === 1, 'the hand-over to the first member');
      const b = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await b.register());
      const delivered = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.state === 'DELIVERED');
      a.socket.close();
      expect((await delivered).metadata['externalId']).to.match(/^ext-/);
      expect(b.received.map((m) => m.text)).to.deep.equal(['held']);
    });

    it('keeps a message PENDING on an accepted-for-delivery ack until the connector reports the outcome', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const { conversationId, agent } = await inboundConversation(sms);
      sms.answer = () => ({ ok: true, externalId: 'SMqueued', state: 'PENDING' });
      const sent = ok(await agentSays(agent, conversationId, 'awaiting report'));
      const id = (sent['message'] as Msg).id;
      const accepted = await nextEvent<Msg>(agent, 'messageUpdated');
      expect(accepted).to.include({ id, state: 'PENDING' });
      expect(accepted.metadata['externalId']).to.equal('SMqueued');

      const fb = await rawConnector(hub.url, 'fb', KEYS.fb);
      ok(await fb.register());
      refused(await emitAck(fb.socket, 'messageStatus', { messageId: id, state: 'DELIVERED' }), 'FORBIDDEN');
      refused(await emitAck(sms.socket, 'messageStatus', { messageId: id, state: 'READ' }), 'BAD_REQUEST');
      refused(await emitAck(sms.socket, 'messageStatus', { messageId: '6f1c2d4e-1111-4222-8333-444455556666', state: 'DELIVERED' }), 'NOT_FOUND');

      const delivered = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.state === 'DELIVERED');
      const report = ok(await emitAck(sms.socket, 'messageStatus', { messageId: id, state: 'DELIVERED', externalId: 'SMqueued' }));
      expect((report['message'] as Msg).state).to.equal('DELIVERED');
      await delivered;
      const failed = nextEvent<Msg>(agent, 'messageUpdated', (m) => m.state === 'FAILED');
      ok(await emitAck(sms.socket, 'messageStatus', { messageId: id, state: 'FAILED', error: { message: 'undelivered (30003)' } }));
      expect((await failed).metadata['error']).to.equal('undelivered (30003)');
    });
  });

  describe('campaigns (§6): channels.connect, messages.send', () => {
    it('starts a conversation with a new number and sends through the channel connector', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const channel = await postJson<{ id: string; source: string; name: string }>(`${hub.url}/channels.connect`, { source: 'sms', name: 'Campaigns' }, system);
      expect(channel.status).to.equal(200);
      expect(channel.body).to.include({ source: 'sms', name: 'Campaigns' });
      const same = await postJson<{ id: string }>(`${hub.url}/channels.connect`, { source: 'sms', name: 'Campaigns' }, system);
      expect(same.body.id).to.equal(channel.body.id);

      const to = phone();
      const res = await postJson<Record<string, unknown>>(
        `${hub.url}/messages.send`,
        { source_recipient_id: to, channel_id: channel.body.id, message: { text: 'Your order shipped' } },
        system,
      );
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.include({ state: 'pending', from_contact: false, source: 'sms' });
      expect(res.body['content']).to.deep.equal({ text: 'Your order shipped' });
      await until(() => sms.received.some((m) => m.refId === to), 'the campaign message at the connector');
      expect(sms.received.find((m) => m.refId === to)).to.include({ text: 'Your order shipped', conversationId: res.body['conversation_id'] });

      // The customer's answer lands in the same conversation.
      const reply = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: to, text: 'thanks' }));
      expect(reply['conversationId']).to.equal(res.body['conversation_id']);

      // An Idempotency-Key makes a retried request send once.
      const body = { source_recipient_id: to, channel_id: channel.body.id, message: { text: 'only once' } };
      const r1 = await postJson<{ id: string }>(`${hub.url}/messages.send`, body, { ...system, 'idempotency-key': 'campaign-42' });
      const r2 = await postJson<{ id: string }>(`${hub.url}/messages.send`, body, { ...system, 'idempotency-key': 'campaign-42' });
      expect(r2.body.id).to.equal(r1.body.id);
      await sleep(300);
      expect(sms.received.filter((m) => m.text === 'only once')).to.have.length(1);
    });

    it('sends to a known conversation with conversation_id: 200 and out through its connector; 202 unknown (seed 002); 409 ended', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const { conversationId, agent, refId } = await inboundConversation(sms);
      const res = await postJson<Record<string, unknown>>(`${hub.url}/messages.send`, { conversation_id: conversationId, message: { text: 'from the backend' } }, system);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.include({ conversation_id: conversationId, state: 'pending' });
      await until(() => sms.received.some((m) => m.text === 'from the backend' && m.refId === refId), 'the message at the connector');
      const unknown = await fetch(`${hub.url}/messages.send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...system },
        body: JSON.stringify({ conversation_id: '6f1c2d4e-1111-4222-8333-444455556666', message: { text: 'x' } }),
      });
      expect(unknown.status).to.equal(202);
      expect(await unknown.text()).to.equal('');
      expect(unknown.headers.get('x-message-id')).to.match(/^[0-9a-f-]{36}$/);
      ok(await emitAck(agent, 'endConversation', { conversationId }));
      const ended = await postJson<{ code: string }>(`${hub.url}/messages.send`, { conversation_id: conversationId, message: { text: 'late' } }, system);
      expect(ended.status).to.equal(409);
      expect(ended.body.code).to.equal('CONVERSATION_ENDED');
      const extra = await postJson<{ details: Array<{ field: string }> }>(`${hub.url}/messages.send`, { conversation_id: conversationId, message: { text: 'x', colour: 'red' } }, system);
      expect(extra.status).to.equal(400);
    });

    it('sends through a channel fixed in configuration (CHANNELS)', async () => {
      const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await sms.register());
      const to = phone();
      const res = await postJson<Record<string, unknown>>(`${hub.url}/messages.send`, { source_recipient_id: to, channel_id: 'promo-sms', message: { text: 'Sale!' } }, system);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      await until(() => sms.received.some((m) => m.refId === to && m.text === 'Sale!'), 'the message at the connector');
    });

    it('answers 401/403 without the system token, 404 for an unknown channel, 400 naming bad fields', async () => {
      const body = { source_recipient_id: '+491', channel_id: 'nope', message: { text: 'x' } };
      expect((await postJson(`${hub.url}/messages.send`, body)).status).to.equal(401);
      expect((await postJson(`${hub.url}/channels.connect`, { source: 'sms', name: 'x' })).status).to.equal(401);
      const unknown = await postJson<{ code: string }>(`${hub.url}/messages.send`, body, system);
      expect(unknown.status).to.equal(404);
      const bad = await postJson<{ details: Array<{ field: string }> }>(`${hub.url}/messages.send`, { channel_id: 'x', message: {} }, system);
      expect(bad.status).to.equal(400);
      expect(bad.body.details.map((d) => d.field)).to.include.members(['source_recipient_id', 'message.text']);
      expect((await postJson(`${hub.url}/channels.connect`, { source: 'SMS!', name: 'x' }, system)).status).to.equal(400);
    });
  });

  it('GET /api/conversations pages with an opaque cursor and refuses customers', async () => {
    const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
    ok(await sms.register());
    const prefix = phone();
    for (let i = 0; i < 3; i += 1) ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: `${prefix}${i}`, text: 'x' }));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `${hub.url}/api/conversations?channel=sms&page_size=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await fetch(url, { headers: system });
      const page = (await res.json()) as { data: Array<{ id: string; customer: { refId: string } }>; next_cursor: string | null };
      expect(res.status, JSON.stringify(page)).to.equal(200);
      expect(page.data.length).to.be.at.most(2);
      seen.push(...page.data.map((c) => c.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).to.equal(seen.length);
    const bad = await fetch(`${hub.url}/api/conversations?cursor=garbage`, { headers: system });
    expect(bad.status).to.equal(400);
    expect((await fetch(`${hub.url}/api/conversations?page_size=1000`, { headers: system })).status).to.equal(400);
    expect((await fetch(`${hub.url}/api/conversations`)).status).to.equal(401);
  });
});

describe('Connectors: the outbox survives a hub restart', function () {
  let store: TestStore;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await store?.close();
  });

  it('delivers messages stored while no connector was registered after the hub restarts', async () => {
    const uri = store.uri('outbox_restart');
    let hub = await startHub(uri, HUB_ENV);
    const sms = await rawConnector(hub.url, 'sms', KEYS.sms);
    ok(await sms.register());
    const ack = ok(await emitAck(sms.socket, 'sendMessage', { type: 'ChatMessage', channel: 'sms', refId: '+4917000000001', text: 'hi' }));
    const conversationId = ack['conversationId'] as string;
    sms.socket.close();
    const { socket: agent } = await joinedAgent(hub.url, conversationId);
    for (const text of ['a', 'b', 'c']) ok(await agentSays(agent, conversationId, text));
    agent.close();
    await hub.close();

    hub = await startHub(uri, HUB_ENV);
    try {
      const back = await rawConnector(hub.url, 'sms', KEYS.sms);
      ok(await back.register());
      await until(() => back.received.length >= 3, 'the three waiting messages');
      expect(back.received.map((m) => m.text)).to.deep.equal(['a', 'b', 'c']);
      const { info } = await joinedAgent(hub.url, conversationId);
      await sleep(200);
      const { info: later } = await joinedAgent(hub.url, conversationId, 'agent-2');
      const states = (later['messages'] as Array<Msg & { type: string }>).filter((m) => m.type === 'ChatMessage' && m.from.role === 'agent').map((m) => m.state);
      expect(states, JSON.stringify(info['messages'])).to.deep.equal(['DELIVERED', 'DELIVERED', 'DELIVERED']);
    } finally {
      await hub.close();
    }
  });
});
