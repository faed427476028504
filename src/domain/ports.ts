import type { Conversation, ConversationStatus, CustomerInfo, DeliveryTicket, MessageState, StoredMessage, WireMessage } from './types.js';
import type { RenderBudget } from './transcript-budget.js';
import type { Attachment, Participant } from '../contracts/schemas.js';

/** Outcome of one message of a batch insert. */
export type InsertOutcome =
  | { status: 'stored' }
  | { status: 'duplicate'; existing: StoredMessage }
  | { status: 'seqConflict' }
  /** The database refused this document itself (e.g. a key it cannot store); the others of the batch are unaffected. */
  | { status: 'refused'; reason: string };

export interface CreateResult {
  conversation: Conversation;
  /** false when a conversation with the same requestId already existed. */
  created: boolean;
}

/** Persistence of conversations; implemented in storage/. */
export interface ConversationStore {
  create(conversation: Conversation): Promise<CreateResult>;
  findById(id: string): Promise<Conversation | null>;
  /** Adds the participant if absent and records the join; `firstJoin` is true only once per participant. */
  recordJoin(id: string, participant: Participant): Promise<{ conversation: Conversation; firstJoin: boolean } | null>;
  /** Undoes a first join whose announcement could not be stored, so the next join announces it. */
  unrecordJoin(id: string, participantId: string): Promise<void>;
  /**
   * Ends the conversation; null when it was already ended (or unknown). `pendingWebhook`, when
   * given, is stored by the same update (the conversation.ended event, durable with the end).
   */
  end(id: string, at: Date, pendingWebhook?: Conversation['pendingWebhook']): Promise<Conversation | null>;
  /** Creates a connector conversation unless one with the same openKey is open; returns the open one. */
  createOpen(conversation: Conversation): Promise<CreateResult>;
  /** The open conversation holding `openKey`, if any. */
  findOpen(openKey: string): Promise<Conversation | null>;
  /** Conversations matching the filter, oldest first, after the cursor position. */
  list(filter: ConversationFilter, after: ListPosition | undefined, limit: number): Promise<Conversation[]>;

  // Routing (§4). Every change below is one conditional update, so processes sharing the
  // database agree on its outcome without any lock of their own.

  /** Puts a queued conversation that is not waiting yet (no queuedAt, no agent) in the queue; null when it already was. */
  enqueue(id: string, at: Date): Promise<Conversation | null>;
  /** Waiting conversations in queue order (queuedAt, id), after `after`; at most `limit`. */
  queued(after: QueuePosition | undefined, limit: number): Promise<Conversation[]>;
  /** Assigns a waiting conversation to `agent` (status active, agent a participant); null when it was not waiting. */
  claim(id: string, agent: Participant): Promise<Conversation | null>;
  /** Moves an active conversation from agent `fromId` to `to`; null when `fromId` no longer holds it. */
  reassign(id: string, fromId: string, to: Participant): Promise<Conversation | null>;
  /** Puts an active conversation of agent `fromId` back in the queue for `subject`; null when `fromId` no longer holds it. */
  requeue(id: string, fromId: string, subject: string, queuedAt: Date): Promise<Conversation | null>;
  /** Changes the subject of a waiting conversation; null when it is not waiting. */
  resubject(id: string, subject: string): Promise<Conversation | null>;
  /** Removes a participant who is not the assigned agent; null when they were not a participant. */
  removeParticipant(id: string, participantId: string): Promise<Conversation | null>;

  // Chat plugin and contacts (§6).

  /** Bumps the resume epoch, so every resume token issued before stops working; null when unknown. */
  revokeResume(id: string): Promise<Conversation | null>;
  /** The contact's conversations, newest first; at most `limit`. */
  byContact(contactId: string, limit: number): Promise<Conversation[]>;
}

/** Where a queue scan stopped: conversations wait in (queuedAt, id) order. */
export interface QueuePosition {
  queuedAt: Date;
  id: string;
}

export type AgentState = 'ready' | 'notReady';

/** An agent as the routing sees it: profile (from their token), state, and the conversations they hold. */
export interface AgentRecord {
  id: string;
  name: string;
  skills: string[];
  maxChats: number;
  state: AgentState;
  /** Conversations assigned to the agent and not yet ended, given away or left; its length is the load. */
  active: string[];
  /** When the agent last became ready or was last given a conversation: the longest idle go first. */
  idleSince: Date;
  stateSince: Date;
  /** The hub process holding a socket of the agent (the last one they connected to), null when none does. */
  processId: string | null;
}

export interface AgentProfile {
  id: string;
  name: string;
  skills: string[];
  maxChats: number;
}

export interface AgentFilter {
  state?: AgentState | undefined;
  skill?: string | undefined;
}

/** Agents in MongoDB: presence, state and load, shared by every hub process. */
export interface AgentStore {
  /** Creates the agent (notReady) or refreshes their profile, held by process `processId`. */
  connected(profile: AgentProfile, processId: string): Promise<AgentRecord>;
  /** The agent's last socket on `processId` closed (no-op when another process holds them now). */
  disconnected(id: string, processId: string): Promise<void>;
  /** Process `processId` is alive until then: one write per process, however many agents it holds. */
  heartbeat(processId: string, until: Date): Promise<void>;
  /** Processes whose heartbeat has not run out: an agent held by one of them is connected. */
  liveProcesses(now: Date): Promise<Set<string>>;
  /**
   * Sets the state. Becoming ready restarts the idle clock and replaces `active` with
   * `activeNow` (the conversations the agent really holds), repairing a load left wrong by a crash.
   */
  setState(id: string, state: AgentState, at: Date, activeNow?: string[]): Promise<AgentRecord | null>;
  /** The agent did not come back to `processId` within the grace period: notReady (unless another process holds them now). */
  gone(id: string, processId: string, at: Date): Promise<void>;
  /**
   * Takes a slot for `conversationId` in one conditional update: only when the agent is ready
   * and under maxChats, unless `force` (an agent picking a conversation themselves).
   */
  reserve(id: string, conversationId: string, at: Date, force: boolean): Promise<AgentRecord | null>;
  /** Frees the slot of `conversationId` (no-op when the agent does not hold it). */
  release(id: string, conversationId: string): Promise<AgentRecord | null>;
  findById(id: string): Promise<AgentRecord | null>;
  findMany(ids: string[]): Promise<AgentRecord[]>;
  /** Ready agents held by some process (with skill `subject` unless empty), for "is anyone eligible?". */
  readyWithSkill(subject: string): Promise<AgentRecord[]>;
  /** Agents by id, after `afterId`; at most `limit`. */
  list(filter: AgentFilter, afterId: string | undefined, limit: number): Promise<AgentRecord[]>;
}

/** Each agent's token epoch: tokens issued at an older epoch are revoked. Kept apart from presence, so an agent who never connected can be revoked too. */
export interface AgentCredentialStore {
  /** The agent's current epoch (0 when never revoked). */
  epoch(agentId: string): Promise<number>;
  /** Bumps the agent's epoch by one and returns the new one. */
  revoke(agentId: string, at: Date): Promise<number>;
  /** Agents revoked at or after `since` (every revoked agent for the epoch), with their current epochs. */
  revokedSince(since: Date): Promise<Array<{ agentId: string; epoch: number }>>;
}

export interface ConversationFilter {
  status?: ConversationStatus | undefined;
  subject?: string | undefined;
  channel?: string | undefined;
  refId?: string | undefined;
  /** Conversations assigned to this agent. */
  agentId?: string | undefined;
}

/** Where a page ended: conversations sort by (createdAt, id). */
export interface ListPosition {
  createdAt: Date;
  id: string;
}

/** A change of delivery state, written by the outbox. */
export interface DeliveryChange {
  id: string;
  state: MessageState;
  /** Keys set under `metadata` (e.g. externalId, error); null removes the key. */
  metadata: Record<string, string | null>;
  /** The ticket to keep (still owed to a connector), or null once settled. */
  delivery: DeliveryTicket | null;
}

/** The connector outbox, kept on the messages themselves (their `delivery` ticket). */
export interface OutboxStore {
  /** Messages owed to `connector`, by conversation and seq; at most `limit`. */
  pending(connector: string, limit: number): Promise<StoredMessage[]>;
  /** Writes several changes in one round trip. */
  apply(changes: DeliveryChange[]): Promise<void>;
  /** Applies one change only if the message is in one of `from` states; returns the updated message or null. */
  transition(change: DeliveryChange, from: MessageState[]): Promise<StoredMessage | null>;
  findById(id: string): Promise<StoredMessage | null>;
}

/** A §6 channel: which connector (`source`) carries a campaign's messages. */
export interface ChannelRecord {
  id: string;
  source: string;
  name: string;
}

/** Leases shared by the processes of one deployment (the database decides who holds what). */
export interface LeaseStore {
  /** Takes or renews lease `name` for `owner` for `ttlMs`; false while another owner holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, if `owner` holds it. */
  release(name: string, owner: string): Promise<void>;
}

export interface ChannelStore {
  /** Creates the channel, or returns the existing one with the same source and name. */
  connect(channel: ChannelRecord): Promise<ChannelRecord>;
  findById(id: string): Promise<ChannelRecord | null>;
}

/** Whose view of a conversation's chat messages: a participant (whispers only for staff), or everything. */
export type ChatViewer = { id: string; staff: boolean } | 'all';

/** A window of a conversation's chat messages by seq: after one seq, or before one. */
export type SeqRange = { afterSeq: number } | { beforeSeq: number };

/** The identifiers contacts.identify finds a contact by, normalized; absent when not given. */
export interface ContactIdentifiers {
  externalId?: string | undefined;
  email?: string | undefined;
  phoneNumber?: string | undefined;
}

/** One person known across devices and conversations (contacts.identify). */
export interface ContactRecord {
  id: string;
  externalId: string | null;
  email: string | null;
  phoneNumber: string | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** What identify changes on a known contact: identifiers it lacked (or a new email or phone), the merged metadata. */
export interface ContactChange extends ContactIdentifiers {
  metadata?: Record<string, unknown> | undefined;
  at: Date;
}

export interface ContactStore {
  /** The contacts owning any of `ids` (at most three). */
  owners(ids: ContactIdentifiers): Promise<ContactRecord[]>;
  /** Inserts the contact; 'duplicate' when another contact took one of its identifiers first. */
  create(contact: ContactRecord): Promise<ContactRecord | 'duplicate'>;
  /** Applies `change`; 'duplicate' when an identifier belongs to another contact, null when unknown. */
  update(id: string, change: ContactChange): Promise<ContactRecord | 'duplicate' | null>;
}

/** A messages.send answered 202: the conversation was not known yet, so the hub keeps looking for it. */
export interface DeferredSend {
  /** The id the message will have once sent (or that its failure report names). */
  id: string;
  conversationId: string;
  message: { text: string; attachments: Attachment[]; metadata: Record<string, unknown> };
  idempotencyKey: string | null;
  createdAt: Date;
  /** After this, the send fails (a message.updated webhook reports it). */
  giveUpAt: Date;
}

export interface DeferredSendStore {
  add(send: DeferredSend): Promise<void>;
  /**
   * Claims up to `limit` sends due at `now` (each with one conditional update, so processes never
   * share one) until `leaseUntil`.
   */
  claimDue(now: Date, leaseUntil: Date, limit: number): Promise<DeferredSend[]>;
  remove(id: string): Promise<void>;
}

/** Persistence of messages; implemented in storage/. */
export interface MessageStore {
  /** Inserts a batch in one round trip; the result has one outcome per message, in order. */
  insertBatch(messages: StoredMessage[]): Promise<InsertOutcome[]>;
  /** The latest `limit` messages readable by `viewerId`, oldest first. */
  /** The latest `limit` messages `viewerId` may read (older than `beforeSeq` when given), oldest first. */
  latestVisible(conversationId: string, viewerId: string, staff: boolean, limit: number, beforeSeq?: number): Promise<StoredMessage[]>;
  /** Up to `limit` messages readable by `viewerId` with seq above `afterSeq`, oldest first (keyset paging). */
  visibleAfter(conversationId: string, viewerId: string, staff: boolean, afterSeq: number, limit: number): Promise<StoredMessage[]>;
}

/** The seed messages API's reads and metadata changes (§6); implemented by the message store. */
export interface ChatMessageStore {
  /** Up to `limit` ChatMessages `viewer` may read in `range`, oldest first (nearest to the range's edge). */
  chatMessages(conversationId: string, viewer: ChatViewer, range: SeqRange, limit: number): Promise<StoredMessage[]>;
  /** How many ChatMessages `viewer` may read in the conversation. */
  countChatMessages(conversationId: string, viewer: ChatViewer): Promise<number>;
  /** Sets one metadata key of a message (e.g. suggestions); the updated message, or null when unknown. */
  setMetadata(id: string, key: string, value: unknown): Promise<StoredMessage | null>;
}

/** One line of a customer-facing transcript. */
export type TranscriptEntry =
  | { kind: 'message'; sender: string; role: string; at: Date; text: string; attachments: Array<{ name: string; url: string }> }
  | { kind: 'activity'; at: Date; text: string };

/** The conversation fields a transcript header shows: plain data, so it can go to a worker thread. */
export type TranscriptHeader = Pick<Conversation, 'id' | 'channel' | 'subject' | 'participants' | 'createdAt' | 'endedAt'> & {
  customer: Pick<CustomerInfo, 'firstName' | 'lastName' | 'email' | 'phone' | 'refId'>;
};

/** What a transcript shows: the conversation and what its customer saw, oldest first. */
export interface Transcript {
  conversation: TranscriptHeader;
  entries: AsyncIterable<TranscriptEntry> | Iterable<TranscriptEntry>;
  /** BCP 47 locale and IANA time zone for dates and times. */
  locale: string;
  timeZone: string;
  generatedAt: Date;
}

/** A transcript read to the end: plain data (structured-clonable), handed to a renderer in another thread. */
export interface TranscriptData extends Transcript {
  entries: TranscriptEntry[];
}

/** Draws transcripts away from the event loop; implemented with pdfkit in worker threads (adapters/pdf). */
export interface TranscriptRenderer {
  /**
   * The transcript as PDF bytes. Rejects with TranscriptBudgetError past `budget`, and with
   * `signal`'s reason once it aborts (the drawing is stopped either way).
   */
  render(transcript: TranscriptData, budget: RenderBudget, signal?: AbortSignal): Promise<Buffer>;
  /** Stops every drawing and frees its threads. */
  close(): Promise<void>;
}

export interface MailAddress {
  name: string;
  address: string;
}

export interface OutgoingMail {
  to: MailAddress;
  subject: string;
  text: string;
  html: string;
  attachment: { filename: string; contentType: string; content: Buffer };
}

/** Sends mail; implemented with nodemailer in adapters/. Throws BAD_GATEWAY when the server refuses or cannot be reached. */
export interface Mailer {
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
}

/** Bounds transcript mail per recipient and overall; `take` throws RATE_LIMITED when either is spent. */
export interface MailQuota {
  take(recipient: string): Promise<void>;
}

/** Health of the database, for /ready. */
export interface DatabaseProbe {
  ping(): Promise<void>;
}

/** The sockets of agents connected to this process; implemented by the socket gateway. */
export interface AgentSessionsPort {
  /**
   * Makes the agent's sockets on this process (or only `socketId`) members of the conversation
   * and sends each a conversationInfo; returns how many sockets joined.
   */
  join(agentId: string, conversation: Conversation, socketId?: string): Promise<number>;
  /** Takes the agent's sockets on this process out of the conversation. */
  leave(agentId: string, conversationId: string): Promise<void>;
}

/** How the domain pushes messages to connected clients; implemented by the socket gateway. */
export interface RealtimePort {
  /** Delivers to every joined socket the message is visible to, except `exceptSocketId`. */
  deliver(message: WireMessage, audience: string[], exceptSocketId?: string): void;
  /** Tells the conversation's staff that a message changed (delivery state, metadata). */
  updated(message: WireMessage): void;
}
