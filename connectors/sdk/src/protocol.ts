/**
 * The connector side of the hub's Socket.IO protocol (CONTRACT.md §5, docs/protocol.md
 * "Connectors"). The hub imports these types too, so both ends share one event map.
 */

/** An error object as the hub sends it in a failed ack. */
export interface HubErrorBody {
  code: string;
  message: string;
  details?: Array<{ field: string; message: string }>;
}

/** Every ack: success with a body, or an error. */
export type HubAck<T extends object> = ({ ok: true } & T) | { ok: false; error: HubErrorBody };

export interface ParticipantRef {
  id: string;
  name: string;
  role?: 'customer' | 'agent' | 'bot' | 'connector' | 'system';
}

export interface AttachmentRef {
  /** MIME type, e.g. image/jpeg. */
  type: string;
  name: string;
  /** http, https or data URL. */
  contentUrl: string;
  thumbnailUrl?: string;
}

/** A stored message as the hub sends it (ChatMessage of CONTRACT.md §2). */
export interface HubMessage {
  id: string;
  conversationId: string;
  seq?: number;
  type: 'ChatMessage' | 'ActivityMessage';
  from: ParticipantRef;
  to: ParticipantRef[];
  text?: string;
  attachments?: AttachmentRef[];
  activityType?: string;
  info?: Record<string, unknown>;
  /** The customer's address on the channel: phone number, Facebook PSID, website user id. */
  refId: string;
  tag: '' | 'whisper';
  channel: string;
  state: 'PENDING' | 'DELIVERED' | 'FAILED';
  metadata: Record<string, unknown>;
  timestamp: string;
  clientMessageId?: string;
}

/** registerConnector payload. `id` must equal `channel`; `key` may come from the handshake instead. */
export interface RegisterConnectorPayload {
  id: string;
  name: string;
  channel: string;
  key?: string;
}

export interface ConnectorInfo {
  id: string;
  name: string;
  channel: string;
}

/** What a customer sent on the channel, relayed to the hub (sendMessage without conversationId). */
export interface InboundMessagePayload {
  type: 'ChatMessage';
  /** The connector's channel. */
  channel: string;
  /** The customer's address on the channel. */
  refId: string;
  /** Display name of the customer; the hub uses refId when absent. */
  from?: { id?: string; name?: string };
  text?: string;
  attachments?: AttachmentRef[];
  /** The provider's message id: a repeated id from the same customer is stored once. */
  clientMessageId?: string;
  metadata?: Record<string, unknown>;
  /** Optional customer details for a conversation this message opens. */
  customer?: { firstName?: string; lastName?: string; email?: string; phone?: string; language?: string };
}

/**
 * The connector's answer to an outbound `messageArrived`:
 * - `{ok: true, externalId?}`: the provider took it; state DELIVERED.
 * - `{ok: true, externalId, state: 'PENDING'}` (extension): the provider queued it and will report
 *   delivery later through `messageStatus`; the hub stops retrying and keeps it PENDING.
 * - `{ok: false, error: {message}}`: refused for good; state FAILED with metadata.error.
 * - `{ok: false, error: {message, retryable: true}}` (extension): a transient failure (provider 5xx,
 *   network); the hub retries with backoff.
 */
export type DeliveryAck =
  | { ok: true; externalId?: string; state?: 'DELIVERED' | 'PENDING' }
  | { ok: false; error: { message: string; retryable?: boolean } };

/** messageStatus payload (extension): a later delivery report from the provider. */
export interface MessageStatusPayload {
  messageId: string;
  state: 'DELIVERED' | 'FAILED';
  externalId?: string;
  error?: { message: string };
}

/** Events a connector emits to the hub. */
export interface ConnectorToHubEvents {
  registerConnector: (payload: RegisterConnectorPayload, ack: (r: HubAck<{ connector: ConnectorInfo }>) => void) => void;
  sendMessage: (payload: InboundMessagePayload, ack: (r: HubAck<{ conversationId: string; message: HubMessage }>) => void) => void;
  messageStatus: (payload: MessageStatusPayload, ack: (r: HubAck<{ message: HubMessage }>) => void) => void;
}

/** Events the hub emits to a connector. */
export interface HubToConnectorEvents {
  /** An outbound message for the connector's channel; answer with a DeliveryAck. */
  messageArrived: (message: HubMessage, ack: (r: DeliveryAck) => void) => void;
  error: (error: { ok: false; error: HubErrorBody }) => void;
}
