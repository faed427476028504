import type { ActivityType, Attachment, Participant } from '../contracts/schemas.js';
import type { AgentView } from '../contracts/events.js';
import type { AgentRecord } from './ports.js';

export type { ConversationStatus, CustomerInfo, MessageState, WireConversation } from '../contracts/wire.js';
import type { ConversationStatus, CustomerInfo, MessageState, WireConversation, WireMessage } from '../contracts/wire.js';


export interface Conversation {
  id: string;
  /** `web`, `fb`, `sms`, `twitter`, or the id of the connector that opened it. */
  channel: string;
  status: ConversationStatus;
  subject: string;
  customer: CustomerInfo;
  participants: Participant[];
  /** Participant ids that have joined at least once (first-join detection). */
  joined: string[];
  /**
   * The conversation's unique creation key. Init stores `init:<caller scope>:<client requestId>`
   * (see init-requests.ts), the hub's own openers `open:<id>` and `chatplugin:<id>`: a client's
   * requestId is never stored bare, so it can never name a key the hub uses internally.
   */
  requestId: string;
  /** Init conversations: the client's requestId as sent, and the fingerprint of the request that opened it (replays must match). */
  initRequest?: { requestId: string; fingerprint: string } | undefined;
  /**
   * The address a trusted party set (system-token init, contacts.identify): the only one a
   * customer token may have the transcript mailed to. An address the customer typed is not.
   */
  trustedEmail?: string | undefined;
  /**
   * The connector pool that reaches the customer (messages to them wait for its ack), when
   * the conversation came from a connector, a campaign, or an init on a connector-only channel.
   */
  connector?: string | undefined;
  /** The §6 channel (channels.connect) a campaign conversation belongs to. */
  channelId?: string | undefined;
  /**
   * Unique among conversations: `connector:refId` while a connector conversation is open, so
   * one customer has one open conversation per channel even across processes; the id otherwise.
   */
  openKey: string;
  createdAt: Date;
  endedAt: Date | null;
  /** Routing (§4): when the conversation entered the queue; null while assigned, or not yet waiting. */
  queuedAt?: Date | null | undefined;
  /** Routing: the agent the conversation is assigned to; null while it waits. */
  agent?: Participant | null | undefined;
  /** Routing: the agent who last gave the conversation away (leave, transfer to a subject); not offered it again. */
  previousAgentId?: string | null | undefined;
  /** Routing: bumped by every assignment, transfer and leave; once-keys of the announcements use it. */
  routingRev?: number | undefined;
  /** The contact (contacts.identify) the conversation belongs to, when known. */
  contactId?: string | undefined;
  /** Resume tokens carry the epoch they were issued at; revoking bumps it, so every older token stops. */
  resumeEpoch?: number | undefined;
  /**
   * The conversation.ended webhook event while it is not yet in the webhook outbox: written by the
   * update that ends the conversation, so a crash right after cannot lose it.
   */
  pendingWebhook?: { id: string; endedBy: Participant } | undefined;
}

/** The §6 channel id of a conversation (campaigns, the chat plugin), else its channel name (`web`, `sms`, …). */
export function channelIdOf(conversation: Conversation): string {
  return conversation.channelId ?? conversation.channel;
}

/** Routing fields of a conversation that has not waited for an agent yet (connector and chat plugin conversations). */
export function notYetRouted(): Pick<Conversation, 'endedAt' | 'queuedAt' | 'agent' | 'previousAgentId' | 'routingRev'> {
  return { endedAt: null, queuedAt: null, agent: null, previousAgentId: null, routingRev: 0 };
}

/** A message owed to a connector: present while the hub still has to hand it over. */
export interface DeliveryTicket {
  connector: string;
  /** Hand-overs tried so far (timeouts, retryable refusals). */
  attempts: number;
}

/** Everyone (`*`) or the listed participant ids plus the sender: who may read a message. */
export type Audience = string[];

export interface StoredMessage {
  id: string;
  conversationId: string;
  /** Per-conversation, strictly increasing; delivery follows it. */
  seq: number;
  type: 'ChatMessage' | 'ActivityMessage';
  from: Participant;
  to: Participant[];
  audience: Audience;
  text?: string | undefined;
  attachments?: Attachment[] | undefined;
  activityType?: ActivityType | undefined;
  info?: Record<string, unknown> | undefined;
  refId: string;
  tag: '' | 'whisper';
  channel: string;
  state: MessageState;
  metadata: Record<string, unknown>;
  timestamp: Date;
  clientMessageId?: string | undefined;
  /** Set while the message waits for its connector (the outbox); removed once settled. */
  delivery?: DeliveryTicket | undefined;
  /** `from.id:clientMessageId`, or the message id when the client sent none. Unique per conversation. */
  dedupKey: string;
  /**
   * The id of this message's message.created webhook event while that event is not yet in the
   * webhook outbox: written with the message itself, so a crash after the ack cannot lose it.
   */
  pendingWebhook?: string | undefined;
}

export type { WireMessage } from '../contracts/wire.js';


/** Roles that see whispers. */
export const STAFF_ROLES = new Set(['agent', 'system']);

export function isStaff(p: Participant): boolean {
  return STAFF_ROLES.has(p.role ?? '');
}

/**
 * Metadata keys the hub and staff write for staff: reply suggestions (messages.suggest-replies),
 * delivery error text and the provider's message id (connector acks and reports). The contract
 * gives customers none of them: a customer's view (and the customer's connector) never carries them.
 */
export const STAFF_METADATA_KEYS: readonly string[] = ['suggestions', 'error', 'externalId'];

/** Does the metadata hold any staff-only key? (Most messages do not; they are then shown as they are.) */
export function hasStaffMetadata(metadata: Record<string, unknown>): boolean {
  return STAFF_METADATA_KEYS.some((key) => Object.hasOwn(metadata, key));
}

/**
 * A message (stored or wire) as a customer may read it: staff-only metadata keys removed, the rest
 * kept. The same object when there is nothing to remove; a copy otherwise, never a mutation.
 */
export function forCustomer<M extends { metadata: Record<string, unknown> }>(message: M): M {
  if (!hasStaffMetadata(message.metadata)) return message;
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message.metadata)) {
    if (!STAFF_METADATA_KEYS.includes(key)) metadata[key] = value;
  }
  return { ...message, metadata };
}

/** The message as a viewer with (`staff`) or without staff rights may read it. */
export function asSeenBy<M extends { metadata: Record<string, unknown> }>(message: M, staff: boolean): M {
  return staff ? message : forCustomer(message);
}

export function toWireMessage(m: StoredMessage): WireMessage {
  const wire: WireMessage = {
    id: m.id,
    conversationId: m.conversationId,
    type: m.type,
    from: m.from,
    to: m.to,
    refId: m.refId,
    tag: m.tag,
    channel: m.channel,
    state: m.state,
    metadata: m.metadata,
    timestamp: m.timestamp.toISOString(),
  };
  if (m.seq > 0) wire.seq = m.seq;
  if (m.type === 'ChatMessage') {
    wire.text = m.text ?? '';
    wire.attachments = m.attachments ?? [];
  } else {
    if (m.activityType) wire.activityType = m.activityType;
    wire.info = m.info ?? {};
  }
  if (m.clientMessageId !== undefined) wire.clientMessageId = m.clientMessageId;
  return wire;
}

export function toWireConversation(c: Conversation): WireConversation {
  return {
    id: c.id,
    channel: c.channel,
    status: c.status,
    subject: c.subject,
    customer: c.customer,
    participants: c.participants,
    createdAt: c.createdAt.toISOString(),
    endedAt: c.endedAt ? c.endedAt.toISOString() : null,
    assignedAgent: c.agent ?? null,
    queuedAt: c.status === 'queued' && c.queuedAt ? c.queuedAt.toISOString() : null,
  };
}

/** Can participant `viewer` (with `staff` rights or not) read message `m`? */
export function isVisibleTo(m: StoredMessage, viewerId: string, staff: boolean): boolean {
  if (m.tag === 'whisper' && !staff) return false;
  return m.audience.includes('*') || m.audience.includes(viewerId);
}

/** Is the agent held by a live hub process (`live`: AgentStore.liveProcesses)? */
export function heldByLiveProcess(r: AgentRecord, live: ReadonlySet<string>): boolean {
  return r.processId !== null && live.has(r.processId);
}

/** An agent record on the wire (GET /api/agents, the agentState ack); `connected`: a live process holds them. */
export function toAgentView(r: AgentRecord, connected: boolean): AgentView {
  return {
    id: r.id,
    name: r.name,
    skills: r.skills,
    maxChats: r.maxChats,
    state: r.state,
    connected,
    load: r.active.length,
    conversations: r.active,
    idleSince: r.idleSince.toISOString(),
    stateSince: r.stateSince.toISOString(),
  };
}
