import type { ContactRecord, DeferredSend } from '../../src/domain/ports.js';
import type { WebhookEventRecord } from '../../src/domain/webhook.ports.js';
import { conformance, together } from '../support/storage-conformance.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number): Date => new Date(T0 + s * 1000);

function event(id: string, nextAtSec: number, over: Partial<WebhookEventRecord> = {}): WebhookEventRecord {
  return { id, type: 'message.created', payload: { id }, createdAt: at(0), state: 'pending', attempts: 0, nextAt: at(nextAtSec), lastError: null, deliveredAt: null, ...over };
}

function contact(id: string, over: Partial<ContactRecord> = {}): ContactRecord {
  return { id, externalId: null, email: null, phoneNumber: null, metadata: {}, createdAt: at(0), updatedAt: at(0), ...over };
}

function send(id: string, sec: number): DeferredSend {
  return { id, conversationId: 'c1', message: { text: id, attachments: [], metadata: {} }, idempotencyKey: null, createdAt: at(sec), giveUpAt: at(sec + 60) };
}

conformance('contacts, channels, webhooks and deferred sends', 'conform_outboxes', [
  {
    name: 'contacts identify: one contact per identifier; owners by any identifier; update refuses a taken one',
    expected: {
      created: 'k1',
      dupEmail: 'duplicate',
      dupExternal: 'duplicate',
      second: 'k2',
      owners: ['k1', 'k2'],
      byPhone: ['k2'],
      none: [],
      updated: { id: 'k1', externalId: 'ext-1', email: 'a@x.test', phoneNumber: '+100', metadata: { plan: 'gold' }, updatedAt: '2026-01-01T00:00:05.000Z' },
      taken: 'duplicate',
      missing: null,
    },
    async run(s) {
      const c = (r: ContactRecord | 'duplicate' | null) => (r === null || r === 'duplicate' ? r : r.id);
      const created = c(await s.contacts.create(contact('k1', { externalId: 'ext-1', email: 'a@x.test' })));
      const dupEmail = c(await s.contacts.create(contact('k9', { email: 'a@x.test' })));
      const dupExternal = c(await s.contacts.create(contact('k8', { externalId: 'ext-1', phoneNumber: '+1' })));
      const second = c(await s.contacts.create(contact('k2', { phoneNumber: '+200' })));
      const owners = (await s.contacts.owners({ externalId: 'ext-1', phoneNumber: '+200', email: 'nobody@x.test' })).map((k) => k.id).sort();
      const byPhone = (await s.contacts.owners({ phoneNumber: '+200' })).map((k) => k.id);
      const none = await s.contacts.owners({});
      const updated = await s.contacts.update('k1', { phoneNumber: '+100', metadata: { plan: 'gold' }, at: at(5) });
      const taken = await s.contacts.update('k1', { phoneNumber: '+200', at: at(6) });
      const missing = await s.contacts.update('zz', { email: 'z@x.test', at: at(6) });
      const view = (r: ContactRecord | 'duplicate' | null) =>
        r === null || r === 'duplicate' ? r : { id: r.id, externalId: r.externalId, email: r.email, phoneNumber: r.phoneNumber, metadata: r.metadata, updatedAt: r.updatedAt };
      return { created, dupEmail, dupExternal, second, owners, byPhone, none, updated: view(updated), taken: c(taken), missing };
    },
  },
  {
    name: '10 concurrent creates of contacts with one email: exactly one stored',
    expected: { stored: 1, duplicates: 9 },
    async run(s) {
      const r = await together(10, (i) => s.contacts.create(contact(`k${i}`, { email: 'same@x.test' })));
      return { stored: r.filter((x) => x !== 'duplicate').length, duplicates: r.filter((x) => x === 'duplicate').length };
    },
  },
  {
    name: 'channels.connect: one channel per (source, name); a retry returns the first',
    expected: { first: 'ch1', again: 'ch1', other: 'ch3', found: { id: 'ch1', source: 'sms', name: 'main' }, missing: null },
    async run(s) {
      const first = await s.channels.connect({ id: 'ch1', source: 'sms', name: 'main' });
      const again = await s.channels.connect({ id: 'ch2', source: 'sms', name: 'main' });
      const other = await s.channels.connect({ id: 'ch3', source: 'fb', name: 'main' });
      return { first: first.id, again: again.id, other: other.id, found: await s.channels.findById('ch1'), missing: await s.channels.findById('ch2') };
    },
  },
  {
    name: 'webhook outbox: retried inserts, known ids, due order, claim/retry/release by attempt, settle to the archive',
    expected: {
      refused: [],
      known: ['e1', 'e2', 'e3'],
      due: ['e2', 'e1', 'e3'],
      notDue: null,
      claimed: [1, '2026-01-01T00:01:00.000Z'],
      claimedAgain: null,
      afterRetry: ['e2', 'e1', 'e3'],
      released: 2,
      gaveUpStale: false,
      gaveUp: true,
      pendingAfter: ['e1'],
      knownAfter: ['e1', 'e2', 'e3'],
    },
    async run(s) {
      await s.webhooks.insert([event('e1', 10), event('e2', 5)]);
      const refused = await s.webhooks.insert([event('e1', 10), event('e3', 20)]);
      const known = [...(await s.webhooks.known(['e1', 'e2', 'e3', 'e4']))].sort();
      const due = (await s.webhooks.pending(10)).map((d) => d.id);
      const notDue = await s.webhooks.claim('e3', at(15), at(60));
      const c = await s.webhooks.claim('e2', at(15), at(60));
      const claimedAgain = await s.webhooks.claim('e2', at(15), at(60));
      await s.webhooks.retryAt('e2', 1, at(8), 'HTTP 500');
      const afterRetry = (await s.webhooks.pending(10)).map((d) => d.id);
      const c2 = await s.webhooks.claim('e2', at(15), at(60));
      await s.webhooks.release('e2', 2, at(15));
      const released = (await s.webhooks.claim('e2', at(15), at(60)))?.attempts;
      const gaveUpStale = await s.webhooks.giveUp({ ...(c2 as WebhookEventRecord), attempts: 1 }, 'stale');
      const current = { ...(c2 as WebhookEventRecord), attempts: 2 };
      const gaveUp = await s.webhooks.giveUp(current, 'HTTP 410');
      const e3 = await s.webhooks.claim('e3', at(25), at(90));
      if (e3) await s.webhooks.delivered(e3, at(26));
      return {
        refused,
        known,
        due,
        notDue,
        claimed: c ? [c.attempts, c.nextAt] : null,
        claimedAgain,
        afterRetry,
        released,
        gaveUpStale,
        gaveUp,
        pendingAfter: (await s.webhooks.pending(10)).map((d) => d.id),
        knownAfter: [...(await s.webhooks.known(['e1', 'e2', 'e3']))].sort(),
      };
    },
  },
  {
    name: '20 concurrent claims of one due webhook event: exactly one attempt',
    expected: { won: 1, attempts: [1] },
    async run(s) {
      await s.webhooks.insert([event('e1', 0)]);
      const r = await together(20, () => s.webhooks.claim('e1', at(1), at(60)));
      const won = r.filter((x) => x !== null);
      return { won: won.length, attempts: won.map((x) => x?.attempts) };
    },
  },
  {
    name: 'deferred sends: due ones in order, concurrent claimers split them, a claimed one waits out its lease',
    expected: { claimedOnce: ['d1', 'd2', 'd3'], each: 3, leased: [], afterLease: ['d4'], afterRemove: [] },
    async run(s) {
      for (const [id, sec] of [['d2', 2], ['d1', 1], ['d3', 3], ['d4', 50]] as const) await s.deferred.add(send(id, sec));
      const claims = await together(4, () => s.deferred.claimDue(at(10), at(100), 10));
      const all = claims.flat().map((d) => d.id);
      const leased = (await s.deferred.claimDue(at(20), at(100), 10)).map((d) => d.id);
      await s.deferred.remove('d2');
      await s.deferred.remove('d3');
      const afterLease = (await s.deferred.claimDue(at(100), at(200), 1)).map((d) => d.id);
      await s.deferred.remove('d1');
      await s.deferred.remove('d4');
      return { claimedOnce: [...all].sort(), each: new Set(all).size, leased, afterLease, afterRemove: (await s.deferred.claimDue(at(1000), at(2000), 10)).map((d) => d.id) };
    },
  },
]);
