import { randomUUID } from 'node:crypto';
import { HubError } from '../contracts/errors.js';
import type { ActivityType, SendMessagePayload } from '../contracts/schemas.js';
import type { ConversationCache } from './conversation-cache.js';
import type { Membership } from './conversation.service.js';
import { audienceOf, customerRefId } from './message-factory.js';
import type { MessageWriter } from './message-writer.js';
import type { RealtimePort } from './ports.js';
import { toWireMessage, type Conversation, type MessageState, type StoredMessage, type WireMessage } from './types.js';

/** Activity types a client may send; the others are the hub's own announcements. */
const CUSTOMER_ACTIVITIES = new Set<ActivityType>(['typing']);
const STAFF_ACTIVITIES = new Set<ActivityType>(['typing', 'greetings', 'participantAdded', 'participantRemoved']);

/** Channels reached through a connector rather than the hub's own sockets. */
const CONNECTOR_CHANNELS = new Set(['sms', 'fb', 'twitter']);

/**
 * Delivery state at creation: a message to a customer behind a connector waits for the
 * connector's ack (PENDING); everything the hub delivers itself is DELIVERED on store.
 */
function initialState(conversation: Conversation, from: Membership): MessageState {
  return CONNECTOR_CHANNELS.has(conversation.channel) && from.participant.role !== 'customer' ? 'PENDING' : 'DELIVERED';
}

/** Accepts messages from joined participants, stores them in order, and relays them. */
export class MessageService {
  /** Recently accepted clientMessageIds, so a quick retry is answered without a database read. */
  private readonly recent = new Map<string, Promise<StoredMessage>>();

  constructor(
    private readonly cache: ConversationCache,
    private readonly writer: MessageWriter,
    private readonly realtime: RealtimePort,
    private readonly maxRecent = 20_000,
  ) {}

  /** sendMessage: returns the stored message (or, for `typing`, the relayed one). */
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
    if (conversation.status === 'ended') throw new HubError('CONVERSATION_ENDED', 'the conversation has ended');

    const id = randomUUID();
    const dedupKey = payload.clientMessageId ? `${sender.id}:${payload.clientMessageId}` : id;
    const message: Omit<StoredMessage, 'seq'> = {
      id,
      conversationId: conversation.id,
      type: payload.type,
      from: sender,
      to: payload.to,
      audience: audienceOf(sender, payload.to),
      refId: customerRefId(conversation),
      tag: payload.tag,
      channel: conversation.channel,
      state: initialState(conversation, membership),
      metadata: payload.metadata,
      timestamp: new Date(),
      clientMessageId: payload.clientMessageId,
      dedupKey,
    };
    if (payload.type === 'ChatMessage') {
      message.text = payload.text;
      message.attachments = payload.attachments;
    } else {
      message.activityType = payload.activityType;
      message.info = payload.info;
    }

    if (payload.type === 'ActivityMessage' && payload.activityType === 'typing') {
      // Relayed, never stored: no seq.
      const wire = toWireMessage({ ...message, seq: 0 });
      this.realtime.deliver(wire, message.audience, socketId);
      return wire;
    }

    const recentKey = `${conversation.id}:${dedupKey}`;
    const earlier = payload.clientMessageId ? this.recent.get(recentKey) : undefined;
    if (earlier) return toWireMessage(await earlier);

    const stored = this.writer.write(message, (s) => this.realtime.deliver(toWireMessage(s), s.audience, socketId));
    if (payload.clientMessageId) this.remember(recentKey, stored);
    return toWireMessage(await stored);
  }

  private remember(key: string, stored: Promise<StoredMessage>): void {
    if (this.recent.size >= this.maxRecent) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    this.recent.set(key, stored);
    // A failed write must not answer later retries: let them try again.
    stored.catch(() => this.recent.delete(key));
  }
}
