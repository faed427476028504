import type { Logger } from 'pino';
import type { ConnectorAuthError } from './errors.js';
import type { AttachmentRef, ConnectorInfo, HubMessage, InboundMessagePayload } from './protocol.js';

/** The public shapes of HubConnector: its options, inbound input and result, and its own events. */

export interface HubConnectorOptions {
  /** The hub's base URL, e.g. http://127.0.0.1:8080. */
  hubUrl: string;
  /** Connector id, equal to the channel name (sms, fb, web). */
  id: string;
  name: string;
  /** This id's entry in the hub's CONNECTOR_KEYS. Typed loosely so `process.env.X` can be passed; a missing key throws here. */
  key: string | undefined;
  logger?: Logger;
  /** How long a request (registration, sendInbound, reportStatus) waits for the hub, reconnects included. Default 10000. */
  ackTimeoutMs?: number;
  /** A handler slower than this is answered as a retryable failure. Default 20000. */
  handlerTimeoutMs?: number;
  /** How long close() waits for running handlers. Default handlerTimeoutMs. */
  closeTimeoutMs?: number;
  /** First reconnect delay; doubles up to reconnectDelayMaxMs. Default 500. */
  reconnectDelayMs?: number;
  /** Default 10000. */
  reconnectDelayMaxMs?: number;
}

/** A customer's message on the channel, relayed to the hub. */
export interface InboundInput {
  /** The customer's address on the channel (phone number, PSID, website user id). */
  refId: string;
  /** The customer's display name. */
  name?: string;
  text?: string;
  attachments?: AttachmentRef[];
  /** The provider's message id: the hub stores a repeated one once. Generated when absent, so the SDK's own retries never store twice. */
  clientMessageId?: string;
  metadata?: Record<string, unknown>;
  customer?: InboundMessagePayload['customer'];
}

export interface InboundResult {
  conversationId: string;
  message: HubMessage;
}

/** Events of HubConnector itself (not the hub's). */
export interface HubConnectorEvents {
  /** Registered with the hub; `reconnect` is true after the first time. */
  registered: [info: { connector: ConnectorInfo; reconnect: boolean }];
  /** The connection to the hub dropped (socket.io's reason). */
  disconnected: [reason: string];
  /** The hub refused the key after start() had resolved (a revoked key); the SDK has stopped reconnecting. */
  authFailed: [error: ConnectorAuthError];
}
