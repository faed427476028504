import mongoose, { type Model, type mongo } from 'mongoose';
import type { Participant } from '../contracts/schemas.js';
import type { ConversationFilter, ConversationStore, CreateResult, ListPosition } from '../domain/ports.js';
import type { Conversation } from '../domain/types.js';
import { CONVERSATION_MODEL, type ConversationDoc } from './conversation.model.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

function fromDoc(doc: ConversationDoc): Conversation {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest, openKey: rest.openKey ?? _id, endedAt: rest.endedAt ?? null };
}

function toDoc(conversation: Conversation): ConversationDoc {
  const { id, ...rest } = conversation;
  const doc: Record<string, unknown> = { _id: id };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) doc[key] = value;
  return doc as ConversationDoc;
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
    // A retried init with the same requestId: return the conversation it created.
    return this.insertOrFind(conversation, { requestId: conversation.requestId });
  }

  /** Inserts, or on a unique-index conflict returns the conversation `existing` finds. */
  private async insertOrFind(conversation: Conversation, existing: Record<string, string>): Promise<CreateResult> {
    return dbCall(this.timeoutMs, async () => {
      try {
        await this.collection.insertOne(toDoc(conversation));
        return { conversation, created: true };
      } catch (err) {
        if (!isDuplicateKeyError(err)) throw err;
        const found = await this.model.findOne(existing).lean<ConversationDoc>();
        if (!found) throw err;
        return { conversation: fromDoc(found), created: false };
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
      // One atomic update by _id: the document as it was before tells whether this was the
      // participant's first join, so concurrent joins agree on who was first.
      const before = await this.model
        .findOneAndUpdate({ _id: id }, { $addToSet: { joined: participant.id } }, { returnDocument: 'before' })
        .lean<ConversationDoc>();
      if (!before) return null;
      const conversation = fromDoc(before);
      const firstJoin = !conversation.joined.includes(participant.id);
      if (firstJoin) conversation.joined = [...conversation.joined, participant.id];
      if (firstJoin && !conversation.participants.some((p) => p.id === participant.id)) {
        // Only the first join of a participant gets here, so the list never holds it twice.
        await this.model.updateOne({ _id: id }, { $push: { participants: participant } });
        conversation.participants = [...conversation.participants, participant];
      }
      return { conversation, firstJoin };
    });
  }

  async unrecordJoin(id: string, participantId: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id }, { $pull: { joined: participantId } }));
  }

  async activate(id: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id, status: 'queued' }, { $set: { status: 'active' } }));
  }

  async end(id: string, at: Date): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model
        .findOneAndUpdate(
          { _id: id, status: mongoose.trusted({ $ne: 'ended' }) },
          // Frees the customer's openKey, so their next message opens a new conversation.
          { $set: { status: 'ended', endedAt: at, openKey: id } },
          { returnDocument: 'after' },
        )
        .lean<ConversationDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async createOpen(conversation: Conversation): Promise<CreateResult> {
    // Another request (or process) opened this customer's conversation first: return it.
    return this.insertOrFind(conversation, { openKey: conversation.openKey });
  }

  async findOpen(openKey: string): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findOne({ openKey, status: mongoose.trusted({ $ne: 'ended' }) }).lean<ConversationDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async list(filter: ConversationFilter, after: ListPosition | undefined, limit: number): Promise<Conversation[]> {
    return dbCall(this.timeoutMs, async () => {
      const query: Record<string, unknown> = {};
      if (filter.status) query['status'] = filter.status;
      if (filter.subject !== undefined) query['subject'] = filter.subject;
      if (filter.channel) query['channel'] = filter.channel;
      if (filter.refId) query['customer.refId'] = filter.refId;
      if (after) {
        query['$or'] = [{ createdAt: mongoose.trusted({ $gt: after.createdAt }) }, { createdAt: after.createdAt, _id: mongoose.trusted({ $gt: after.id }) }];
      }
      const docs = await this.model.find(query).sort({ createdAt: 1, _id: 1 }).limit(limit).lean<ConversationDoc[]>();
      return docs.map(fromDoc);
    });
  }
}
