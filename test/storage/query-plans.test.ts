import { expect } from 'chai';
import type { Participant } from '../../src/contracts/schemas.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createLogger } from '../../src/logger.js';
import { MongoContactStore } from '../../src/storage/contact.store.js';
import { MongoConversationStore } from '../../src/storage/conversation.store.js';
import { Database } from '../../src/storage/database.js';
import { MongoEventMarkerStore } from '../../src/storage/event-marker.store.js';
import { MongoMessageStore } from '../../src/storage/message.store.js';
import { MongoWebhookStore } from '../../src/storage/webhook.store.js';
import { storedChatMessage, T0 } from '../support/storage-conformance.js';
import { startTestStore, type TestStore } from '../support/store.js';

/**
 * Every hot query is served by an index, on the local store as on MongoDB (issue 14, item 5).
 *
 * The storage layer's own methods run against a store holding CONVERSATIONS conversations of
 * MESSAGES_EACH messages each, plus contacts; the driver's command events capture exactly what
 * each method sends, and every filter it sent to a collection that grows with use (messages,
 * conversations, contacts, the webhook outbox and its archive) is explained on the store:
 * - FerretDB: the filter must be pushed down to PostgreSQL (`filterPushdown: true`) and the plan
 *   must use an index (an Index Scan or Bitmap Index Scan), never a sequential scan;
 * - mongod: the winning plan must use an index (IXSCAN, or the _id fast path), never COLLSCAN.
 * A new query shape that no index serves fails here, naming the method and the filter.
 */
const CONVERSATIONS = 400;
const MESSAGES_EACH = 50;
const CONTACTS = 4000;
const GROWING = new Set(['messages', 'conversations', 'contacts', 'webhook_events', 'webhook_events_archive']);

const CUST: Participant = { id: 'cust-0', name: 'Ann', role: 'customer' };
const AGENT: Participant = { id: 'agent-1', name: 'Bob', role: 'agent' };
/** A stored message of the seeded data: longer text, a whisper every seventh. */
const message = (conversationId: string, seq: number, over: Partial<StoredMessage> = {}): StoredMessage =>
  storedChatMessage(conversationId, seq, CUST, { text: `text ${seq} ${'x'.repeat(40)}`, tag: seq % 7 === 0 ? 'whisper' : '', ...over });

interface Captured {
  name: string;
  collection: string;
  filters: Record<string, unknown>[];
}

/** The filters a command applies to its collection (find, count, aggregate's first $match, update/delete statements, findAndModify). */
function filtersOf(name: string, command: Record<string, unknown>): Captured | undefined {
  const collection = command[name];
  if (typeof collection !== 'string') return undefined;
  const q = (x: unknown): Record<string, unknown> => (x && typeof x === 'object' ? (x as Record<string, unknown>) : {});
  switch (name) {
    case 'find':
      return { name, collection, filters: [q(command['filter'])] };
    case 'count':
    case 'findAndModify':
      return { name, collection, filters: [q(command['query'])] };
    case 'aggregate': {
      const first = (command['pipeline'] as Array<Record<string, unknown>> | undefined)?.[0];
      return { name, collection, filters: [q(first?.['$match'])] };
    }
    case 'update':
      return { name, collection, filters: ((command['updates'] as Array<{ q: unknown }>) ?? []).map((u) => q(u.q)) };
    case 'delete':
      return { name, collection, filters: ((command['deletes'] as Array<{ q: unknown }>) ?? []).map((d) => q(d.q)) };
    default:
      return undefined;
  }
}

describe('storage: every hot query is index-backed on the local store (issue 14, items 3 and 5)', function () {
  this.timeout(180_000);
  let store: TestStore;
  let db: Database;
  let kind: 'ferretdb' | 'mongod' | 'other';
  const captured: Captured[] = [];
  let capturing = false;
  const stores = {} as {
    messages: MongoMessageStore;
    conversations: MongoConversationStore;
    contacts: MongoContactStore;
    markers: MongoEventMarkerStore;
    webhooks: MongoWebhookStore;
  };

  before(async function () {
    this.timeout(300_000);
    store = await startTestStore();
    db = new Database({ uri: store.uri('query_plans'), opTimeoutMs: 30_000, serverSelectionTimeoutMs: 10_000, monitorCommands: true }, createLogger('silent'));
    await db.connect();
    const client = db.connection.getClient();
    client.on('commandStarted', (e) => {
      if (!capturing) return;
      const c = filtersOf(e.commandName, e.command as Record<string, unknown>);
      if (c) captured.push(c);
    });
    const info = (await db.connection.db!.admin().command({ buildInfo: 1 })) as Record<string, unknown>;
    kind = 'ferretdbVersion' in info || JSON.stringify(info).includes('ferretdb') ? 'ferretdb' : typeof info['version'] === 'string' ? 'mongod' : 'other';
    const t = 30_000;
    stores.messages = new MongoMessageStore(db, t);
    stores.conversations = new MongoConversationStore(db, t);
    stores.contacts = new MongoContactStore(db, t);
    stores.markers = new MongoEventMarkerStore(db, t);
    stores.webhooks = new MongoWebhookStore(db, t);

    // Seed: conversations (some queued, some of a contact, some with an ended-event marker), their messages
    // (some owed to a connector, some marked), contacts.
    const conversations = db.connection.db!.collection('conversations');
    const docs = Array.from({ length: CONVERSATIONS }, (_, i) => ({
      _id: `conv-${i}`,
      channel: i % 2 ? 'web' : 'sms',
      status: i % 20 === 0 ? 'queued' : i % 3 === 0 ? 'ended' : 'active',
      subject: i % 4 ? 'billing' : '',
      customer: { id: `cust-${i}`, firstName: 'C', custom: {}, refId: `ref-${i}` },
      participants: [{ ...CUST, id: `cust-${i}` }],
      joined: [`cust-${i}`],
      requestId: `init:x:${i}`,
      createdAt: new Date(T0 + i * 1000),
      endedAt: i % 3 === 0 ? new Date(T0 + i * 2000) : null,
      queuedAt: i % 20 === 0 ? new Date(T0 + i * 1000) : null,
      agent: i % 20 === 0 ? null : { ...AGENT, id: `agent-${i % 10}` },
      agentId: i % 20 === 0 ? null : `agent-${i % 10}`,
      previousAgentId: null,
      routingRev: 0,
      resumeEpoch: 0,
      contactId: `contact-${i % 500}`,
      openKey: `open:${i}`,
      connector: i % 2 ? undefined : 'sms',
      ...(i % 50 === 7 ? { pendingWebhook: { id: `ended-${i}`, endedBy: CUST }, webhookMarked: true } : {}),
    }));
    await conversations.insertMany(docs as never[]);
    for (let c = 0; c < CONVERSATIONS; c += 20) {
      const batch: StoredMessage[] = [];
      for (let i = c; i < c + 20; i += 1) {
        for (let seq = 1; seq <= MESSAGES_EACH; seq += 1) {
          const over: Partial<StoredMessage> = {};
          if (i % 2 === 0 && seq === MESSAGES_EACH) over.delivery = { connector: 'sms', attempts: 0 };
          if (i % 50 === 3 && seq === MESSAGES_EACH) over.pendingWebhook = `created-${i}`;
          batch.push(message(`conv-${i}`, seq, over));
        }
      }
      await stores.messages.insertBatch(batch);
    }
    const contacts = db.connection.db!.collection('contacts');
    await contacts.insertMany(
      Array.from({ length: CONTACTS }, (_, i) => ({
        _id: `contact-${i}`,
        externalId: `ext-${i}`,
        email: `c${i}@example.org`,
        phoneNumber: `+4930${String(i).padStart(7, '0')}`,
        metadata: {},
        createdAt: new Date(T0),
        updatedAt: new Date(T0),
      })) as never[],
    );
    // PostgreSQL plans with table statistics, which autovacuum gathers in the background; a
    // store in use has them, a freshly seeded one may not yet. The plan must not depend on it.
  });

  after(async () => {
    await db?.close();
    await store?.close();
  });

  async function explain(collection: string, filter: Record<string, unknown>): Promise<Record<string, unknown>> {
    return (await db.connection.db!.command({ explain: { find: collection, filter }, verbosity: 'queryPlanner' })) as Record<string, unknown>;
  }

  /** Runs `fn`, then checks every filter it sent to a growing collection. */
  async function indexBacked(what: string, fn: () => Promise<unknown>): Promise<number> {
    captured.length = 0;
    capturing = true;
    try {
      await fn();
    } finally {
      capturing = false;
    }
    const relevant = captured.filter((c) => GROWING.has(c.collection));
    expect(relevant.length, `${what} sent no query to a growing collection`).to.be.greaterThan(0);
    let checked = 0;
    for (const c of relevant) {
      for (const filter of c.filters) {
        const plan = await explain(c.collection, filter);
        const where = `${what}: ${c.name} ${c.collection} ${JSON.stringify(filter)}`;
        const planner = JSON.stringify(plan['queryPlanner'] ?? plan);
        if (kind === 'ferretdb') {
          expect(plan['filterPushdown'], `${where}: not pushed down to PostgreSQL\n${planner.slice(0, 600)}`).to.equal(true);
          expect(planner, `${where}: PostgreSQL scans the table\n${planner.slice(0, 600)}`).to.not.contain('"Seq Scan"');
          expect(planner, `${where}: PostgreSQL uses no index\n${planner.slice(0, 600)}`).to.match(/Index Scan|Index Only Scan/);
        } else if (kind === 'mongod') {
          expect(planner, `${where}: MongoDB scans the collection\n${planner.slice(0, 600)}`).to.not.contain('COLLSCAN');
          expect(planner, `${where}: MongoDB uses no index`).to.match(/IXSCAN|IDHACK|EXPRESS/);
        }
        checked += 1;
      }
    }
    return checked;
  }

  const staff = { id: AGENT.id, staff: true };
  const customer = { id: 'cust-42', staff: false };

  it('history: newest page, a page before a seq, catch-up after a seq (joinConversation, chat plugin resume)', async () => {
    await indexBacked('latestVisible', () => stores.messages.latestVisible('conv-42', 'cust-42', false, 20));
    await indexBacked('latestVisible before', () => stores.messages.latestVisible('conv-42', 'cust-42', false, 20, 30));
    await indexBacked('visibleAfter', () => stores.messages.visibleAfter('conv-42', 'cust-42', false, 10, 20));
  });

  it('messages.list: a page after a cursor, a page before one, and the total', async () => {
    await indexBacked('chatMessages after', () => stores.messages.chatMessages('conv-42', customer, { afterSeq: 10 }, 21));
    await indexBacked('chatMessages before', () => stores.messages.chatMessages('conv-42', staff, { beforeSeq: 40 }, 21));
    await indexBacked('countChatMessages', () => stores.messages.countChatMessages('conv-42', 'all'));
  });

  it('joinConversation and routing: a conversation by id, the first join, the queue, a claim', async () => {
    await indexBacked('findById', () => stores.conversations.findById('conv-43'));
    await indexBacked('recordJoin', () => stores.conversations.recordJoin('conv-43', { id: 'cust-43b', name: 'B', role: 'customer' }));
    await indexBacked('queued', () => stores.conversations.queued(undefined, 20));
    const claimed = await (async () => {
      let result: unknown;
      await indexBacked('claim', async () => {
        result = await stores.conversations.claim('conv-40', AGENT);
      });
      return result;
    })();
    expect(claimed, 'conv-40 was queued and is claimed').to.not.equal(null);
    await indexBacked('findOpen', () => stores.conversations.findOpen('open:44'));
    // An agent becoming ready reads the conversations it holds.
    const held = await (async () => {
      let list: unknown[] = [];
      await indexBacked('list by agent', async () => {
        list = await stores.conversations.list({ status: 'active', agentId: 'agent-3' }, undefined, 1000);
      });
      return list;
    })();
    expect(held.length, "agent-3's active conversations").to.be.greaterThan(0);
  });

  it('contacts.identify: the contact by each identifier, its conversations', async () => {
    await indexBacked('owners', () => stores.contacts.owners({ externalId: 'ext-17', email: 'c18@example.org', phoneNumber: '+49300000019' }));
    await indexBacked('byContact', () => stores.conversations.byContact('contact-17', 10));
  });

  it('connector outbox: what a connector is owed, and a delivery transition', async () => {
    const owed = await (async () => {
      let list: StoredMessage[] = [];
      await indexBacked('pending', async () => {
        list = await stores.messages.pending('sms', 50);
      });
      return list;
    })();
    expect(owed.length).to.equal(50);
    const first = owed[0]!;
    await indexBacked('transition', () => stores.messages.transition({ id: first.id, state: 'DELIVERED', metadata: {}, delivery: null }, ['PENDING', 'DELIVERED']));
    await indexBacked('apply', () => stores.messages.apply([{ id: owed[1]!.id, state: 'DELIVERED', metadata: { externalId: 'x' }, delivery: null }]));
  });

  it('webhook markers: the sweep, clearing by id, and the outbox/archive lookup', async () => {
    const before = new Date(T0 + 10_000_000);
    await indexBacked('markedMessages', () => stores.markers.markedMessages(before, 100));
    await indexBacked('markedConversations', () => stores.markers.markedConversations(before, 100));
    await indexBacked('clearMessages', () => stores.markers.clearMessages(['conv-3-m50', 'conv-53-m50']));
    await indexBacked('clearConversations', () => stores.markers.clearConversations(['conv-7']));
    await indexBacked('known', () => stores.webhooks.known(['created-3', 'ended-7']));
    await indexBacked('webhook pending', () => stores.webhooks.pending(50));
    await indexBacked('webhook claim', () => stores.webhooks.claim('created-3', new Date(), new Date(Date.now() + 30_000)));
  });
});
