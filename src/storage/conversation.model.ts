import { Schema, type Connection, type Model } from 'mongoose';
import type { Conversation } from '../domain/types.js';

/**
 * The stored shape: the domain Conversation with `_id` in place of `id`, plus `participantsRev`:
 * bumped by every update that changes `participants` (absent on documents never changed since
 * insert), so a participants list computed from a read is written back only if still current;
 * `webhookMarked`, true while `pendingWebhook` is set; and `agentId`, the id of `agent` (null
 * without one): top-level equalities, which every MongoDB-protocol store serves from an index.
 */
export type ConversationDoc = Omit<Conversation, 'id'> & { _id: string; participantsRev?: number; webhookMarked?: true; agentId?: string | null };

const participant = new Schema({ id: String, name: String, role: String }, { _id: false });

const conversationSchema = new Schema<ConversationDoc>(
  {
    _id: { type: String, required: true },
    channel: { type: String, required: true },
    status: { type: String, required: true },
    subject: { type: String, default: '' },
    customer: { type: Schema.Types.Mixed, required: true },
    participants: { type: [participant], default: [] },
    joined: { type: [String], default: [] },
    requestId: { type: String, required: true },
    initRequest: { type: new Schema({ requestId: String, fingerprint: String }, { _id: false }), default: undefined },
    trustedEmail: String,
    connector: String,
    channelId: String,
    openKey: String,
    createdAt: { type: Date, required: true },
    endedAt: { type: Date, default: null },
    queuedAt: { type: Date, default: null },
    agent: { type: participant, default: null },
    previousAgentId: { type: String, default: null },
    routingRev: { type: Number, default: 0 },
    participantsRev: { type: Number },
    contactId: String,
    resumeEpoch: { type: Number, default: 0 },
    pendingWebhook: { type: Schema.Types.Mixed, default: undefined },
    webhookMarked: { type: Boolean, default: undefined },
    agentId: { type: String, default: null },
  },
  { collection: 'conversations', versionKey: false, strict: true, minimize: false },
);
conversationSchema.index({ requestId: 1 }, { unique: true });
conversationSchema.index({ status: 1, subject: 1, createdAt: 1 });
// One open conversation per customer and connector; sparse so conversations stored before
// openKey existed do not collide on a missing value.
conversationSchema.index({ openKey: 1 }, { unique: true, sparse: true });
conversationSchema.index({ channel: 1, 'customer.refId': 1, createdAt: 1 });
conversationSchema.index({ createdAt: 1, _id: 1 });
// An agent's conversations (becoming ready, lists by agent).
conversationSchema.index({ agentId: 1, status: 1 });
// contacts.identify: a contact's conversations, newest first.
conversationSchema.index({ contactId: 1, createdAt: -1 }, { sparse: true });
// The routing queue: waiting conversations in arrival order.
conversationSchema.index({ status: 1, queuedAt: 1, _id: 1 });

// Conversations whose conversation.ended event is not yet in the webhook outbox.
conversationSchema.index({ webhookMarked: 1, endedAt: 1 }, { sparse: true });

/** Indexes earlier versions declared and this one replaced. */
export const RETIRED_CONVERSATION_INDEXES = ['pendingWebhook.id_1', 'agent.id_1_status_1'];

export const CONVERSATION_MODEL = 'Conversation';

export function registerConversationModel(connection: Connection): Model<ConversationDoc> {
  return connection.model<ConversationDoc>(CONVERSATION_MODEL, conversationSchema);
}
