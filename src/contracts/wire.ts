import type { ActivityType, Attachment, Participant } from './schemas.js';

/**
 * The message as the wire carries it (Socket.IO events, HTTP answers), shared by the hub and the
 * browser front ends in web/ (which cannot import src/domain: it needs Node's types).
 */
export type MessageState = 'PENDING' | 'DELIVERED' | 'FAILED';

/** What the wire carries: the stored message without storage-only fields, times as ISO strings. */
export interface WireMessage {
  id: string;
  conversationId: string;
  seq?: number;
  type: 'ChatMessage' | 'ActivityMessage';
  from: Participant;
  to: Participant[];
  text?: string;
  attachments?: Attachment[];
  activityType?: ActivityType;
  info?: Record<string, unknown>;
  refId: string;
  tag: '' | 'whisper';
  channel: string;
  state: MessageState;
  metadata: Record<string, unknown>;
  timestamp: string;
  clientMessageId?: string;
}

export type ConversationStatus = 'queued' | 'active' | 'ended';

/** Who the customer is, as given at init; `custom` holds the extra fields. */
export interface CustomerInfo {
  id: string;
  firstName: string;
  lastName?: string | undefined;
  email?: string | undefined;
  phone?: string | undefined;
  refId?: string | undefined;
  language?: string | undefined;
  url?: string | undefined;
  comment?: string | undefined;
  custom: Record<string, string | number | boolean | null>;
}

export interface WireConversation {
  id: string;
  channel: string;
  status: ConversationStatus;
  subject: string;
  customer: CustomerInfo;
  participants: Participant[];
  createdAt: string;
  endedAt: string | null;
  /** Extension: the agent the conversation is assigned to, null while it waits. */
  assignedAgent: Participant | null;
  /** Extension: when it entered the routing queue, null unless queued. */
  queuedAt: string | null;
}

/** A message in the shape of the seeds' messages API (seed 002): snake_case, lower-case state. */
export interface SeedMessage {
  id: string;
  conversation_id: string;
  content: { text: string; attachments?: WireMessage['attachments'] };
  state: 'pending' | 'delivered' | 'failed';
  from_contact: boolean;
  sent_at: string;
  source: string;
  metadata: Record<string, unknown>;
  sender: { id: string; name?: string };
  /** Extension: set on whispers only (agents and the system see them; customers never do). */
  tag?: 'whisper';
}
