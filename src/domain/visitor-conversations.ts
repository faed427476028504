import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ConversationCache } from './conversation-cache.js';
import type { HistoryCache } from './history-cache.js';
import type { ChannelRecord, ContactRecord, ConversationStore } from './ports.js';
import { notYetRouted, type Conversation } from './types.js';

/** The chat plugin's source: a channel of it needs no connector, its visitors talk to the hub directly. */
export const CHAT_PLUGIN_SOURCE = 'chat_plugin';

/** Whom a chat plugin conversation is with: an anonymous visitor, or a contact a website backend identified. */
export interface VisitorIdentity {
  contact?: ContactRecord | undefined;
}

function nameOf(contact: ContactRecord | undefined): string {
  const meta = contact?.metadata ?? {};
  for (const key of ['name', 'first_name', 'firstName']) {
    const value = meta[key];
    if (typeof value === 'string' && value.trim()) return value.trim().slice(0, 200);
  }
  return contact?.email ?? 'Visitor';
}

/**
 * Opens chat plugin conversations: a fresh one per anonymous visitor, one open conversation per
 * contact and channel (a unique openKey, so concurrent identifies across processes agree).
 */
export class VisitorConversations {
  constructor(
    private readonly store: ConversationStore,
    private readonly cache: ConversationCache,
    private readonly history: HistoryCache,
    private readonly log: Logger,
  ) {}

  async open(channel: ChannelRecord, visitor: VisitorIdentity): Promise<Conversation> {
    const { contact } = visitor;
    const id = randomUUID();
    const customerId = randomUUID();
    const name = nameOf(contact);
    const conversation: Conversation = {
      id,
      channel: channel.source,
      status: 'queued',
      subject: '',
      customer: {
        id: customerId,
        firstName: name,
        email: contact?.email ?? undefined,
        phone: contact?.phoneNumber ?? undefined,
        refId: contact ? (contact.externalId ?? contact.email ?? contact.phoneNumber ?? contact.id) : customerId,
        custom: {},
      },
      participants: [{ id: customerId, name, role: 'customer' }],
      // The visitor is in from the start; agents are announced when they join.
      joined: [customerId],
      requestId: `chatplugin:${id}`,
      // contacts.identify (a website backend with the system token) vouches for the contact's address.
      trustedEmail: contact?.email ?? undefined,
      channelId: channel.id,
      contactId: contact?.id,
      openKey: contact ? `contact:${contact.id}:${channel.id}` : id,
      createdAt: new Date(),
      // Waits for an agent once the visitor writes: a page view alone must not reach agents.
      ...notYetRouted(),
      resumeEpoch: 0,
    };
    const result = await this.store.createOpen(conversation);
    this.cache.put(result.conversation);
    if (result.created) {
      this.history.track(id);
      this.log.info({ conversationId: id, channelId: channel.id, contact: Boolean(contact) }, 'chat plugin conversation opened');
    }
    return result.conversation;
  }

  /** The contact's open conversation in `channel`, or a new one. */
  async forContact(channel: ChannelRecord, contact: ContactRecord): Promise<Conversation> {
    const open = await this.store.findOpen(`contact:${contact.id}:${channel.id}`);
    if (open) return open;
    return this.open(channel, { contact });
  }
}
