import type { Logger } from 'pino';
import type { Principal, ResumeGrant, TokenService } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { ChatPluginAuthenticateRequest, ChatPluginSendRequest } from '../contracts/seed-api.schemas.js';
import type { Participant } from '../contracts/schemas.js';
import type { ConversationCache } from './conversation-cache.js';
import { JOIN_HISTORY_MAX_BYTES, newestFitting, readNewestWithin } from './join-history.js';
import { customerParticipant } from './message-factory.js';
import type { MessageService } from './message.service.js';
import type { ChannelRecord, ChatMessageStore, ConversationStore } from './ports.js';
import type { RoutingService } from './routing.service.js';
import { seedMessageOf } from './seed-view.js';
import { forCustomer, type Conversation, type StoredMessage, type WireMessage } from './types.js';
import { CHAT_PLUGIN_SOURCE, type VisitorConversations } from './visitor-conversations.js';

/** Where channels are looked up (configured ones and those made by channels.connect). */
export interface ChannelDirectory {
  channel(id: string): Promise<ChannelRecord>;
}

/** The open /ws.chatplugin sockets of a conversation; implemented by the socket transport. */
export interface ChatPluginSessionsPort {
  /** The conversation's resume tokens were revoked: its visitor sockets (and every other socket holding one of its customer tokens) are closed. */
  revoked(conversationId: string): void;
}

export interface AuthenticateResult {
  token: string;
  conversation: Conversation;
  /** The visitor's history, oldest first (empty for a new conversation). */
  messages: StoredMessage[];
  /** Older messages exist that `messages` leaves out (messages.list pages them). */
  hasMore: boolean;
}

/** A chat plugin token's visitor, checked against the conversation as it is now. */
export interface Visitor {
  conversation: Conversation;
  participant: Participant;
}

/**
 * The chat plugin (seeds 000/001): anonymous visitors get a conversation from a channel id, come
 * back to it with a long-lived resume token, and write with a short-lived chat plugin token.
 */
export class ChatPluginService {
  /** Conversations opened (channel_id) and resumed (resume_token) by chatplugin.authenticate, and revocations. */
  readonly stats = { opened: 0, resumed: 0, revoked: 0 };

  constructor(
    private readonly channels: ChannelDirectory,
    private readonly visitors: VisitorConversations,
    private readonly store: ConversationStore,
    private readonly cache: ConversationCache,
    private readonly chat: ChatMessageStore,
    private readonly messages: MessageService,
    private readonly routing: RoutingService,
    private readonly tokens: TokenService,
    private readonly sessions: ChatPluginSessionsPort,
    private readonly historyLimit: number,
    private readonly log: Logger,
    /** Bytes of JSON the resumed history carries at most (the newest message always). */
    private readonly historyMaxBytes: number = JOIN_HISTORY_MAX_BYTES,
  ) {}

  /** POST /chatplugin.authenticate: a new conversation in a chat plugin channel, or the one a resume token names (history as the visitor may read it). */
  async authenticate(request: ChatPluginAuthenticateRequest): Promise<AuthenticateResult> {
    if (request.channel_id !== undefined) {
      const channel = await this.chatPluginChannel(request.channel_id);
      const conversation = await this.visitors.open(channel, {});
      this.stats.opened += 1;
      return { token: this.tokenFor(conversation), conversation, messages: [], hasMore: false };
    }
    const grant = this.tokens.verifyResumeToken(request.resume_token ?? '');
    const conversation = await this.granted(grant);
    if (grant.epoch < (conversation.resumeEpoch ?? 0)) throw new HubError('UNAUTHORIZED', 'resume token revoked');
    this.cache.put(conversation);
    // The latest historyLimit chat messages within historyMaxBytes of JSON (the newest always), read
    // no further than that budget: older ones are paged with messages.list.
    const viewer = { id: conversation.customer.id, staff: false };
    const size = (m: StoredMessage): number => Buffer.byteLength(JSON.stringify(seedMessageOf(forCustomer(m)))) + 1;
    const latest = await readNewestWithin(
      (beforeSeq, limit) => this.chat.chatMessages(conversation.id, viewer, { beforeSeq: beforeSeq ?? Number.MAX_SAFE_INTEGER }, limit),
      this.historyLimit + 1,
      this.historyMaxBytes,
      size,
    );
    const shown = newestFitting(latest.slice(-this.historyLimit), this.historyMaxBytes, size).kept;
    const messages = shown.map(forCustomer);
    const hasMore = latest.length > shown.length;
    this.stats.resumed += 1;
    this.log.info({ conversationId: conversation.id, channelId: grant.channelId }, 'chat plugin conversation resumed');
    return { token: this.tokenFor(conversation), conversation, messages, hasMore };
  }

  /** POST /chatplugin.resumeToken: for the visitor's own conversation, or (system token) any chat plugin conversation of a channel. */
  async resumeToken(principal: Principal, body: { channel_id?: string | undefined; conversation_id?: string | undefined }): Promise<string> {
    if (principal.kind === 'customer') return this.resumeTokenFor((await this.visitor(principal)).conversation);
    if (principal.kind !== 'system') throw new HubError('FORBIDDEN', 'chatplugin.resumeToken needs the chat plugin token or the system token');
    const missing = (['channel_id', 'conversation_id'] as const).filter((f) => body[f] === undefined);
    if (missing.length > 0) {
      throw new HubError('BAD_REQUEST', `with the system token, chatplugin.resumeToken needs ${missing.join(' and ')}`, missing.map((field) => ({ field, message: 'is required' })));
    }
    const conversation = await this.inChannel(body.conversation_id ?? '', body.channel_id ?? '');
    return this.resumeTokenFor(conversation);
  }

  /** A resume token for a chat plugin conversation, valid until it expires or the conversation's tokens are revoked. */
  resumeTokenFor(conversation: Conversation): string {
    if (conversation.channel !== CHAT_PLUGIN_SOURCE || !conversation.channelId) {
      throw new HubError('BAD_REQUEST', `conversation ${conversation.id} is not a chat plugin conversation`);
    }
    return this.tokens.issueResumeToken({
      participantId: conversation.customer.id,
      conversationId: conversation.id,
      channelId: conversation.channelId,
      epoch: conversation.resumeEpoch ?? 0,
    });
  }

  /**
   * POST /chatplugin.revokeResumeToken (extension): every resume and chat plugin token of the
   * conversation stops, and its visitor sockets close. By the system token (any conversation),
   * the visitor's chat plugin token, or the resume token itself ("log out on this device").
   */
  async revoke(principal: Principal | undefined, body: { conversation_id?: string | undefined; resume_token?: string | undefined }): Promise<Conversation> {
    let conversationId: string;
    if (principal?.kind === 'system') {
      if (!body.conversation_id) throw new HubError('BAD_REQUEST', 'with the system token, send conversation_id', [{ field: 'conversation_id', message: 'is required' }]);
      conversationId = body.conversation_id;
    } else if (principal?.kind === 'customer') {
      conversationId = (await this.visitor(principal)).conversation.id;
    } else if (principal) {
      throw new HubError('FORBIDDEN', 'chatplugin.revokeResumeToken needs the system token, the chat plugin token or a resume token');
    } else if (body.resume_token) {
      // A revoked resume token is dead for everything, revoking again included: otherwise
      // whoever kept a copy could keep logging the visitor out of every new session.
      const grant = this.tokens.verifyResumeToken(body.resume_token);
      const conversation = await this.granted(grant);
      if (grant.epoch < (conversation.resumeEpoch ?? 0)) throw new HubError('UNAUTHORIZED', 'resume token revoked');
      conversationId = conversation.id;
    } else {
      throw new HubError('UNAUTHORIZED', 'send Authorization: Bearer <token>, or the resume_token to revoke');
    }
    const revoked = await this.store.revokeResume(conversationId);
    if (!revoked) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    this.cache.put(revoked);
    this.sessions.revoked(conversationId);
    this.stats.revoked += 1;
    this.log.info({ conversationId }, 'resume tokens revoked');
    return revoked;
  }

  /** POST /chatplugin.send: the visitor's message, stored and relayed like any customer's. */
  async send(principal: Principal, request: ChatPluginSendRequest, idempotencyKey: string | undefined): Promise<WireMessage> {
    const { conversation, participant } = await this.visitor(principal);
    const message = await this.messages.post(conversation, participant, {
      type: 'ChatMessage',
      to: [],
      tag: '',
      text: request.message.text,
      attachments: request.message.attachments,
      metadata: request.message.metadata,
      clientMessageId: idempotencyKey,
    });
    // The answer does not wait for the queue: the message is stored either way.
    void this.routing.customerWrote(conversation);
    return forCustomer(message);
  }

  /** The visitor a chat plugin token names; UNAUTHORIZED once revoked, FORBIDDEN for other credentials. */
  async visitor(principal: Principal): Promise<Visitor> {
    if (principal.kind !== 'customer' || principal.channelId === undefined) {
      throw new HubError('FORBIDDEN', 'this needs a chat plugin token (from POST /chatplugin.authenticate)');
    }
    const conversation = await this.cache.get(principal.conversationId);
    if (!conversation) throw new HubError('NOT_FOUND', `conversation ${principal.conversationId} not found`);
    if ((principal.epoch ?? 0) < (conversation.resumeEpoch ?? 0)) throw new HubError('UNAUTHORIZED', 'token revoked; authenticate again');
    if (conversation.customer.id !== principal.participantId) throw new HubError('FORBIDDEN', 'this token does not name the visitor of this conversation');
    return { conversation, participant: customerParticipant(conversation) };
  }

  /** The conversation a verified resume token names, read from the database (a revocation by another process counts at once). */
  private async granted(grant: ResumeGrant): Promise<Conversation> {
    const conversation = await this.store.findById(grant.conversationId);
    if (!conversation || conversation.channelId !== grant.channelId || conversation.customer.id !== grant.participantId) {
      throw new HubError('UNAUTHORIZED', 'the resume token names no conversation of this hub');
    }
    return conversation;
  }

  private tokenFor(conversation: Conversation): string {
    const participant = customerParticipant(conversation);
    return this.tokens.issueChatPluginToken({
      participantId: participant.id,
      conversationId: conversation.id,
      channelId: conversation.channelId ?? '',
      name: participant.name,
      epoch: conversation.resumeEpoch ?? 0,
    });
  }

  private async chatPluginChannel(id: string): Promise<ChannelRecord> {
    const channel = await this.channels.channel(id);
    if (channel.source !== CHAT_PLUGIN_SOURCE) {
      throw new HubError('BAD_REQUEST', `channel ${id} has source "${channel.source}", not "${CHAT_PLUGIN_SOURCE}"`, [{ field: 'channel_id', message: 'is not a chat plugin channel' }]);
    }
    return channel;
  }

  private async inChannel(conversationId: string, channelId: string): Promise<Conversation> {
    const conversation = await this.store.findById(conversationId);
    if (!conversation || conversation.channelId !== channelId) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found in channel ${channelId}`);
    return conversation;
  }
}
