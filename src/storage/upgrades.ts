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
    let filled = 0;
    let batch: mongo.AnyBulkWriteOperation[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length > 0) await messages.bulkWrite(batch, { ordered: false });
      filled += batch.length;
      batch = [];
    };
    const cursor = messages.find({ 'delivery.connector': { $exists: true }, outbox: { $exists: false } }, { projection: { _id: 1, delivery: 1 } });
    for await (const doc of cursor) {
      const connector = (doc['delivery'] as { connector?: unknown } | undefined)?.connector;
      if (typeof connector === 'string') batch.push({ updateOne: { filter: { _id: doc._id }, update: { $set: { outbox: connector } } } });
      if (batch.length >= 500) await flush();
    }
    await flush();
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
    let filled = 0;
    let batch: mongo.AnyBulkWriteOperation[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length > 0) await conversations.bulkWrite(batch, { ordered: false });
      filled += batch.length;
      batch = [];
    };
    for await (const doc of conversations.find({ agentId: { $exists: false } }, { projection: { _id: 1, agent: 1 } })) {
      const id = (doc['agent'] as { id?: unknown } | null | undefined)?.id;
      batch.push({ updateOne: { filter: { _id: doc._id }, update: { $set: { agentId: typeof id === 'string' ? id : null } } } });
      if (batch.length >= 500) await flush();
    }
    await flush();
    await conversations.dropIndex(byAgent).catch(() => undefined);
    log.info({ conversations: filled }, 'stored-shape upgrade: agent id field filled in');
  }
}
