import { Schema, type Connection, type Model } from 'mongoose';
import type { StoredMessage } from '../domain/types.js';

/**
 * The stored shape: the domain message with `_id` in place of `id`, plus two fields kept for
 * queries (every hot query has a top-level equality on an indexed field, the shape every
 * MongoDB-protocol store serves from an index):
 * - `outbox`: the connector owed this message, while `delivery` is set;
 * - `webhookMarked`: true while `pendingWebhook` is set.
 */
export type MessageDoc = Omit<StoredMessage, 'id'> & { _id: string; outbox?: string; webhookMarked?: true };

// The schema documents the shape and declares indexes; the hot write path inserts
// plain objects through the driver (no hydration), after zod validated them at the edge.
const messageSchema = new Schema<MessageDoc>(
  {
    _id: { type: String, required: true },
    conversationId: { type: String, required: true },
    seq: { type: Number, required: true },
    type: { type: String, required: true },
    from: { type: Schema.Types.Mixed, required: true },
    to: { type: Schema.Types.Mixed, default: [] },
    audience: { type: [String], required: true },
    text: String,
    attachments: Schema.Types.Mixed,
    activityType: String,
    info: Schema.Types.Mixed,
    refId: { type: String, default: '' },
    tag: { type: String, default: '' },
    channel: String,
    state: String,
    metadata: { type: Schema.Types.Mixed, default: {} },
    timestamp: { type: Date, required: true },
    clientMessageId: String,
    dedupKey: { type: String, required: true },
    delivery: { type: Schema.Types.Mixed, default: undefined },
    pendingWebhook: { type: String, default: undefined },
    outbox: { type: String, default: undefined },
    webhookMarked: { type: Boolean, default: undefined },
  },
  { collection: 'messages', versionKey: false, strict: true, minimize: false },
);
messageSchema.index({ conversationId: 1, seq: 1 }, { unique: true });
messageSchema.index({ conversationId: 1, dedupKey: 1 }, { unique: true });
// The connector outbox: only messages still owed to a connector carry `outbox` (and `delivery`).
messageSchema.index({ outbox: 1, conversationId: 1, seq: 1 }, { sparse: true });

// Messages whose message.created event is not yet in the webhook outbox (normally for milliseconds).
messageSchema.index({ webhookMarked: 1, timestamp: 1 }, { sparse: true });

/** Indexes earlier versions declared and this one replaced, with the query fields they served. */
export const RETIRED_MESSAGE_INDEXES = ['delivery.connector_1_conversationId_1_seq_1', 'pendingWebhook_1'];

export const MESSAGE_MODEL = 'Message';

/** The domain message of a stored document. */
export function messageFromDoc(doc: MessageDoc): StoredMessage {
  const { _id, outbox: _outbox, webhookMarked: _webhookMarked, ...rest } = doc;
  return { id: _id, ...rest };
}

export function registerMessageModel(connection: Connection): Model<MessageDoc> {
  return connection.model<MessageDoc>(MESSAGE_MODEL, messageSchema);
}
