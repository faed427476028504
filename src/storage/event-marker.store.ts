import mongoose, { type Model } from 'mongoose';
import type { Conversation, StoredMessage } from '../domain/types.js';
import type { EventMarkerStore } from '../domain/webhook.ports.js';
import { CONVERSATION_MODEL, type ConversationDoc } from './conversation.model.js';
import { conversationFromDoc } from './conversation.store.js';
import type { Database } from './database.js';
import { dbCall } from './db-errors.js';
import { MESSAGE_MODEL, messageFromDoc, type MessageDoc } from './message.model.js';

/**
 * The `pendingWebhook` markers on messages and conversations: the webhook events written in the
 * same update as their cause, until the webhook outbox holds them. Each marked document also
 * carries `webhookMarked: true`, so the sweep's read is an equality on an indexed field (sparse
 * indexes), and markers are cleared one document at a time by _id in one bulk write: every store
 * answers both from an index. Markers live for milliseconds, so few documents ever match.
 */
export class MongoEventMarkerStore implements EventMarkerStore {
  private readonly messages: Model<MessageDoc>;
  private readonly conversations: Model<ConversationDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.messages = db.connection.model<MessageDoc>(MESSAGE_MODEL);
    this.conversations = db.connection.model<ConversationDoc>(CONVERSATION_MODEL);
  }

  async markedMessages(before: Date, limit: number): Promise<StoredMessage[]> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.messages
        .find({ webhookMarked: true, timestamp: mongoose.trusted({ $lt: before }) })
        .sort({ timestamp: 1 })
        .limit(limit)
        .lean<MessageDoc[]>();
      return docs.map(messageFromDoc);
    });
  }

  async markedConversations(before: Date, limit: number): Promise<Conversation[]> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.conversations
        .find({ webhookMarked: true, endedAt: mongoose.trusted({ $lt: before }) })
        .limit(limit)
        .lean<ConversationDoc[]>();
      return docs.map(conversationFromDoc);
    });
  }

  async clearMessages(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await dbCall(this.timeoutMs, () => this.messages.bulkWrite(ids.map((id) => ({ updateOne: { filter: { _id: id }, update: { $unset: { pendingWebhook: '', webhookMarked: '' } } } })), { ordered: false }));
  }

  async clearConversations(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await dbCall(this.timeoutMs, () => this.conversations.bulkWrite(ids.map((id) => ({ updateOne: { filter: { _id: id }, update: { $unset: { pendingWebhook: '', webhookMarked: '' } } } })), { ordered: false }));
  }
}
