import mongoose, { type Model, type mongo } from 'mongoose';
import type { ChatMessageStore, ChatViewer, DeliveryChange, InsertOutcome, MessageStore, OutboxStore, SeqRange } from '../domain/ports.js';
import type { MessageState, StoredMessage } from '../domain/types.js';
import type { Database } from './database.js';
import { dbCall } from './db-errors.js';
import { MESSAGE_MODEL, messageFromDoc, type MessageDoc } from './message.model.js';

function toDoc(m: StoredMessage): MessageDoc {
  const { id, ...rest } = m;
  const doc: Record<string, unknown> = { _id: id };
  // Leave out undefined fields instead of storing nulls.
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) doc[key] = value;
  if (m.delivery) doc['outbox'] = m.delivery.connector;
  if (m.pendingWebhook) doc['webhookMarked'] = true;
  return doc as MessageDoc;
}


interface BulkWriteErrorLike {
  code?: number;
  writeErrors?: Array<{ index: number; code: number; errmsg?: string }>;
}

/** The update document for one change: state, metadata keys, and the delivery ticket. */
function updateOf(change: DeliveryChange): mongo.UpdateFilter<MessageDoc> {
  const set: Record<string, unknown> = { state: change.state };
  const unset: Record<string, ''> = {};
  // Keys come from the hub (externalId, error), never from a client, so they are safe paths.
  for (const [key, value] of Object.entries(change.metadata)) {
    if (value === null) unset[`metadata.${key}`] = '';
    else set[`metadata.${key}`] = value;
  }
  if (change.delivery) {
    set['delivery'] = change.delivery;
    set['outbox'] = change.delivery.connector;
  } else {
    unset['delivery'] = '';
    unset['outbox'] = '';
  }
  const update: Record<string, unknown> = { $set: set };
  if (Object.keys(unset).length > 0) update['$unset'] = unset;
  return update as mongo.UpdateFilter<MessageDoc>;
}

/**
 * Messages in MongoDB: batched unordered inserts, lean reads by conversation and seq, and the
 * connector outbox (pending messages carry a `delivery` ticket; acks are bulk updates by _id).
 */
export class MongoMessageStore implements MessageStore, OutboxStore, ChatMessageStore {
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
        // Unordered: every document not named in writeErrors was stored. Without writeErrors the
        // outcome of the whole batch is unknown (a client-side encoding error, a lost connection).
        const writeErrors = (err as BulkWriteErrorLike).writeErrors ?? [];
        if (writeErrors.length === 0) throw err;
        for (const w of writeErrors) {
          const m = messages[w.index];
          if (!m) continue;
          if (w.code !== 11000) {
            outcomes[w.index] = { status: 'refused', reason: w.errmsg ?? `write error ${w.code}` };
            continue;
          }
          // A unique index refused it. Tell our own earlier insert that landed (same id), a repeated
          // clientMessageId (same dedupKey already stored) and a seq taken by another hub process.
          const existing = await this.model.findOne({ conversationId: m.conversationId, dedupKey: m.dedupKey }).lean<MessageDoc>();
          if (existing && existing._id === m.id) outcomes[w.index] = { status: 'stored' };
          else if (existing) outcomes[w.index] = { status: 'duplicate', existing: messageFromDoc(existing) };
          else outcomes[w.index] = { status: 'seqConflict' };
        }
        return outcomes;
      }
    });
  }

  async latestVisible(conversationId: string, viewerId: string, staff: boolean, limit: number, beforeSeq?: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const filter: Record<string, unknown> = { conversationId, audience: mongoose.trusted({ $in: ['*', viewerId] }) };
      if (beforeSeq !== undefined) filter['seq'] = mongoose.trusted({ $lt: beforeSeq });
      if (!staff) filter['tag'] = mongoose.trusted({ $ne: 'whisper' });
      const docs = await this.model.find(filter).sort({ seq: -1 }).limit(limit).lean<MessageDoc[]>();
      return docs.reverse().map(messageFromDoc);
    });
  }

  async visibleAfter(conversationId: string, viewerId: string, staff: boolean, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const filter: Record<string, unknown> = {
        conversationId,
        seq: mongoose.trusted({ $gt: afterSeq }),
        audience: mongoose.trusted({ $in: ['*', viewerId] }),
      };
      if (!staff) filter['tag'] = mongoose.trusted({ $ne: 'whisper' });
      const docs = await this.model.find(filter).sort({ seq: 1 }).limit(limit).lean<MessageDoc[]>();
      return docs.map(messageFromDoc);
    });
  }

  /** The filter for `viewer`'s ChatMessages of a conversation. */
  private chatFilter(conversationId: string, viewer: ChatViewer): Record<string, unknown> {
    const filter: Record<string, unknown> = { conversationId, type: 'ChatMessage' };
    if (viewer === 'all') return filter;
    filter['audience'] = mongoose.trusted({ $in: ['*', viewer.id] });
    if (!viewer.staff) filter['tag'] = mongoose.trusted({ $ne: 'whisper' });
    return filter;
  }

  async chatMessages(conversationId: string, viewer: ChatViewer, range: SeqRange, limit: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const filter = this.chatFilter(conversationId, viewer);
      if ('afterSeq' in range) {
        filter['seq'] = mongoose.trusted({ $gt: range.afterSeq });
        const docs = await this.model.find(filter).sort({ seq: 1 }).limit(limit).lean<MessageDoc[]>();
        return docs.map(messageFromDoc);
      }
      filter['seq'] = mongoose.trusted({ $lt: range.beforeSeq });
      const docs = await this.model.find(filter).sort({ seq: -1 }).limit(limit).lean<MessageDoc[]>();
      return docs.reverse().map(messageFromDoc);
    });
  }

  async countChatMessages(conversationId: string, viewer: ChatViewer): Promise<number> {
    return dbCall(this.timeoutMs, () => this.model.countDocuments(this.chatFilter(conversationId, viewer)));
  }

  async setMetadata(id: string, key: string, value: unknown): Promise<StoredMessage | null> {
    return dbCall(this.timeoutMs, async () => {
      // `key` is the hub's own (e.g. "suggestions"), never a client's, so it is a safe path.
      const doc = await this.model.findOneAndUpdate({ _id: id }, { $set: { [`metadata.${key}`]: value } }, { returnDocument: 'after' }).lean<MessageDoc>();
      return doc ? messageFromDoc(doc) : null;
    });
  }

  async pending(connector: string, limit: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.model
        .find({ outbox: connector })
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
