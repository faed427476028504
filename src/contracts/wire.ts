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

