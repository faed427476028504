import type { SeedMessage } from '../contracts/wire.js';
import { toWireMessage, type StoredMessage, type WireMessage } from './types.js';

export type { SeedMessage } from '../contracts/wire.js';


/** The seed's view of a stored message; the same message the socket API delivers. */
export function toSeedMessage(message: WireMessage): SeedMessage {
  const content: SeedMessage['content'] = { text: message.text ?? '' };
  if (message.attachments && message.attachments.length > 0) content.attachments = message.attachments;
  const seed: SeedMessage = {
    id: message.id,
    conversation_id: message.conversationId,
    content,
    state: message.state.toLowerCase() as SeedMessage['state'],
    from_contact: message.from.role === 'customer',
    sent_at: message.timestamp,
    source: message.channel,
    metadata: message.metadata,
    sender: { id: message.from.id, name: message.from.name },
  };
  if (message.tag === 'whisper') seed.tag = 'whisper';
  return seed;
}

/** The seed's view of a message as stored (history, pages, webhooks). */
export function seedMessageOf(stored: StoredMessage): SeedMessage {
  return toSeedMessage(toWireMessage(stored));
}

/** An activity (joins, hand-offs, the end) as the chat plugin delivers it: not a message in the seed's sense. */
export interface SeedActivity {
  id: string;
  conversation_id: string;
  type: string;
  info: Record<string, unknown>;
  sent_at: string;
  sender: { id: string; name?: string };
}

export function toSeedActivity(message: WireMessage): SeedActivity {
  return {
    id: message.id,
    conversation_id: message.conversationId,
    type: message.activityType ?? 'unknown',
    info: message.info ?? {},
    sent_at: message.timestamp,
    sender: { id: message.from.id, name: message.from.name },
  };
}
