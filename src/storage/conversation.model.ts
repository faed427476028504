import { Schema, type Connection, type Model } from 'mongoose';
import type { Conversation } from '../domain/types.js';

/** The stored shape: the domain Conversation with `_id` in place of `id`. */
export type ConversationDoc = Omit<Conversation, 'id'> & { _id: string };

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
    createdAt: { type: Date, required: true },
    endedAt: { type: Date, default: null },
  },
  { collection: 'conversations', versionKey: false, strict: true, minimize: false },
);
conversationSchema.index({ requestId: 1 }, { unique: true });
conversationSchema.index({ status: 1, subject: 1, createdAt: 1 });

export const CONVERSATION_MODEL = 'Conversation';

export function registerConversationModel(connection: Connection): Model<ConversationDoc> {
  return connection.model<ConversationDoc>(CONVERSATION_MODEL, conversationSchema);
}
