import { expect } from 'chai';
import { MongoWebhookStore } from '../src/storage/webhook.store.js';
import { closeAllSockets, emitAck, joinedCustomer, postJson, sleep, type JoinedCustomer } from './support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { rawConnector, until } from './support/raw-connector.js';
import { startTestStore, type TestStore } from './support/store.js';
import { freePort, startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'webhook-test-secret-0123456789';
const SMS_KEY = 'sms-key-0123456789';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const RETRY_BASE_MS = 50;
const MAX_ATTEMPTS = 3;
const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };

type SeedView = { id: string; content: { text: string }; delivery_state: string; state: string; metadata: Record<string, unknown> };
type StoredEvent = { _id: string; type: string; state: string; attempts: number; lastError: string | null; deliveredAt: Date | null };

const messageOf = (h: ReceivedWebhook): SeedView | undefined => h.body.payload['message'] as SeedView | undefined;
const textOf = (h: ReceivedWebhook): string | undefined => messageOf(h)?.content.text;

/** The stored document of an event: in the outbox while pending, in the archive once settled. */
async function storedEvent(hub: RunningHub, id: string): Promise<StoredEvent | null> {
  return (
    (await hub.db.connection.collection<StoredEvent>('webhook_events_archive').findOne({ _id: id })) ??
    (await hub.db.connection.collection<StoredEvent>('webhook_events').findOne({ _id: id }))
  );
}

/** Every stored event matching `filter`, pending or settled. */
async function storedEvents(hub: RunningHub, filter: Record<string, unknown>): Promise<StoredEvent[]> {
  const [pending, settled] = await Promise.all(
    ['webhook_events', 'webhook_events_archive'].map((name) => hub.db.connection.collection<StoredEvent>(name).find(filter).toArray()),
  );
  // Settling archives first and then deletes: for a moment an event is in both.
  const byId = new Map([...pending!, ...settled!].map((e) => [e._id, e]));
  return [...byId.values()];
}

/** Polls the outbox until the event matches `check` (the outcome is written just after the answer). */
async function eventUntil(hub: RunningHub, id: string, check: (e: StoredEvent) => boolean, what: string): Promise<StoredEvent> {
  let event: StoredEvent | null = null;
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline) {
    event = await storedEvent(hub, id);
    if (event && check(event)) return event;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(event)}`);
}

async function say(customer: JoinedCustomer, text: string): Promise<void> {
  const ack = await emitAck(customer.socket, 'sendMessage', {
    conversationId: customer.init.conversationId,
    type: 'ChatMessage',
    from: { id: customer.init.participant.id, name: customer.init.participant.name },
    text,
  });
  expect(ack.ok, JSON.stringify(ack)).to.equal(true);
}

describe('Webhooks (§7): signed events from a database outbox', function () {
  this.timeout(60_000);
  let store: TestStore;
  let receiver: WebhookReceiver;
  let hub: RunningHub;
  const lines: string[] = [];

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    receiver = await startWebhookReceiver(SECRET);
    hub = await startHub(
      store.uri('webhooks'),
      {
        WEBHOOK_URL: receiver.url,
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
        WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        WEBHOOK_TIMEOUT_MS: '2000',
        CONNECTOR_KEYS: `sms:${SMS_KEY}`,
        CHANNELS: JSON.stringify([{ id: 'promo-sms', source: 'sms', name: 'Promotions' }]),
        LOG_LEVEL: 'info',
      },
      (line) => lines.push(line),
    );
  });
  afterEach(() => {
    closeAllSockets();
    receiver.respond = () => 200;
  });
  after(async () => {
    await hub?.close();
    await receiver?.close();
    await store?.close();
  });

  it('signs every request and sends message.created and conversation.ended in the documented shape', async () => {
    const customer = await joinedCustomer(hub.url);
    const cid = customer.init.conversationId;
    await say(customer, 'hello hooks');
    expect((await emitAck(customer.socket, 'endConversation', { conversationId: cid })).ok).to.equal(true);
    const got = await receiver.until(
      (r) => r.some((h) => textOf(h) === 'hello hooks') && r.some((h) => h.body.type === 'conversation.ended' && h.body.payload['conversation_id'] === cid),
      'message.created and conversation.ended',
    );

    for (const h of got) {
      expect(h.signatureValid, 'X-Hub-Signature-256 is the HMAC of the raw body').to.equal(true);
      expect(h.fresh, 'the signed timestamp is recent and matches X-Hub-Timestamp').to.equal(true);
      expect(h.headers['content-type']).to.equal('application/json');
      expect(h.headers['x-hub-event-id']).to.equal(h.body.id);
      expect(h.headers['x-hub-event-type']).to.equal(h.body.type);
      expect(h.body.id).to.match(UUID_V4);
      expect(h.body.created_at).to.match(ISO_MS);
      expect(h.body.timestamp).to.match(ISO_MS);
    }
    const created = got.find((h) => textOf(h) === 'hello hooks')!;
    expect(created.body).to.include({ type: 'message.created', attempt: 1 });
    expect(created.body.payload).to.include({ conversation_id: cid, channel_id: 'web' });
    const message = messageOf(created)!;
    expect(message).to.deep.include({
      conversation_id: cid,
      content: { text: 'hello hooks' },
      state: 'delivered',
      delivery_state: 'delivered',
      from_contact: true,
      source: 'web',
      metadata: {},
      sender: { id: customer.init.participant.id, name: customer.init.participant.name },
    });
    expect((message as unknown as { sent_at: string }).sent_at).to.match(ISO_MS);

    const ended = got.find((h) => h.body.type === 'conversation.ended' && h.body.payload['conversation_id'] === cid)!;
    expect(ended.body.payload).to.deep.include({ conversation_id: cid, channel_id: 'web', ended_by: { ...customer.init.participant, role: 'customer' } });
    expect(ended.body.payload['ended_at']).to.match(ISO_MS);

    // Activities (the greeting, joins, the end notice) are not message events: only the chat message is.
    const stored = await storedEvents(hub, { 'payload.conversation_id': cid });
    expect(stored.map((e) => e.type).sort()).to.deep.equal(['conversation.ended', 'message.created']);
  });

  it('sends message.updated on delivery state and metadata changes, failures as in seed 002', async () => {
    const sms = await rawConnector(hub.url, 'sms', SMS_KEY);
    expect((await sms.register()).ok).to.equal(true);
    sms.answer = (m) => (m.text === 'Hello World' ? { ok: false, error: { message: 'Some error message', retryable: false } } : { ok: true, externalId: `ext-${m.id}` });

    const failed = await postJson<{ id: string; conversation_id: string }>(
      `${hub.url}/messages.send`,
      { source_recipient_id: '+4915100009001', channel_id: 'promo-sms', message: { text: 'Hello World' } },
      system,
    );
    expect(failed.status, JSON.stringify(failed.body)).to.equal(200);
    const sent = await postJson<{ id: string }>(`${hub.url}/messages.send`, { conversation_id: failed.body.conversation_id, message: { text: 'Goes through' } }, system);
    expect(sent.status).to.equal(200);

    const isUpdate = (h: ReceivedWebhook, id: string): boolean => h.body.type === 'message.updated' && messageOf(h)?.id === id;
    const got = await receiver.until((r) => r.some((h) => isUpdate(h, failed.body.id)) && r.some((h) => isUpdate(h, sent.body.id)), 'both message.updated events');

    const created = got.find((h) => h.body.type === 'message.created' && messageOf(h)?.id === failed.body.id)!;
    expect(created.body.payload).to.include({ conversation_id: failed.body.conversation_id, channel_id: 'promo-sms' });
    expect(messageOf(created)).to.include({ delivery_state: 'pending', from_contact: false, source: 'sms' });

    // The seed's "Sample message webhook update", field for field.
    const update = got.find((h) => isUpdate(h, failed.body.id))!;
    expect(update.body.payload).to.include({ conversation_id: failed.body.conversation_id, channel_id: 'promo-sms' });
    expect(messageOf(update)).to.deep.include({
      id: failed.body.id,
      content: { text: 'Hello World' },
      delivery_state: 'failed',
      from_contact: false,
      source: 'sms',
      metadata: { error: 'Some error message' },
    });

    const delivered = messageOf(got.find((h) => isUpdate(h, sent.body.id))!)!;
    expect(delivered).to.deep.include({ delivery_state: 'delivered', metadata: { externalId: `ext-${sent.body.id}` } });
  });

  it('retries a failing receiver with the same event id, then delivers it once and never again', async () => {
    receiver.respond = (h, nth) => (textOf(h) === 'retry me' && nth <= 2 ? 500 : 200);
    const customer = await joinedCustomer(hub.url);
    await say(customer, 'retry me');
    const got = (await receiver.until((r) => r.some((h) => textOf(h) === 'retry me' && h.status === 200), 'the third, accepted attempt')).filter(
      (h) => textOf(h) === 'retry me',
    );

    expect(got.map((h) => h.status)).to.deep.equal([500, 500, 200]);
    expect(got.map((h) => h.body.attempt)).to.deep.equal([1, 2, 3]);
    expect(new Set(got.map((h) => h.body.id)).size, 'one event id across attempts').to.equal(1);
    expect(new Set(got.map((h) => h.body.created_at)).size).to.equal(1);
    expect(new Set(got.map((h) => h.body.timestamp)).size, 'each attempt is signed with its own timestamp').to.equal(3);
    expect(got.every((h) => h.signatureValid && h.fresh)).to.equal(true);

    const id = got[0]!.body.id;
    const event = await eventUntil(hub, id, (e) => e.state === 'delivered', 'the event stored as delivered');
    expect(event).to.include({ type: 'message.created', attempts: 3, lastError: null });
    expect(event.deliveredAt).to.be.instanceOf(Date);
    expect(await hub.db.connection.collection('webhook_events').countDocuments({ _id: id } as never), 'settled: out of the outbox').to.equal(0);
    // Several retry periods later, nothing more arrived for it.
    await sleep(RETRY_BASE_MS * 8);
    expect(receiver.received.filter((h) => h.body.id === id)).to.have.length(3);
  });

  it('never reuses an event id: distinct events get distinct ids', async () => {
    const customer = await joinedCustomer(hub.url);
    const cid = customer.init.conversationId;
    for (let i = 0; i < 5; i += 1) await say(customer, `distinct ${i}`);
    expect((await emitAck(customer.socket, 'endConversation', { conversationId: cid })).ok).to.equal(true);
    const got = (
      await receiver.until((r) => r.filter((h) => h.body.payload['conversation_id'] === cid).length >= 6, 'five message.created and one conversation.ended')
    ).filter((h) => h.body.payload['conversation_id'] === cid);
    expect(got.map((h) => h.body.id).every((id) => UUID_V4.test(id))).to.equal(true);
    expect(new Set(got.map((h) => h.body.id)).size).to.equal(6);

    // Across everything this file received: an id always names the same event.
    const identity = (h: ReceivedWebhook): string => `${h.body.type}:${h.body.payload['conversation_id'] as string}:${messageOf(h)?.id ?? ''}:${messageOf(h)?.delivery_state ?? ''}`;
    const byId = new Map<string, string>();
    const byIdentity = new Map<string, string>();
    for (const h of receiver.received) {
      expect(byId.get(h.body.id) ?? identity(h), `event id ${h.body.id} reused`).to.equal(identity(h));
      expect(byIdentity.get(identity(h)) ?? h.body.id, `one event under two ids: ${identity(h)}`).to.equal(h.body.id);
      byId.set(h.body.id, identity(h));
      byIdentity.set(identity(h), h.body.id);
    }
  });

  it('gives up after the bounded attempts: an error log line and hub_webhook_events_total{outcome="failed"}', async () => {
    receiver.respond = (h) => (textOf(h) === 'give up' ? 503 : 200);
    const customer = await joinedCustomer(hub.url);
    await say(customer, 'give up');
    const got = (await receiver.until((r) => r.filter((h) => textOf(h) === 'give up').length >= MAX_ATTEMPTS, `${MAX_ATTEMPTS} attempts`)).filter(
      (h) => textOf(h) === 'give up',
    );
    const id = got[0]!.body.id;

    const event = await eventUntil(hub, id, (e) => e.state === 'failed', 'the event stored as failed');
    expect(event.attempts).to.equal(MAX_ATTEMPTS);
    expect(event.lastError).to.match(/^HTTP 503/);
    await until(() => lines.some((l) => l.includes('webhook event given up') && l.includes(id)), 'the give-up log line');
    const line = JSON.parse(lines.find((l) => l.includes('webhook event given up') && l.includes(id))!) as Record<string, unknown>;
    expect(line).to.include({ level: 50, eventId: id, type: 'message.created', attempts: MAX_ATTEMPTS, module: 'webhooks' });
    expect(line['lastError']).to.match(/^HTTP 503/);

    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).to.match(/^hub_webhook_events_total\{outcome="failed"\} 1$/m);
    expect(metrics).to.match(/^hub_webhook_events_total\{outcome="retried"\} [1-9]/m);
    expect(metrics).to.match(/^hub_webhook_events_total\{outcome="delivered"\} [1-9]/m);
    expect(metrics).to.match(/^hub_webhook_outbox_pending \d+$/m);

    await sleep(RETRY_BASE_MS * 8);
    expect(receiver.received.filter((h) => h.body.id === id)).to.have.length(MAX_ATTEMPTS);
    for (const l of lines) expect(l.includes(SECRET), 'a log line leaks the webhook secret').to.equal(false);
  });
});

describe('Webhooks (§7): durability and configuration', function () {
  this.timeout(60_000);
  let store: TestStore;
  const open: Array<{ close(): Promise<void> }> = [];

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
  });
  afterEach(async () => {
    closeAllSockets();
    for (const thing of open.splice(0).reverse()) await thing.close();
  });
  after(async () => {
    await store?.close();
  });

  it('delivers an event that was still undelivered when its hub stopped, from a new hub on the same database', async () => {
    const port = await freePort();
    const env = { WEBHOOK_URL: `http://127.0.0.1:${port}/hooks`, WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_ATTEMPTS: '10' };
    const first = await startHub(store.uri('webhooks_restart'), env);
    let id: string;
    try {
      const customer = await joinedCustomer(first.url);
      await say(customer, 'survives a restart');
      // The receiver is down: the first attempt is refused and a retry is scheduled.
      const waiting = () => first.db.connection.collection<StoredEvent>('webhook_events').findOne({ 'payload.message.content.text': 'survives a restart' });
      let event: StoredEvent | null = null;
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline && !(event && event.attempts >= 1 && event.lastError)) {
        event = await waiting();
        if (!(event && event.attempts >= 1 && event.lastError)) await sleep(20);
      }
      expect(event, 'an attempt was made and refused').to.not.equal(null);
      expect(event!.state).to.equal('pending');
      expect(event!.lastError).to.match(/ECONNREFUSED/);
      id = event!._id;
    } finally {
      closeAllSockets();
      await first.close();
    }

    const receiver = await startWebhookReceiver(SECRET, port);
    open.push(receiver);
    const second = await startHub(store.uri('webhooks_restart'), env);
    open.push(second);
    const got = await receiver.until((r) => r.some((h) => h.body.id === id), 'the event from the new hub');
    const hook = got.find((h) => h.body.id === id)!;
    expect(hook.signatureValid).to.equal(true);
    expect(textOf(hook)).to.equal('survives a restart');
    expect(hook.body.attempt).to.be.greaterThan(1);
    await eventUntil(second, id, (e) => e.state === 'delivered', 'the event stored as delivered');
    expect(receiver.received.filter((h) => h.body.id === id)).to.have.length(1);
  });

  it('lets exactly one of several concurrent claims take an attempt', async () => {
    // Two hubs (without webhooks, so no dispatcher competes) stand for two processes sharing the database.
    const one = await startHub(store.uri('webhooks_claims'));
    open.push(one);
    const two = await startHub(store.uri('webhooks_claims'));
    open.push(two);
    const a = new MongoWebhookStore(one.db, 4000);
    const b = new MongoWebhookStore(two.db, 4000);
    const now = new Date();
    const ids = Array.from({ length: 20 }, (_, i) => `claim-race-${i}`);
    await a.insert(ids.map((id) => ({ id, type: 'message.created', payload: {}, createdAt: now, state: 'pending', attempts: 0, nextAt: new Date(0), lastError: null, deliveredAt: null })));
    const lease = new Date(Date.now() + 60_000);
    const claims = await Promise.all(ids.flatMap((id) => [a.claim(id, now, lease), b.claim(id, now, lease), a.claim(id, now, lease), b.claim(id, now, lease)]));
    expect(claims.filter((c) => c !== null)).to.have.length(ids.length);
    for (const id of ids) expect((await storedEvent(one, id))?.attempts).to.equal(1);
  });

  it('stores nothing when WEBHOOK_URL is unset', async () => {
    const hub = await startHub(store.uri('webhooks_off'));
    open.push(hub);
    const customer = await joinedCustomer(hub.url);
    await say(customer, 'no hooks');
    expect((await emitAck(customer.socket, 'endConversation', { conversationId: customer.init.conversationId })).ok).to.equal(true);
    // Events would be stored within milliseconds; allow many times that.
    await sleep(200);
    expect(await storedEvents(hub, {})).to.deep.equal([]);
    expect(await (await fetch(`${hub.url}/metrics`)).text()).to.match(/^hub_webhook_events_total\{outcome="delivered"\} 0$/m);
  });
});
