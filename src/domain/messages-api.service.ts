import type { Principal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { MessagesListRequest, SuggestRepliesRequest } from '../contracts/seed-api.schemas.js';
import type { ChatPluginService } from './chat-plugin.service.js';
import type { ConversationCache } from './conversation-cache.js';
import { decodeCursor, encodeCursor, invalidCursor } from './cursor.js';
import type { HistoryCache } from './history-cache.js';
import type { ChatMessageStore, ChatViewer, OutboxStore, RealtimePort, SeqRange } from './ports.js';
import { seedMessageOf, type SeedMessage } from './seed-view.js';
import { asSeenBy, toWireMessage, type Conversation, type StoredMessage, type WireMessage } from './types.js';
import { messageEventPayload } from './webhook-payloads.js';
import type { WebhookPort } from './webhook.ports.js';

/** A messages.list page in the seed's shape (seed 002). */
export interface MessagePage {
  data: SeedMessage[];
  pagination_data: { previous_cursor: string | null; next_cursor: string | null; total: number };
}

/** Where a cursor points: after or before one seq of one conversation ('a' | 'b'). */
function rangeOf(cursor: string | undefined, conversationId: string): { range: SeqRange; fromCursor: boolean } {
  if (cursor === undefined) return { range: { afterSeq: 0 }, fromCursor: false };
  const [cid, direction, seq] = decodeCursor('m', cursor);
  // A cursor of another conversation would page through the wrong messages.
  if (cid !== conversationId || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw invalidCursor();
  if (direction === 'a') return { range: { afterSeq: seq }, fromCursor: true };
  if (direction === 'b') return { range: { beforeSeq: seq }, fromCursor: true };
  throw invalidCursor();
}

/**
 * The seed messages API over the same stored messages (seed 002): keyset pages by seq, so a page
 * never shifts while new messages arrive, and reply suggestions kept in a message's metadata.
 */
export class MessagesApiService {
  constructor(
    private readonly cache: ConversationCache,
    private readonly chat: ChatMessageStore,
    private readonly messages: OutboxStore,
    private readonly chatPlugin: ChatPluginService,
    private readonly history: HistoryCache,
    private readonly realtime: RealtimePort,
    private readonly webhooks: WebhookPort,
  ) {}

  /** POST /messages.list: chat messages oldest first, as the caller may read them. */
  async list(principal: Principal, request: MessagesListRequest): Promise<MessagePage> {
    const { conversation, viewer } = await this.viewerOf(principal, request.conversation_id);
    const { range, fromCursor } = rangeOf(request.cursor, conversation.id);
    const size = request.page_size;
    const [items, total] = await Promise.all([
      this.chat.chatMessages(conversation.id, viewer, range, size + 1),
      this.chat.countChatMessages(conversation.id, viewer),
    ]);
    let page: StoredMessage[];
    let previous: string | null;
    let next: string | null;
    if ('afterSeq' in range) {
      page = items.slice(0, size);
      const more = items.length > size;
      const last = page[page.length - 1];
      next = more && last ? encodeCursor('m', [conversation.id, 'a', last.seq]) : null;
      // A cursor came from a page that had messages up to it: those lie before.
      const first = page[0];
      previous = !fromCursor ? null : encodeCursor('m', [conversation.id, 'b', first ? first.seq : range.afterSeq + 1]);
    } else {
      const more = items.length > size;
      page = more ? items.slice(items.length - size) : items;
      const first = page[0];
      previous = more && first ? encodeCursor('m', [conversation.id, 'b', first.seq]) : null;
      // The message the cursor was made from (and anything newer) lies after.
      const last = page[page.length - 1];
      next = encodeCursor('m', [conversation.id, 'a', last ? last.seq : range.beforeSeq - 1]);
    }
    return {
      // Customers read no staff metadata (reply suggestions, delivery errors); staff and the system read all.
      data: page.map((m) => seedMessageOf(asSeenBy(m, viewer === 'all' || viewer.staff))),
      pagination_data: { previous_cursor: previous, next_cursor: next, total },
    };
  }

  /** POST /messages.suggest-replies: replaces the message's suggested replies (metadata.suggestions). */
  async suggestReplies(principal: Principal, request: SuggestRepliesRequest): Promise<WireMessage> {
    if (principal.kind !== 'system' && principal.kind !== 'agent') throw new HubError('FORBIDDEN', 'messages.suggest-replies needs an agent token or the system token');
    const message = await this.messages.findById(request.message_id);
    if (!message || message.type !== 'ChatMessage') throw new HubError('NOT_FOUND', `message ${request.message_id} not found`);
    const updated = await this.chat.setMetadata(message.id, 'suggestions', request.suggestions);
    if (!updated) throw new HubError('NOT_FOUND', `message ${request.message_id} not found`);
    this.history.update(updated);
    const wire = toWireMessage(updated);
    // Agents' screens show the suggestions; customers never see them (messageUpdated goes to staff only).
    this.realtime.updated(wire);
    const conversation = await this.cache.get(updated.conversationId);
    this.webhooks.emit('message.updated', messageEventPayload(updated, conversation ?? undefined));
    return wire;
  }

  /** Who reads, and how much: the system everything, agents what staff see, a customer their own conversation. */
  private async viewerOf(principal: Principal, conversationId: string): Promise<{ conversation: Conversation; viewer: ChatViewer }> {
    if (principal.kind === 'customer') {
      if (principal.conversationId !== conversationId) throw new HubError('FORBIDDEN', 'this token belongs to another conversation');
      if (principal.channelId !== undefined) {
        const { conversation, participant } = await this.chatPlugin.visitor(principal);
        return { conversation, viewer: { id: participant.id, staff: false } };
      }
    }
    const conversation = await this.cache.get(conversationId);
    if (!conversation) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    if (principal.kind === 'system') return { conversation, viewer: 'all' };
    if (principal.kind === 'agent') return { conversation, viewer: { id: principal.agentId, staff: true } };
    return { conversation, viewer: { id: principal.participantId, staff: false } };
  }
}
