import type { AttachmentRef, HubMessage } from '@chat-hub/connector-sdk/protocol';

/** The JSON body POSTed to WEB_CALLBACK_URL for one outbound message. */
export interface WebCallbackPayload {
  /** The hub's message id; also the Idempotency-Key header. */
  id: string;
  conversationId: string;
  /** The website's user id (the refId the conversation was opened with). */
  userId: string;
  text: string;
  attachments: AttachmentRef[];
  from: { name: string; role?: string };
  /** When the hub stored the message (ISO 8601). */
  timestamp: string;
}

/** Maps a hub message to the callback body; internal fields (metadata, seq, participants) stay in the hub. */
export function toCallbackPayload(message: HubMessage): WebCallbackPayload {
  const from: WebCallbackPayload['from'] = { name: message.from?.name ?? '' };
  if (message.from?.role) from.role = message.from.role;
  return {
    id: message.id,
    conversationId: message.conversationId,
    userId: message.refId,
    text: message.text ?? '',
    attachments: message.attachments ?? [],
    from,
    timestamp: message.timestamp,
  };
}
