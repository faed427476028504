import mongoose, { type Model, type mongo } from 'mongoose';
import type { DeliveryChange, OutboxStore } from '../domain/ports.js';
import type { MessageState, StoredMessage } from '../domain/types.js';
import type { Database } from './database.js';
import { dbCall } from './db-errors.js';
import { MESSAGE_MODEL, messageFromDoc, type MessageDoc } from './message.model.js';


/** The update document for one change: state, metadata keys, and the delivery ticket. */
function updateOf(change: DeliveryChange): mongo.UpdateFilter<MessageDoc> {
  const set: Record<string, unknown> = { state: change.state };
  const unset: Record<string, ''> = {};
  // Keys come from the hub (externalId, error), never from a client, so they are safe paths.
  for (const [key, value] of Object.entries(change.metadata)) {
    if (value === null) unset[`metadata.${key}`] = '';
    else set[`metadata.${key}`] = value;
  }
  if (change.delivery) set['delivery'] = change.delivery;
  else unset['delivery'] = '';
  const update: Record<string, unknown> = { $set: set };
  if (Object.keys(unset).length > 0) update['$unset'] = unset;
  return update as mongo.UpdateFilter<MessageDoc>;
}

/** The connector outbox over the messages collection: pending messages carry a `delivery` ticket. */
export class MongoOutboxStore implements OutboxStore {
  private readonly model: Model<MessageDoc>;
  private readonly collection: mongo.Collection<MessageDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<MessageDoc>(MESSAGE_MODEL);
    this.collection = this.model.collection as unknown as mongo.Collection<MessageDoc>;
  }

  async pending(connector: string, limit: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.model
        .find({ 'delivery.connector': connector })
        .sort({ conversationId: 1, seq: 1 })
        .limit(limit)
        .lean<MessageDoc[]>();
      return docs.map(messageFromDoc);
    });
  }

  async apply(changes: DeliveryChange[]): Promise<void> {
    if (changes.length === 0) return;
    await dbCall(this.timeoutMs, () =>
      this.collection.bulkWrite(
        changes.map((change) => ({ updateOne: { filter: { _id: change.id }, update: updateOf(change) } })),
        { ordered: false },
      ),
    );
  }

  async transition(change: DeliveryChange, from: MessageState[]): Promise<StoredMessage | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model
        .findOneAndUpdate({ _id: change.id, state: mongoose.trusted({ $in: from }) }, updateOf(change) as never, { returnDocument: 'after' })
        .lean<MessageDoc>();
      return doc ? messageFromDoc(doc) : null;
    });
  }

  async findById(id: string): Promise<StoredMessage | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findById(id).lean<MessageDoc>();
      return doc ? messageFromDoc(doc) : null;
    });
  }
}
