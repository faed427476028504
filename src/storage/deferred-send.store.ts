import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import type { DeferredSend, DeferredSendStore } from '../domain/ports.js';
import type { Database } from './database.js';
import { dbCall } from './db-errors.js';

/** A deferred messages.send as stored; `nextAt` is when a process may look at it again. */
export type DeferredSendDoc = Omit<DeferredSend, 'id'> & { _id: string; nextAt: Date };

const deferredSendSchema = new Schema<DeferredSendDoc>(
  {
    _id: { type: String, required: true },
    conversationId: { type: String, required: true },
    message: { type: Schema.Types.Mixed, required: true },
    idempotencyKey: { type: String, default: null },
    createdAt: { type: Date, required: true },
    giveUpAt: { type: Date, required: true },
    nextAt: { type: Date, required: true },
  },
  { collection: 'deferred_sends', versionKey: false, strict: true, minimize: false },
);
deferredSendSchema.index({ nextAt: 1 });

export const DEFERRED_SEND_MODEL = 'DeferredSend';

export function registerDeferredSendModel(connection: Connection): Model<DeferredSendDoc> {
  return connection.model<DeferredSendDoc>(DEFERRED_SEND_MODEL, deferredSendSchema);
}

const fromDoc = ({ _id, nextAt: _nextAt, ...rest }: DeferredSendDoc): DeferredSend => ({ id: _id, ...rest });

/** Deferred sends in MongoDB, so a 202 survives a restart. */
export class MongoDeferredSendStore implements DeferredSendStore {
  private readonly model: Model<DeferredSendDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<DeferredSendDoc>(DEFERRED_SEND_MODEL);
  }

  async add(send: DeferredSend): Promise<void> {
    const { id, ...rest } = send;
    await dbCall(this.timeoutMs, () => this.model.collection.insertOne({ _id: id, ...rest, nextAt: send.createdAt } as never));
  }

  async claimDue(now: Date, leaseUntil: Date, limit: number): Promise<DeferredSend[]> {
    return dbCall(this.timeoutMs, async () => {
      const due = await this.model.find({ nextAt: mongoose.trusted({ $lte: now }) }).sort({ nextAt: 1 }).limit(limit).lean<DeferredSendDoc[]>();
      const claimed: DeferredSend[] = [];
      for (const doc of due) {
        const won = await this.model
          .findOneAndUpdate({ _id: doc._id, nextAt: doc.nextAt }, { $set: { nextAt: leaseUntil } }, { returnDocument: 'after' })
          .lean<DeferredSendDoc>();
        if (won) claimed.push(fromDoc(won));
      }
      return claimed;
    });
  }

  async remove(id: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.deleteOne({ _id: id }));
  }
}
