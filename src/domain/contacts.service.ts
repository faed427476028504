import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { HubError, type FieldIssue } from '../contracts/errors.js';
import type { ContactsIdentifyRequest } from '../contracts/seed-api.schemas.js';
import type { ChannelDirectory, ChatPluginService } from './chat-plugin.service.js';
import type { ChatMessageStore, ContactIdentifiers, ContactRecord, ContactStore, ConversationStore } from './ports.js';
import { seedMessageOf, type SeedMessage } from './seed-view.js';
import { channelIdOf, forCustomer, type Conversation } from './types.js';
import { CHAT_PLUGIN_SOURCE, type VisitorConversations } from './visitor-conversations.js';

/** A contact on the wire (snake_case, like the seeds). */
export interface ContactView {
  id: string;
  external_id: string | null;
  email: string | null;
  phone_number: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface ContactConversationView {
  id: string;
  channel: { id: string; source: string };
  /** Extension: queued, active or ended. */
  status: Conversation['status'];
  /** Null for conversations the chat plugin cannot resume (SMS, Facebook, …). */
  resume_token: string | null;
  last_message: SeedMessage | null;
}

export interface IdentifyResult {
  contact: ContactView;
  conversations: ContactConversationView[];
}

const IDENTIFIERS = [
  ['externalId', 'external_id'],
  ['email', 'email'],
  ['phoneNumber', 'phone_number'],
] as const;

/** The most conversations identify lists (newest first). */
const MAX_LISTED = 50;

function toView(c: ContactRecord): ContactView {
  return {
    id: c.id,
    external_id: c.externalId,
    email: c.email,
    phone_number: c.phoneNumber,
    metadata: c.metadata,
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}

/** Identifiers as stored: e-mail addresses compare case-insensitively, phone numbers by their digits. */
export function normalizeIdentifiers(request: ContactsIdentifyRequest): ContactIdentifiers {
  return {
    externalId: request.external_id,
    email: request.email?.trim().toLowerCase(),
    phoneNumber: request.phone_number === undefined ? undefined : request.phone_number.replace(/(?!^\+)[^0-9]/g, ''),
  };
}

/**
 * contacts.identify (seed 004): one contact per identity, found by external_id, then email, then
 * phone number; identifiers owned by different contacts are a conflict, never a silent merge.
 */
export class ContactsService {
  /** identify outcomes: a new contact, a known one, a 409. */
  readonly stats = { created: 0, found: 0, conflicts: 0 };

  constructor(
    private readonly contacts: ContactStore,
    private readonly channels: ChannelDirectory,
    private readonly visitors: VisitorConversations,
    private readonly conversations: ConversationStore,
    private readonly chat: ChatMessageStore,
    private readonly chatPlugin: ChatPluginService,
    private readonly log: Logger,
  ) {}

  /** Finds or creates the contact, makes sure it has an open conversation in the channel, and lists its conversations. */
  async identify(request: ContactsIdentifyRequest): Promise<IdentifyResult> {
    const channel = await this.channels.channel(request.channel_id);
    if (channel.source !== CHAT_PLUGIN_SOURCE) {
      throw new HubError('BAD_REQUEST', `channel ${channel.id} has source "${channel.source}"; contacts.identify opens chat plugin conversations`, [
        { field: 'channel_id', message: 'is not a chat plugin channel' },
      ]);
    }
    const ids = normalizeIdentifiers(request);
    let found: { contact: ContactRecord; created: boolean };
    try {
      found = await this.findOrCreate(ids, request.metadata);
    } catch (err) {
      if (err instanceof HubError && err.code === 'CONFLICT') this.stats.conflicts += 1;
      throw err;
    }
    const { contact } = found;
    if (found.created) this.stats.created += 1;
    else this.stats.found += 1;
    await this.visitors.forContact(channel, contact);
    const conversations = await this.conversations.byContact(contact.id, MAX_LISTED);
    return { contact: toView(contact), conversations: await Promise.all(conversations.map((c) => this.conversationView(c))) };
  }

  /** One retry covers a concurrent identify that took an identifier between our read and our write. */
  private async findOrCreate(ids: ContactIdentifiers, metadata: Record<string, unknown> | undefined): Promise<{ contact: ContactRecord; created: boolean }> {
    for (let attempt = 0; ; attempt += 1) {
      const result = await this.tryFindOrCreate(ids, metadata);
      if (result !== 'duplicate') return result;
      if (attempt >= 2) throw new HubError('CONFLICT', 'the identifiers were changing concurrently; try again');
    }
  }

  private async tryFindOrCreate(ids: ContactIdentifiers, metadata: Record<string, unknown> | undefined): Promise<{ contact: ContactRecord; created: boolean } | 'duplicate'> {
    const owners = await this.contacts.owners(ids);
    const ownerOf = (key: keyof ContactIdentifiers): ContactRecord | undefined => (ids[key] ? owners.find((o) => o[key] === ids[key]) : undefined);
    // In precedence order: the first identifier with an owner decides who this is.
    const claims = IDENTIFIERS.map(([key, field]) => ({ key, field, owner: ownerOf(key) })).filter((c) => c.owner !== undefined);
    const distinct = new Set(claims.map((c) => c.owner?.id));
    if (distinct.size > 1) {
      const details: FieldIssue[] = claims.map((c) => ({ field: c.field, message: `belongs to contact ${c.owner?.id}` }));
      throw new HubError('CONFLICT', `the identifiers belong to different contacts (${claims.map((c) => `${c.field}: ${c.owner?.id}`).join(', ')}); they are not merged`, details);
    }
    const now = new Date();
    const owner = claims[0]?.owner;
    if (!owner) {
      const created = await this.contacts.create({
        id: randomUUID(),
        externalId: ids.externalId ?? null,
        email: ids.email ?? null,
        phoneNumber: ids.phoneNumber ?? null,
        metadata: metadata ?? {},
        createdAt: now,
        updatedAt: now,
      });
      if (created === 'duplicate') return created;
      this.log.info({ contactId: created.id }, 'contact created');
      return { contact: created, created: true };
    }
    // A contact keeps its external id: another one means another person, whatever the e-mail says.
    if (ids.externalId && owner.externalId && owner.externalId !== ids.externalId) {
      throw new HubError('CONFLICT', `contact ${owner.id} has another external_id; identifiers of different people are not merged`, [
        { field: 'external_id', message: `differs from the external_id of contact ${owner.id}` },
      ]);
    }
    const change = {
      at: now,
      externalId: ids.externalId && !owner.externalId ? ids.externalId : undefined,
      email: ids.email && ids.email !== owner.email ? ids.email : undefined,
      phoneNumber: ids.phoneNumber && ids.phoneNumber !== owner.phoneNumber ? ids.phoneNumber : undefined,
      metadata: metadata ? { ...owner.metadata, ...metadata } : undefined,
    };
    if (!change.externalId && !change.email && !change.phoneNumber && !change.metadata) return { contact: owner, created: false };
    const updated = await this.contacts.update(owner.id, change);
    // Gone, or an identifier taken meanwhile: look again from the top.
    if (updated === null || updated === 'duplicate') return 'duplicate';
    return { contact: updated, created: false };
  }

  private async conversationView(c: Conversation): Promise<ContactConversationView> {
    const [last] = await this.chat.chatMessages(c.id, { id: c.customer.id, staff: false }, { beforeSeq: Number.MAX_SAFE_INTEGER }, 1);
    const resumable = c.channel === CHAT_PLUGIN_SOURCE && c.channelId !== undefined;
    return {
      id: c.id,
      channel: { id: channelIdOf(c), source: c.channel },
      status: c.status,
      resume_token: resumable ? this.chatPlugin.resumeTokenFor(c) : null,
      // The customer's last message as the customer reads it (the widget shows it when they resume).
      last_message: last ? seedMessageOf(forCustomer(last)) : null,
    };
  }
}
