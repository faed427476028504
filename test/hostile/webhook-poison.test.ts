import { expect } from 'chai';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'webhook-poison-secret-0123456789';

/**
 * Payloads the outbox cannot store: one the database refuses as a document (a "$" key inside an
 * array), one the driver cannot even encode (a NUL in a key), which fails the insert as a whole.
 * The edge refuses such metadata since item 11; these stand for any event the store refuses.
 */
const POISONS: Array<Record<string, unknown>> = [{ list: [{ $poison: 1 }] }, { rows: [{ 'nul\u0000key': 1 }] }];

/**
 * The attack: one webhook event the store refuses. Before the fix it failed its group-commit
 * insert forever: every later webhook stopped, and at shutdown all buffered events were dropped.
 */
describe('hostile: a webhook event the outbox refuses (issue 13, item 12)', function () {
  this.timeout(90_000);
  let store: TestStore;
  let receiver: WebhookReceiver;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    receiver = await startWebhookReceiver(SECRET);
  });
  after(async () => {
    await receiver?.close();
    await store?.close();
  });

  const env = (): Record<string, string> => ({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  const sentIds = (type: string): string[] =>
    receiver.received.filter((h) => h.body.type === type && h.status === 200).map((h) => String((h.body.payload as { n?: unknown }).n));

  it('sets the refused event aside (counted on /metrics) and delivers the events around it and after it', async () => {
    const hub: RunningHub = await startHub(store.uri('hostile_webhook_poison'), env());
    try {
      // One tick: the poison events share an insert with the good ones.
      for (let i = 0; i < 30; i += 1) {
        hub.hub.webhooks.emit('message.updated', { n: `a${i}` });
        if (i === 10) hub.hub.webhooks.emit('message.updated', { n: 'poison-1', ...POISONS[0] });
        if (i === 20) hub.hub.webhooks.emit('message.updated', { n: 'poison-2', ...POISONS[1] });
      }
      await receiver.until((hooks) => hooks.filter((h) => String((h.body.payload as { n?: unknown }).n).startsWith('a')).length >= 30, 'the 30 events around the poison', 15_000);
      // The writer is not stuck: events after the poison go out too.
      for (let i = 0; i < 5; i += 1) hub.hub.webhooks.emit('message.updated', { n: `b${i}` });
      await receiver.until((hooks) => hooks.filter((h) => String((h.body.payload as { n?: unknown }).n).startsWith('b')).length >= 5, 'the events after the poison', 15_000);
      expect(sentIds('message.updated').filter((n) => n.startsWith('poison'))).to.deep.equal([]);
      const metrics = await (await fetch(`${hub.url}/metrics`)).text();
      expect(metrics).to.match(/^hub_webhook_events_total\{outcome="refused"\} 2$/m);
      expect(metrics).to.match(/^hub_webhook_events_total\{outcome="dropped"\} 0$/m);
    } finally {
      await hub.close();
    }
  });

  it('stores every buffered event at shutdown, even with a refused one among them', async () => {
    const hub: RunningHub = await startHub(store.uri('hostile_webhook_poison_close'), env());
    for (let i = 0; i < 40; i += 1) {
      hub.hub.webhooks.emit('conversation.ended', { n: `c${i}` });
      if (i % 10 === 5) hub.hub.webhooks.emit('conversation.ended', { n: `poison-c${i}`, ...POISONS[i % 2] });
    }
    // Shut down at once: nothing was stored yet.
    await hub.hub.close();
    try {
      const db = hub.db.connection;
      const kept = [
        ...(await db.collection('webhook_events').find({}, { projection: { payload: 1 } }).toArray()),
        ...(await db.collection('webhook_events_archive').find({}, { projection: { payload: 1 } }).toArray()),
      ].map((d) => String((d['payload'] as { n?: unknown }).n));
      expect(kept.filter((n) => n.startsWith('c')).sort()).to.deep.equal(Array.from({ length: 40 }, (_, i) => `c${i}`).sort());
    } finally {
      await hub.db.close();
    }
  });
});
