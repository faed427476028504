import { Schema, type Connection, type Model } from 'mongoose';
import type { StoredMessage } from '../domain/types.js';

export type MessageDoc = Omit<StoredMessage, 'id'> & { _id: string };

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
  },
  { collection: 'messages', versionKey: false, strict: true, minimize: false },
);
messageSchema.index({ conversationId: 1, seq: 1 }, { unique: true });
messageSchema.index({ conversationId: 1, dedupKey: 1 }, { unique: true });
// The connector outbox: only messages still owed to a connector carry `delivery`.
messageSchema.index({ 'delivery.connector': 1, conversationId: 1, seq: 1 }, { sparse: true });

// Messages whose message.created event is not yet in the webhook outbox (normally for milliseconds).
messageSchema.index({ pendingWebhook: 1 }, { sparse: true });

export const MESSAGE_MODEL = 'Message';

/** The domain message of a stored document. */
export function messageFromDoc(doc: MessageDoc): StoredMessage {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest };
}

export function registerMessageModel(connection: Connection): Model<MessageDoc> {
  return connection.model<MessageDoc>(MESSAGE_MODEL, messageSchema);
}
