import { randomUUID } from 'node:crypto';
import { approxBytes } from './approx-size.js';
import { ByteLru, type ByteLruOptions } from './byte-lru.js';
import { HubError } from '../contracts/errors.js';
import type { ActivityType, Attachment, Participant, SendMessagePayload } from '../contracts/schemas.js';
import type { ConversationCache } from './conversation-cache.js';
import type { Membership } from './conversation.service.js';
import { audienceOf, customerRefId } from './message-factory.js';
import type { MessageWriter } from './message-writer.js';
import type { RealtimePort } from './ports.js';
import { asSeenBy, toWireMessage, type Conversation, type StoredMessage, type WireMessage } from './types.js';

/** Activity types a client may send; the others are the hub's own announcements. */
const CUSTOMER_ACTIVITIES = new Set<ActivityType>(['typing']);
const STAFF_ACTIVITIES = new Set<ActivityType>(['typing', 'greetings', 'participantAdded', 'participantRemoved']);

/** What a message says, whoever sends it (socket client, connector, campaign). */
export interface MessageContent {
  /** The id to store the message under (a deferred messages.send keeps the one it announced); new otherwise. */
  id?: string | undefined;
  type: 'ChatMessage' | 'ActivityMessage';
  to: Participant[];
  tag: '' | 'whisper';
  metadata: Record<string, unknown>;
  clientMessageId?: string | undefined;
  text?: string | undefined;
  attachments?: Attachment[] | undefined;
  activityType?: ActivityType | undefined;
  info?: Record<string, unknown> | undefined;
}

/**
 * The connector that must carry a message (the outbox): set for a chat message from anyone but
 * the customer, readable by the customer, whose customer is reached through a connector.
 */
function owingConnector(conversation: Conversation, sender: Participant, content: MessageContent, audience: string[]): string | undefined {
  if (!conversation.connector || sender.role === 'customer' || content.type !== 'ChatMessage' || content.tag === 'whisper') return undefined;
  return audience.includes('*') || audience.includes(conversation.customer.id) ? conversation.connector : undefined;
}

/** Remembered sends (for quick clientMessageId retries): 16 MiB in all, 64 KiB for one. */
export const RECENT_SENDS_DEFAULTS: ByteLruOptions = { maxBytes: 16 * 1024 * 1024, maxEntryBytes: 64 * 1024 };

/** Accepts messages from joined participants, stores them in order, and relays them. */
export class MessageService {
  /** Recently accepted clientMessageIds, so a quick retry is answered without a database read. */
  private readonly recent: ByteLru<Promise<StoredMessage>>;

  constructor(
    private readonly cache: ConversationCache,
    private readonly writer: MessageWriter,
    private readonly realtime: RealtimePort,
    /** Where messages owed to a connector go once stored. */
    private readonly outbox?: { enqueue(message: StoredMessage): void },
    recentBounds: ByteLruOptions = RECENT_SENDS_DEFAULTS,
  ) {
    this.recent = new ByteLru(recentBounds);
  }

  /** Approximate bytes of the remembered sends, for the metrics. */
  get recentBytes(): number {
    return this.recent.bytes;
  }

  /** sendMessage: returns the stored message (or, for `typing`, the relayed one) as the sender may read it. */
  async send(membership: Membership | undefined, payload: SendMessagePayload, socketId: string): Promise<WireMessage> {
    if (!payload.conversationId) throw new HubError('BAD_REQUEST', 'conversationId is required');
    if (!membership) throw new HubError('FORBIDDEN', 'join the conversation (joinConversation) before sending to it');
    if (membership.expiresAt !== undefined && membership.expiresAt <= Date.now()) {
      throw new HubError('UNAUTHORIZED', 'token expired; reconnect and join again with a fresh token');
    }
    const sender = membership.participant;
    if (payload.from.id !== sender.id) {
      throw new HubError('FORBIDDEN', `from.id must be the participant this socket joined as (${sender.id})`);
    }
    if (payload.tag === 'whisper' && !membership.staff) throw new HubError('FORBIDDEN', 'only agents and system participants may whisper');
    if (payload.type === 'ActivityMessage') {
      const allowed = membership.staff ? STAFF_ACTIVITIES : CUSTOMER_ACTIVITIES;
      if (!allowed.has(payload.activityType)) {
        throw new HubError('FORBIDDEN', `activityType "${payload.activityType}" is announced by the hub, not sent by clients`);
      }
    }
    const conversation = await this.cache.get(payload.conversationId);
    if (!conversation) throw new HubError('NOT_FOUND', `conversation ${payload.conversationId} not found`);
    // A retried clientMessageId answers with the message as stored now, which may carry staff metadata.
    return asSeenBy(await this.post(conversation, sender, payload, socketId), membership.staff);
  }

  /**
   * Stores a message from `sender` in `conversation` and relays it to everyone it is visible
   * to (except `exceptSocketId`); a repeated clientMessageId returns the first message.
   */
  async post(conversation: Conversation, sender: Participant, content: MessageContent, exceptSocketId?: string): Promise<WireMessage> {
    if (conversation.status === 'ended') throw new HubError('CONVERSATION_ENDED', 'the conversation has ended');
    const id = content.id ?? randomUUID();
    const dedupKey = content.clientMessageId ? `${sender.id}:${content.clientMessageId}` : id;
    const audience = audienceOf(sender, content.to);
    const connector = owingConnector(conversation, sender, content, audience);
    const message: Omit<StoredMessage, 'seq'> = {
      id,
      conversationId: conversation.id,
      type: content.type,
      from: sender,
      to: content.to,
      audience,
      refId: customerRefId(conversation),
      tag: content.tag,
      channel: conversation.channel,
      state: connector ? 'PENDING' : 'DELIVERED',
      metadata: content.metadata,
      timestamp: new Date(),
      clientMessageId: content.clientMessageId,
      dedupKey,
      delivery: connector ? { connector, attempts: 0 } : undefined,
    };
    if (content.type === 'ChatMessage') {
      message.text = content.text ?? '';
      message.attachments = content.attachments ?? [];
    } else {
      message.activityType = content.activityType;
      message.info = content.info ?? {};
    }

    if (content.type === 'ActivityMessage' && content.activityType === 'typing') {
      // Relayed, never stored: no seq.
      const wire = toWireMessage({ ...message, seq: 0 });
      this.realtime.deliver(wire, message.audience, exceptSocketId);
      return wire;
    }

    const recentKey = `${conversation.id}:${dedupKey}`;
    const earlier = content.clientMessageId ? this.recent.get(recentKey) : undefined;
    if (earlier) return toWireMessage(await earlier);

    const stored = this.writer.write(message, (s) => {
      this.realtime.deliver(toWireMessage(s), s.audience, exceptSocketId);
      if (s.delivery) this.outbox?.enqueue(s);
    });
    if (content.clientMessageId) this.remember(recentKey, stored, approxBytes(message));
    return toWireMessage(await stored);
  }

  /** Keeps a send for quick retries; one too large is not kept (a retry then finds it by its dedupKey in the store). */
  private remember(key: string, stored: Promise<StoredMessage>, bytes: number): void {
    if (!this.recent.set(key, stored, bytes)) return;
    // A failed write must not answer later retries: let them try again.
    stored.catch(() => {
      if (this.recent.get(key) === stored) this.recent.delete(key);
    });
  }
}
