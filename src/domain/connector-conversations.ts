import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ConversationCache } from './conversation-cache.js';
import type { HistoryCache } from './history-cache.js';
import type { ConversationStore } from './ports.js';
import { notYetRouted, type Conversation } from './types.js';
import { ByteLru } from './byte-lru.js';

/** Who a connector or campaign is talking to, for a conversation it opens. */
export interface ChannelCustomer {
  refId: string;
  name?: string | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
  email?: string | undefined;
  phone?: string | undefined;
  language?: string | undefined;
  channelId?: string | undefined;
}

/** Open conversations remembered by customer and connector: 8 MiB of keys (refIds are up to 200 characters). */
const OPEN_IDS_BOUNDS = { maxBytes: 8 * 1024 * 1024, maxEntryBytes: 4096 };

/**
 * Conversations that connectors and campaigns open: one open conversation per customer
 * (refId) and connector, found again for every later message, also across processes.
 */
export class ConnectorConversations {
  /** openKey → id of the customer's open conversation on a connector channel. */
  private readonly openIds = new ByteLru<string>(OPEN_IDS_BOUNDS);
  private readonly opening = new Map<string, Promise<{ conversation: Conversation; created: boolean }>>();

  constructor(
    private readonly store: ConversationStore,
    private readonly cache: ConversationCache,
    private readonly history: HistoryCache,
    private readonly log: Logger,
  ) {}

  /**
   * The customer's open conversation on a connector's channel, or a new one (inbound messages,
   * campaigns). One per customer and connector, also across processes (a unique openKey).
   */
  async open(connector: string, who: ChannelCustomer): Promise<{ conversation: Conversation; created: boolean }> {
    const openKey = `${connector}:${who.refId}`;
    const known = this.openIds.touch(openKey);
    if (known) {
      const cached = await this.cache.get(known);
      if (cached && cached.status !== 'ended') return { conversation: cached, created: false };
      this.openIds.delete(openKey);
    }
    let opening = this.opening.get(openKey);
    if (!opening) {
      opening = this.openNew(connector, openKey, who).finally(() => this.opening.delete(openKey));
      this.opening.set(openKey, opening);
    }
    const result = await opening;
    this.rememberOpen(openKey, result.conversation.id);
    return result;
  }

  private async openNew(connector: string, openKey: string, who: ChannelCustomer): Promise<{ conversation: Conversation; created: boolean }> {
    const existing = await this.store.findOpen(openKey);
    if (existing) {
      this.cache.put(existing);
      return { conversation: existing, created: false };
    }
    const customerId = randomUUID();
    const name = who.name || [who.firstName, who.lastName].filter(Boolean).join(' ') || who.refId;
    const id = randomUUID();
    const conversation: Conversation = {
      id,
      channel: connector,
      status: 'queued',
      subject: '',
      customer: {
        id: customerId,
        firstName: who.firstName || name,
        lastName: who.lastName,
        email: who.email,
        phone: who.phone ?? (connector === 'sms' ? who.refId : undefined),
        refId: who.refId,
        language: who.language,
        custom: {},
      },
      participants: [{ id: customerId, name, role: 'customer' }],
      joined: [customerId],
      requestId: `open:${id}`,
      connector,
      channelId: who.channelId,
      openKey,
      createdAt: new Date(),
      // Waits for an agent once the customer writes (a campaign's conversation may never need one).
      ...notYetRouted(),
    };
    const result = await this.store.createOpen(conversation);
    this.cache.put(result.conversation);
    if (result.created) {
      this.history.track(result.conversation.id);
      this.log.info({ conversationId: id, channel: connector }, 'conversation opened by a connector');
    }
    return result;
  }

  private rememberOpen(openKey: string, conversationId: string): void {
    this.openIds.set(openKey, conversationId, 2 * conversationId.length);
  }
}
