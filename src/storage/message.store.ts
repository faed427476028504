import mongoose, { type Model, type mongo } from 'mongoose';
import type { InsertOutcome, MessageStore } from '../domain/ports.js';
import type { StoredMessage } from '../domain/types.js';
import type { Database } from './database.js';
import { dbCall } from './db-errors.js';
import { MESSAGE_MODEL, messageFromDoc, type MessageDoc } from './message.model.js';

function toDoc(m: StoredMessage): MessageDoc {
  const { id, ...rest } = m;
  const doc: Record<string, unknown> = { _id: id };
  // Leave out undefined fields instead of storing nulls.
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) doc[key] = value;
  return doc as MessageDoc;
}


interface BulkWriteErrorLike {
  code?: number;
  writeErrors?: Array<{ index: number; code: number }>;
}

/** Messages in MongoDB: batched unordered inserts, lean reads by conversation and seq. */
export class MongoMessageStore implements MessageStore {
  private readonly model: Model<MessageDoc>;
  private readonly collection: mongo.Collection<MessageDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<MessageDoc>(MESSAGE_MODEL);
    this.collection = this.model.collection as unknown as mongo.Collection<MessageDoc>;
  }

  async insertBatch(messages: StoredMessage[]): Promise<InsertOutcome[]> {
    if (messages.length === 0) return [];
    return dbCall(this.timeoutMs, async () => {
      const outcomes: InsertOutcome[] = messages.map(() => ({ status: 'stored' }));
      try {
        await this.collection.insertMany(messages.map(toDoc), { ordered: false });
        return outcomes;
      } catch (err) {
        const bulk = err as BulkWriteErrorLike;
        const writeErrors = bulk.writeErrors ?? [];
        if (writeErrors.length === 0 || writeErrors.some((w) => w.code !== 11000)) throw err;
        // A unique index refused some documents. Tell a repeated clientMessageId
        // (same dedupKey already stored) from a seq taken by another hub process.
        for (const w of writeErrors) {
          const m = messages[w.index];
          if (!m) continue;
          const existing = await this.model.findOne({ conversationId: m.conversationId, dedupKey: m.dedupKey }).lean<MessageDoc>();
          outcomes[w.index] = existing && existing._id !== m.id ? { status: 'duplicate', existing: messageFromDoc(existing) } : { status: 'seqConflict' };
        }
        return outcomes;
      }
    });
  }

  async latestVisible(conversationId: string, viewerId: string, staff: boolean, limit: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const filter: Record<string, unknown> = { conversationId, audience: mongoose.trusted({ $in: ['*', viewerId] }) };
      if (!staff) filter['tag'] = mongoose.trusted({ $ne: 'whisper' });
      const docs = await this.model.find(filter).sort({ seq: -1 }).limit(limit).lean<MessageDoc[]>();
      return docs.reverse().map(messageFromDoc);
    });
  }
}
