import type { Connection, mongo } from 'mongoose';
import type { Logger } from 'pino';
import { RETIRED_CONVERSATION_INDEXES } from './conversation.model.js';
import { RETIRED_MESSAGE_INDEXES } from './message.model.js';

type Collection = NonNullable<Connection['db']> extends { collection(name: string): infer C } ? C : never;

async function hasIndex(collection: Collection, name: string): Promise<boolean> {
  try {
    return (await collection.listIndexes().toArray()).some((i) => i['name'] === name);
  } catch {
    return false; // no such collection yet
  }
}

/**
 * Brings documents written by an earlier version to today's stored shape, once per database:
 * an index this version retired still being there is the sign that its documents may lack the
 * fields that replaced it. Each step fills the new field in, then drops the retired index.
 */
export async function upgradeStoredShapes(connection: Connection, log: Logger): Promise<void> {
  const db = connection.db;
  if (!db) return;
  const messages = db.collection('messages');
  const conversations = db.collection('conversations');

  // Messages owed to a connector carry `outbox` (formerly found by `delivery.connector`).
  const [byConnector, byMarker] = RETIRED_MESSAGE_INDEXES;
  if (byConnector && (await hasIndex(messages, byConnector))) {
    const filled = await fillIn(messages, { 'delivery.connector': { $exists: true }, outbox: { $exists: false } }, { _id: 1, delivery: 1 }, 'outbox', (doc) => {
      const connector = (doc['delivery'] as { connector?: unknown } | undefined)?.connector;
      return typeof connector === 'string' ? connector : undefined;
    });
    await messages.dropIndex(byConnector).catch(() => undefined);
    log.info({ messages: filled }, 'stored-shape upgrade: connector outbox field filled in');
  }
  // Marked messages and conversations carry `webhookMarked` (formerly found by `$exists`).
  if (byMarker && (await hasIndex(messages, byMarker))) {
    const r = await messages.updateMany({ pendingWebhook: { $exists: true }, webhookMarked: { $exists: false } }, { $set: { webhookMarked: true } });
    await messages.dropIndex(byMarker).catch(() => undefined);
    log.info({ messages: r.modifiedCount }, 'stored-shape upgrade: webhook markers flagged');
  }
  const [byEndedMarker, byAgent] = RETIRED_CONVERSATION_INDEXES;
  if (byEndedMarker && (await hasIndex(conversations, byEndedMarker))) {
    const r = await conversations.updateMany({ 'pendingWebhook.id': { $exists: true }, webhookMarked: { $exists: false } }, { $set: { webhookMarked: true } });
    await conversations.dropIndex(byEndedMarker).catch(() => undefined);
    log.info({ conversations: r.modifiedCount }, 'stored-shape upgrade: webhook markers flagged');
  }
  // Conversations carry `agentId` (formerly found by `agent.id`).
  if (byAgent && (await hasIndex(conversations, byAgent))) {
    const filled = await fillIn(conversations, { agentId: { $exists: false } }, { _id: 1, agent: 1 }, 'agentId', (doc) => {
      const id = (doc['agent'] as { id?: unknown } | null | undefined)?.id;
      return typeof id === 'string' ? id : null;
    });
    await conversations.dropIndex(byAgent).catch(() => undefined);
    log.info({ conversations: filled }, 'stored-shape upgrade: agent id field filled in');
  }
}

/**
 * Sets `field` to `valueOf(doc)` on every document `filter` matches (none where it answers
 * undefined), in unordered bulk writes of 500; answers how many were set.
 */
async function fillIn(
  collection: mongo.Collection,
  filter: mongo.Filter<mongo.Document>,
  projection: mongo.Document,
  field: string,
  valueOf: (doc: mongo.WithId<mongo.Document>) => unknown,
): Promise<number> {
  let filled = 0;
  let batch: mongo.AnyBulkWriteOperation[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await collection.bulkWrite(batch, { ordered: false });
    filled += batch.length;
    batch = [];
  };
  for await (const doc of collection.find(filter, { projection })) {
    const value = valueOf(doc);
    if (value !== undefined) batch.push({ updateOne: { filter: { _id: doc._id }, update: { $set: { [field]: value } } } });
    if (batch.length >= 500) await flush();
  }
  await flush();
  return filled;
}
