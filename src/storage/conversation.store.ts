import mongoose, { type Model, type mongo } from 'mongoose';
import type { Participant } from '../contracts/schemas.js';
import type { ConversationFilter, ConversationStore, CreateResult, ListPosition, QueuePosition } from '../domain/ports.js';
import type { Conversation } from '../domain/types.js';
import { CONVERSATION_MODEL, type ConversationDoc } from './conversation.model.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

/** The domain conversation of a stored document. */
export function conversationFromDoc(doc: ConversationDoc): Conversation {
  const { _id, participantsRev: _participantsRev, webhookMarked: _webhookMarked, agentId: _agentId, ...rest } = doc;
  return {
    id: _id,
    ...rest,
    openKey: rest.openKey ?? _id,
    endedAt: rest.endedAt ?? null,
    queuedAt: rest.queuedAt ?? null,
    agent: rest.agent ?? null,
    previousAgentId: rest.previousAgentId ?? null,
    routingRev: rest.routingRev ?? 0,
    resumeEpoch: rest.resumeEpoch ?? 0,
  };
}

function toDoc(conversation: Conversation): ConversationDoc {
  const { id, ...rest } = conversation;
  const doc: Record<string, unknown> = { _id: id };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) doc[key] = value;
  if (conversation.pendingWebhook) doc['webhookMarked'] = true;
  doc['agentId'] = conversation.agent?.id ?? null;
  return doc as ConversationDoc;
}

/** How many times a participants compare-and-set is tried before giving up (each miss means another update changed the list). */
const PARTICIPANTS_ATTEMPTS = 25;

/** A change of the participants list, planned from the document as read. */
interface ParticipantsPlan {
  /** Conditions besides the revision, checked again by the update itself. */
  filter: Record<string, unknown>;
  /** The whole new list. */
  participants: Participant[];
  /** The rest of the update ($set, $pull of scalars, $inc). */
  change: { $set?: Record<string, unknown>; $pull?: Record<string, unknown>; $inc?: Record<string, number> };
}

/**
 * Conversations in MongoDB, read lean (no document hydration).
 *
 * Only query and update shapes that MongoDB and the local store (FerretDB) answer alike are
 * used (test/storage/ checks them on both): the participants list (sub-documents) is never
 * changed by `$pull` with a condition nor guarded by `$ne` on one of its paths, but replaced
 * whole by a compare-and-set on `participantsRev` (see changeParticipants).
 */
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
        return { conversation: conversationFromDoc(found), created: false };
      }
    });
  }

  async findById(id: string): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findById(id).lean<ConversationDoc>();
      return doc ? conversationFromDoc(doc) : null;
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
      const conversation = conversationFromDoc(before);
      const firstJoin = !conversation.joined.includes(participant.id);
      if (firstJoin) conversation.joined = [...conversation.joined, participant.id];
      if (firstJoin && !conversation.participants.some((p) => p.id === participant.id)) {
        // Only the first join of a participant gets here; $addToSet also skips the same
        // {id, name, role} object added by a claim in between.
        await this.model.updateOne({ _id: id }, { $addToSet: { participants: participant }, $inc: { participantsRev: 1 } });
        conversation.participants = [...conversation.participants, participant];
      }
      return { conversation, firstJoin };
    });
  }

  async unrecordJoin(id: string, participantId: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id }, { $pull: { joined: participantId } }));
  }

  async end(id: string, at: Date, pendingWebhook?: Conversation['pendingWebhook']): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const set: Record<string, unknown> = { status: 'ended', endedAt: at, openKey: id };
      if (pendingWebhook) {
        set['pendingWebhook'] = pendingWebhook;
        set['webhookMarked'] = true;
      }
      const doc = await this.model
        .findOneAndUpdate(
          { _id: id, status: mongoose.trusted({ $ne: 'ended' }) },
          // Frees the customer's openKey, so their next message opens a new conversation.
          { $set: set },
          { returnDocument: 'after' },
        )
        .lean<ConversationDoc>();
      return doc ? conversationFromDoc(doc) : null;
    });
  }

  async createOpen(conversation: Conversation): Promise<CreateResult> {
    // Another request (or process) opened this customer's conversation first: return it.
    return this.insertOrFind(conversation, { openKey: conversation.openKey });
  }

  async findOpen(openKey: string): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findOne({ openKey, status: mongoose.trusted({ $ne: 'ended' }) }).lean<ConversationDoc>();
      return doc ? conversationFromDoc(doc) : null;
    });
  }

  async list(filter: ConversationFilter, after: ListPosition | undefined, limit: number): Promise<Conversation[]> {
    return dbCall(this.timeoutMs, async () => {
      const query: Record<string, unknown> = {};
      if (filter.status) query['status'] = filter.status;
      if (filter.subject !== undefined) query['subject'] = filter.subject;
      if (filter.channel) query['channel'] = filter.channel;
      if (filter.refId) query['customer.refId'] = filter.refId;
      if (filter.agentId) query['agentId'] = filter.agentId;
      if (after) {
        query['$or'] = [{ createdAt: mongoose.trusted({ $gt: after.createdAt }) }, { createdAt: after.createdAt, _id: mongoose.trusted({ $gt: after.id }) }];
      }
      const docs = await this.model.find(query).sort({ createdAt: 1, _id: 1 }).limit(limit).lean<ConversationDoc[]>();
      return docs.map(conversationFromDoc);
    });
  }

  async enqueue(id: string, at: Date): Promise<Conversation | null> {
    return this.update({ _id: id, status: 'queued', queuedAt: null, agent: null }, { $set: { queuedAt: at } });
  }

  async queued(after: QueuePosition | undefined, limit: number): Promise<Conversation[]> {
    return dbCall(this.timeoutMs, async () => {
      const query: Record<string, unknown> = { status: 'queued', queuedAt: mongoose.trusted({ $ne: null }) };
      if (after) {
        query['$or'] = [{ queuedAt: mongoose.trusted({ $gt: after.queuedAt }) }, { queuedAt: after.queuedAt, _id: mongoose.trusted({ $gt: after.id }) }];
      }
      const docs = await this.model.find(query).sort({ queuedAt: 1, _id: 1 }).limit(limit).lean<ConversationDoc[]>();
      return docs.map(conversationFromDoc);
    });
  }

  async claim(id: string, agent: Participant): Promise<Conversation | null> {
    // Only a waiting conversation (status queued, no agent) matches: of two processes or
    // agents claiming it at once, exactly one update finds it so.
    // The agent joins the participants in the same update ($addToSet: an agent who joined by
    // hand first is the same {id, name, role} object, so never listed twice).
    return this.update(
      { _id: id, status: 'queued', agent: null },
      {
        $set: { status: 'active', agent, agentId: agent.id, queuedAt: null, previousAgentId: null },
        $addToSet: { joined: agent.id, participants: agent },
        $inc: { routingRev: 1, participantsRev: 1 },
      },
    );
  }

  async reassign(id: string, fromId: string, to: Participant): Promise<Conversation | null> {
    // The old agent leaves and the new one joins the participants (once) in the same update.
    return this.changeParticipants(id, (doc) => {
      if (doc.status !== 'active' || doc.agent?.id !== fromId) return null;
      const participants = doc.participants.filter((p) => p.id !== fromId);
      if (!participants.some((p) => p.id === to.id)) participants.push(to);
      return {
        filter: { status: 'active', agentId: fromId },
        participants,
        change: { $set: { agent: to, agentId: to.id }, $pull: { joined: fromId }, $inc: { routingRev: 1 } },
      };
    });
  }

  async requeue(id: string, fromId: string, subject: string, queuedAt: Date): Promise<Conversation | null> {
    return this.changeParticipants(id, (doc) => {
      if (doc.status !== 'active' || doc.agent?.id !== fromId) return null;
      return {
        filter: { status: 'active', agentId: fromId },
        participants: doc.participants.filter((p) => p.id !== fromId),
        change: {
          $set: { status: 'queued', agent: null, agentId: null, subject, queuedAt, previousAgentId: fromId },
          $pull: { joined: fromId },
          $inc: { routingRev: 1 },
        },
      };
    });
  }

  async resubject(id: string, subject: string): Promise<Conversation | null> {
    return this.update({ _id: id, status: 'queued', agent: null }, { $set: { subject }, $inc: { routingRev: 1 } });
  }

  async removeParticipant(id: string, participantId: string): Promise<Conversation | null> {
    // Only a participant who is not the conversation's agent (that one is requeued instead).
    // `agent` is a sub-document, not an array: $ne on its path means the same on every store.
    return this.changeParticipants(id, (doc) => {
      if (!doc.participants.some((p) => p.id === participantId) || doc.agent?.id === participantId) return null;
      return {
        filter: { 'participants.id': participantId, 'agent.id': mongoose.trusted({ $ne: participantId }) },
        participants: doc.participants.filter((p) => p.id !== participantId),
        change: { $pull: { joined: participantId }, $inc: { routingRev: 1 } },
      };
    });
  }
  async revokeResume(id: string): Promise<Conversation | null> {
    return this.update({ _id: id }, { $inc: { resumeEpoch: 1 } });
  }

  async byContact(contactId: string, limit: number): Promise<Conversation[]> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.model.find({ contactId }).sort({ createdAt: -1, _id: -1 }).limit(limit).lean<ConversationDoc[]>();
      return docs.map(conversationFromDoc);
    });
  }

  /** One conditional findOneAndUpdate; the document after it, or null when the filter matched nothing. */
  private async update(filter: Record<string, unknown>, change: Record<string, unknown>): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findOneAndUpdate(filter, change, { returnDocument: 'after' }).lean<ConversationDoc>();
      return doc ? conversationFromDoc(doc) : null;
    });
  }

  /**
   * Changes the participants list by compare-and-set: reads the conversation, lets `plan` compute
   * the new list (null: its precondition does not hold, nothing changes), and writes it, with the
   * rest of the plan's update, only while `participantsRev` is still the one read and the plan's
   * filter still matches. A miss re-reads and plans again, a bounded number of times. Every update
   * that changes `participants` bumps `participantsRev`, so no concurrent change is lost.
   */
  private async changeParticipants(id: string, plan: (doc: ConversationDoc) => ParticipantsPlan | null): Promise<Conversation | null> {
    return dbCall(this.timeoutMs, async () => {
      for (let attempt = 0; attempt < PARTICIPANTS_ATTEMPTS; attempt += 1) {
        const doc = await this.model.findById(id).lean<ConversationDoc>();
        if (!doc) return null;
        const planned = plan(doc);
        if (!planned) return null;
        const rev = doc.participantsRev === undefined ? mongoose.trusted({ $exists: false }) : doc.participantsRev;
        const { change } = planned;
        const update = {
          ...change,
          $set: { ...change.$set, participants: planned.participants },
          $inc: { ...change.$inc, participantsRev: 1 },
        };
        const after = await this.model.findOneAndUpdate({ ...planned.filter, _id: id, participantsRev: rev }, update, { returnDocument: 'after' }).lean<ConversationDoc>();
        if (after) return conversationFromDoc(after);
      }
      throw new Error(`conversation ${id}: its participants kept changing; gave up after ${PARTICIPANTS_ATTEMPTS} attempts`);
    });
  }
}
