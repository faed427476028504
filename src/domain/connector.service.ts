import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { matchesDigest, secretDigest } from '../auth/secret-digest.js';
import { HubError } from '../contracts/errors.js';
import type {
  CampaignSendRequest,
  ConnectorInboundPayload,
  MessageStatusPayload,
  RegisterConnectorPayload,
} from '../contracts/schemas.js';
import type { ConnectorConversations } from './connector-conversations.js';
import type { ConversationService } from './conversation.service.js';
import { customerParticipant, SYSTEM_PARTICIPANT } from './message-factory.js';
import type { MessageService } from './message.service.js';
import type { OutboxService } from './outbox.service.js';
import type { RoutingService } from './routing.service.js';
import type { ChannelRecord, ChannelStore, OutboxStore } from './ports.js';
import { forCustomer, toWireMessage, type Conversation, type MessageState, type WireMessage } from './types.js';

export interface ConnectorInfo {
  id: string;
  name: string;
  channel: string;
}

/** Connectors (§5) and the campaign path of §6: registration, inbound, delivery reports, campaigns, resend. */
export class ConnectorService {
  private readonly keyDigests: Map<string, Buffer>;
  private readonly configuredChannels: Map<string, ChannelRecord>;

  constructor(
    keys: Record<string, string>,
    channels: ChannelRecord[],
    private readonly conversations: ConversationService,
    private readonly opener: ConnectorConversations,
    private readonly messages: MessageService,
    private readonly outbox: OutboxService,
    private readonly outboxStore: OutboxStore,
    private readonly channelStore: ChannelStore,
    private readonly routing: RoutingService,
    private readonly log: Logger,
  ) {
    this.keyDigests = new Map(Object.entries(keys).map(([id, key]) => [id, secretDigest(key)]));
    this.configuredChannels = new Map(channels.map((c) => [c.id, c]));
  }

  /** registerConnector: checks the id and key (payload or handshake); UNAUTHORIZED when they do not match. */
  authenticate(payload: RegisterConnectorPayload, handshakeKey: string | undefined): ConnectorInfo {
    if (payload.id !== payload.channel) throw new HubError('BAD_REQUEST', `id must equal channel (got id "${payload.id}", channel "${payload.channel}")`);
    const key = payload.key ?? handshakeKey;
    if (!key) throw new HubError('UNAUTHORIZED', 'a connector key is required: send it as "key" or in the handshake auth.connectorKey');
    const expected = this.keyDigests.get(payload.id);
    // Compare digests in constant time; an unknown id is refused the same way as a wrong key.
    const matches = expected !== undefined && matchesDigest(key, expected);
    if (!matches) throw new HubError('UNAUTHORIZED', `the key does not match connector "${payload.id}" (see CONNECTOR_KEYS)`);
    return { id: payload.id, name: payload.name, channel: payload.channel };
  }

  /** A customer's message relayed by connector `connector`: into their open conversation, or a new one. */
  async receive(connector: string, payload: ConnectorInboundPayload): Promise<{ conversationId: string; message: WireMessage }> {
    if (payload.channel !== connector) {
      throw new HubError('BAD_REQUEST', `channel must be this connector's channel "${connector}"`, [
        { field: 'channel', message: `must be "${connector}"` },
      ]);
    }
    const who = { refId: payload.refId, name: payload.from?.name, ...payload.customer };
    for (let attempt = 0; ; attempt += 1) {
      const { conversation } = await this.opener.open(connector, who);
      try {
        const message = await this.messages.post(conversation, customerParticipant(conversation), {
          type: 'ChatMessage',
          to: [],
          tag: '',
          text: payload.text,
          attachments: payload.attachments,
          metadata: payload.metadata,
          clientMessageId: payload.clientMessageId,
        });
        await this.routing.customerWrote(conversation);
        // A retried clientMessageId answers with the message as stored now: the customer's side reads no staff metadata.
        return { conversationId: conversation.id, message: forCustomer(message) };
      } catch (err) {
        // Ended between lookup and store: the next message opens a new conversation.
        if (!(err instanceof HubError && err.code === 'CONVERSATION_ENDED') || attempt > 0) throw err;
      }
    }
  }

  /** messageStatus: a provider's later delivery report, from the connector that carried the message. */
  async report(connector: string, payload: MessageStatusPayload): Promise<WireMessage> {
    const message = await this.outboxStore.findById(payload.messageId);
    if (!message) throw new HubError('NOT_FOUND', `message ${payload.messageId} not found`);
    const conversation = await this.conversations.get(message.conversationId);
    if (conversation.connector !== connector) throw new HubError('FORBIDDEN', `message ${message.id} is not carried by connector "${connector}"`);
    const from: MessageState[] = payload.state === 'DELIVERED' ? ['PENDING'] : ['PENDING', 'DELIVERED'];
    const metadata: Record<string, string | null> = {
      error: payload.state === 'FAILED' ? (payload.error?.message ?? 'the provider reported a failed delivery') : null,
    };
    if (payload.externalId) metadata['externalId'] = payload.externalId;
    const updated = await this.outboxStore.transition({ id: message.id, state: payload.state, metadata, delivery: null }, from);
    // A repeated or late report changes nothing: answer with the message as it is.
    if (!updated) return toWireMessage(message);
    this.outbox.announce(updated);
    this.log.info({ connector, messageId: message.id, state: payload.state }, 'delivery report applied');
    return toWireMessage(updated);
  }

  /** POST /channels.connect: a channel that campaigns can send through. */
  async connectChannel(source: string, name: string): Promise<ChannelRecord> {
    return this.channelStore.connect({ id: randomUUID(), source, name });
  }

  async channel(id: string): Promise<ChannelRecord> {
    const channel = this.configuredChannels.get(id) ?? (await this.channelStore.findById(id));
    if (!channel) throw new HubError('NOT_FOUND', `channel ${id} not found; create it with POST /channels.connect`);
    return channel;
  }

  /** POST /messages.send with source_recipient_id: starts (or continues) the conversation and sends through the connector. */
  async campaign(request: CampaignSendRequest, idempotencyKey: string | undefined): Promise<{ conversation: Conversation; message: WireMessage }> {
    const channel = await this.channel(request.channel_id);
    const { conversation } = await this.opener.open(channel.source, {
      refId: request.source_recipient_id,
      channelId: channel.id,
    });
    const message = await this.postAsSystem(conversation, request.message, idempotencyKey);
    return { conversation, message };
  }

  /** POST /messages.send with conversation_id: a system message to a known conversation. */
  async sendTo(conversationId: string, content: CampaignSendRequest['message'], idempotencyKey: string | undefined, id?: string): Promise<{ conversation: Conversation; message: WireMessage }> {
    const conversation = await this.conversations.get(conversationId);
    return { conversation, message: await this.postAsSystem(conversation, content, idempotencyKey, id) };
  }

  /** POST /messages.resend: a FAILED message goes back to PENDING and to its connector. */
  async resend(messageId: string): Promise<WireMessage> {
    const message = await this.outboxStore.findById(messageId);
    if (!message) throw new HubError('NOT_FOUND', `message ${messageId} not found`);
    if (message.state !== 'FAILED') throw new HubError('CONFLICT', 'Message is not in a failed state');
    const conversation = await this.conversations.get(message.conversationId);
    if (!conversation.connector) throw new HubError('CONFLICT', 'Message is not carried by a connector');
    const updated = await this.outboxStore.transition(
      { id: messageId, state: 'PENDING', metadata: { error: null }, delivery: { connector: conversation.connector, attempts: 0 } },
      ['FAILED'],
    );
    if (!updated) throw new HubError('CONFLICT', 'Message is not in a failed state');
    this.outbox.announce(updated);
    this.outbox.enqueue(updated);
    this.log.info({ messageId, connector: conversation.connector }, 'message queued again for delivery');
    return toWireMessage(updated);
  }

  private postAsSystem(conversation: Conversation, content: CampaignSendRequest['message'], idempotencyKey: string | undefined, id?: string): Promise<WireMessage> {
    return this.messages.post(conversation, SYSTEM_PARTICIPANT, {
      id,
      type: 'ChatMessage',
      to: [],
      tag: '',
      text: content.text,
      attachments: content.attachments,
      metadata: content.metadata,
      clientMessageId: idempotencyKey,
    });
  }
}
