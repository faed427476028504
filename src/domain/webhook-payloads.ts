import type { Participant } from '../contracts/schemas.js';
import { seedMessageOf, type SeedMessage } from './seed-view.js';
import { channelIdOf, type Conversation, type StoredMessage } from './types.js';
import type { WebhookEventType, WebhookPort } from './webhook.ports.js';

/** The payload of message.created and message.updated (seed 002's "Sample message webhook update"). */
export type MessageEventPayload = {
  conversation_id: string;
  channel_id: string;
  message: SeedMessage & { delivery_state: SeedMessage['state'] };
};

/** The payload of conversation.ended. */
export type ConversationEndedPayload = {
  conversation_id: string;
  channel_id: string;
  ended_at: string;
  ended_by: { id: string; name: string; role: Participant['role'] | null };
};


/** The payload of a message event; without the conversation, channel_id falls back to the message's channel. */
export function messageEventPayload(message: StoredMessage, conversation: Conversation | undefined): MessageEventPayload {
  const seed = seedMessageOf(message);
  return {
    conversation_id: message.conversationId,
    channel_id: conversation ? channelIdOf(conversation) : message.channel,
    message: { ...seed, delivery_state: seed.state },
  };
}

/** The payload of conversation.ended for a conversation just ended by `endedBy`. */
export function conversationEndedPayload(conversation: Conversation, endedBy: Participant): ConversationEndedPayload {
  return {
    conversation_id: conversation.id,
    channel_id: channelIdOf(conversation),
    ended_at: (conversation.endedAt ?? new Date()).toISOString(),
    ended_by: { id: endedBy.id, name: endedBy.name, role: endedBy.role ?? null },
  };
}

type MessageEventType = Extract<WebhookEventType, 'message.created' | 'message.updated'>;

/**
 * Emits message events for stored messages, looking their conversation up for channel_id.
 * Only chat messages are events; activities (joins, greetings, hand-offs) are not.
 */
export class MessageEvents {
  /** Lookups not finished yet: shutdown waits for them so their events reach the outbox. */
  private readonly lookups = new Set<Promise<void>>();

  constructor(
    private readonly webhooks: WebhookPort,
    private readonly conversationOf: (id: string) => Promise<Conversation | null>,
  ) {}

  /** Emits `type` for the message unless it is an activity. */
  emit(type: MessageEventType, message: StoredMessage): void {
    if (message.type !== 'ChatMessage') return;
    // A lookup that fails (database down, nothing cached) must not lose the event.
    const lookup = this.conversationOf(message.conversationId).then(
      (conversation) => this.webhooks.emit(type, messageEventPayload(message, conversation ?? undefined)),
      () => this.webhooks.emit(type, messageEventPayload(message, undefined)),
    ).catch(() => undefined);
    this.lookups.add(lookup);
    void lookup.then(() => this.lookups.delete(lookup));
  }

  /** Resolves once every event emitted so far has been handed to the port. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.lookups]);
  }
}
