import mongoose, { type Model, type mongo } from 'mongoose';
import type { Participant } from '../contracts/schemas.js';
import type { ConversationStore, CreateResult } from '../domain/ports.js';
import type { Conversation } from '../domain/types.js';
import { CONVERSATION_MODEL, type ConversationDoc } from './conversation.model.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

function fromDoc(doc: ConversationDoc): Conversation {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest, endedAt: rest.endedAt ?? null };
}

/** Conversations in MongoDB, read lean (no document hydration). */
export class MongoConversationStore implements ConversationStore {
  private readonly model: Model<ConversationDoc>;
  private readonly collection: mongo.Collection<ConversationDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<ConversationDoc>(CONVERSATION_MODEL);
    this.collection = this.model.collection as unknown as mongo.Collection<ConversationDoc>;
  }

  async create(conversation: Conversation): Promise<CreateResult> {
    const { id, ...rest } = conversation;
    return dbCall(this.timeoutMs, async () => {
      try {
        await this.collection.insertOne({ _id: id, ...rest });
        return { conversation, created: true };
      } catch (err) {
        // A retried init with the same requestId: return the conversation it created.
        if (!isDuplicateKeyError(err)) throw err;
        const existing = await this.model.findOne({ requestId: conversation.requestId }).lean<ConversationDoc>();
        if (!existing) throw err;
        return { conversation: fromDoc(existing), created: false };
      }
    });
  }

  async findById(id: string): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findById(id).lean<ConversationDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async recordJoin(id: string, participant: Participant): Promise<{ conversation: Conversation; firstJoin: boolean } | null> {
    return dbCall(this.timeoutMs, async () => {
      // Two conditional updates, each atomic on its own: add the participant once, then
      // mark the first join once. Concurrent joins of one participant agree on who was first.
      await this.model.updateOne(
        { _id: id, 'participants.id': mongoose.trusted({ $ne: participant.id }) },
        { $push: { participants: participant } },
      );
      const first = await this.model.updateOne(
        { _id: id, joined: mongoose.trusted({ $ne: participant.id }) },
        { $addToSet: { joined: participant.id } },
      );
      const doc = await this.model.findById(id).lean<ConversationDoc>();
      if (!doc) return null;
      return { conversation: fromDoc(doc), firstJoin: first.modifiedCount === 1 };
    });
  }

  async activate(id: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id, status: 'queued' }, { $set: { status: 'active' } }));
  }

  async end(id: string, at: Date): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model
        .findOneAndUpdate(
          { _id: id, status: mongoose.trusted({ $ne: 'ended' }) },
          { $set: { status: 'ended', endedAt: at } },
          { returnDocument: 'after' },
        )
        .lean<ConversationDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }
}
