import type { Model } from 'mongoose';
import type { ChannelRecord, ChannelStore } from '../domain/ports.js';
import { CHANNEL_MODEL, type ChannelDoc } from './channel.model.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

const fromDoc = (doc: ChannelDoc): ChannelRecord => ({ id: doc._id, source: doc.source, name: doc.name });

/** Channels created by POST /channels.connect. */
export class MongoChannelStore implements ChannelStore {
  private readonly model: Model<ChannelDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<ChannelDoc>(CHANNEL_MODEL);
  }

  async connect(channel: ChannelRecord): Promise<ChannelRecord> {
    return dbCall(this.timeoutMs, async () => {
      try {
        await this.model.collection.insertOne({ _id: channel.id, source: channel.source, name: channel.name, createdAt: new Date() } as never);
        return channel;
      } catch (err) {
        if (!isDuplicateKeyError(err)) throw err;
        const existing = await this.model.findOne({ source: channel.source, name: channel.name }).lean<ChannelDoc>();
        if (!existing) throw err;
        return fromDoc(existing);
      }
    });
  }

  async findById(id: string): Promise<ChannelRecord | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findById(id).lean<ChannelDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }
}
