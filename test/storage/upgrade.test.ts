import { expect } from 'chai';
import mongoose from 'mongoose';
import { createLogger } from '../../src/logger.js';
import { MongoConversationStore } from '../../src/storage/conversation.store.js';
import { Database } from '../../src/storage/database.js';
import { MongoEventMarkerStore } from '../../src/storage/event-marker.store.js';
import { MongoMessageStore } from '../../src/storage/message.store.js';
import { startTestStore, type TestStore } from '../support/store.js';

/**
 * Documents written before `outbox` and `webhookMarked` existed are not lost to the queries that
 * now use them: on connect, a database that still has the retired indexes gets the new fields
 * filled in, then the retired indexes dropped. Nothing an earlier version accepted is left behind.
 */
describe('storage: documents of an earlier version are brought to the current shape on connect', function () {
  this.timeout(60_000);
  let store: TestStore;
  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
  });
  after(async () => store?.close());

  it('a message owed to a connector and marked messages/conversations written the old way are found after the upgrade', async () => {
    const uri = store.uri('storage_upgrade');
    const raw = await mongoose.mongo.MongoClient.connect(uri);
    const d = raw.db();
    const ts = new Date('2026-01-01T00:00:00Z');
    const base = { conversationId: 'c1', type: 'ChatMessage', from: { id: 'u', name: 'U', role: 'customer' }, to: [], audience: ['*'], text: 't', refId: '', tag: '', state: 'PENDING', metadata: {}, timestamp: ts };
    await d.collection('messages').createIndex({ 'delivery.connector': 1, conversationId: 1, seq: 1 }, { sparse: true });
    await d.collection('messages').createIndex({ pendingWebhook: 1 }, { sparse: true });
    await d.collection('conversations').createIndex({ 'pendingWebhook.id': 1 }, { sparse: true });
    await d.collection('conversations').createIndex({ 'agent.id': 1, status: 1 });
    await d.collection('messages').insertMany([
      { _id: 'old-owed', seq: 1, dedupKey: 'a', delivery: { connector: 'sms', attempts: 0 }, ...base },
      { _id: 'old-marked', seq: 2, dedupKey: 'b', pendingWebhook: 'ev-1', ...base, state: 'DELIVERED' },
    ] as never[]);
    await d.collection('conversations').insertOne({
      _id: 'old-ended', channel: 'web', status: 'ended', subject: '', customer: { id: 'u' }, participants: [], joined: [], requestId: 'r', createdAt: ts, endedAt: ts, pendingWebhook: { id: 'ev-2', endedBy: { id: 'u', name: 'U', role: 'customer' } },
    } as never);
    await d.collection('conversations').insertOne({
      _id: 'old-held', channel: 'web', status: 'active', subject: '', customer: { id: 'v' }, participants: [], joined: [], requestId: 'r2', createdAt: ts, endedAt: null, agent: { id: 'agent-old', name: 'A', role: 'agent' },
    } as never);
    await raw.close();

    const db = new Database({ uri, opTimeoutMs: 10_000, serverSelectionTimeoutMs: 5000 }, createLogger('silent'));
    await db.connect();
    try {
      const messages = new MongoMessageStore(db, 10_000);
      const markers = new MongoEventMarkerStore(db, 10_000);
      expect((await messages.pending('sms', 10)).map((m) => m.id)).to.deep.equal(['old-owed']);
      expect((await markers.markedMessages(new Date('2027-01-01'), 10)).map((m) => m.id)).to.deep.equal(['old-marked']);
      expect((await markers.markedConversations(new Date('2027-01-01'), 10)).map((c) => c.id)).to.deep.equal(['old-ended']);
      const names = async (c: string) => (await db.connection.db!.collection(c).listIndexes().toArray()).map((i) => i['name'] as string);
      expect(await names('messages')).to.not.include.members(['delivery.connector_1_conversationId_1_seq_1', 'pendingWebhook_1']);
      expect(await names('conversations')).to.not.include.members(['pendingWebhook.id_1', 'agent.id_1_status_1']);
      const conversations = new MongoConversationStore(db, 10_000);
      expect((await conversations.list({ status: 'active', agentId: 'agent-old' }, undefined, 10)).map((c) => c.id)).to.deep.equal(['old-held']);
      // The domain never sees the storage-only fields.
      expect((await messages.findById('old-owed'))!).to.not.have.any.keys('outbox', 'webhookMarked');
    } finally {
      await db.close();
    }
  });
});
