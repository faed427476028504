import type { Conversation, StoredMessage, WireMessage } from './types.js';
import type { Participant } from '../contracts/schemas.js';

/** Outcome of one message of a batch insert. */
export type InsertOutcome = { status: 'stored' } | { status: 'duplicate'; existing: StoredMessage } | { status: 'seqConflict' };

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
  /** Moves a queued conversation to active; no-op otherwise. */
  activate(id: string): Promise<void>;
  /** Ends the conversation; null when it was already ended (or unknown). */
  end(id: string, at: Date): Promise<Conversation | null>;
}

/** Persistence of messages; implemented in storage/. */
export interface MessageStore {
  /** Inserts a batch in one round trip; the result has one outcome per message, in order. */
  insertBatch(messages: StoredMessage[]): Promise<InsertOutcome[]>;
  /** The latest `limit` messages readable by `viewerId`, oldest first. */
  latestVisible(conversationId: string, viewerId: string, staff: boolean, limit: number): Promise<StoredMessage[]>;
}

/** Health of the database, for /ready. */
export interface DatabaseProbe {
  ping(): Promise<void>;
}

/** How the domain pushes messages to connected clients; implemented by the socket gateway. */
export interface RealtimePort {
  /** Delivers to every joined socket the message is visible to, except `exceptSocketId`. */
  deliver(message: WireMessage, audience: string[], exceptSocketId?: string): void;
}
