/** The connector SDK: everything a connector needs to talk to the hub. Wire types live in `@chat-hub/connector-sdk/protocol`. */
export { HubConnector } from './hub-connector.js';
export type { HubConnectorEvents, HubConnectorOptions, InboundInput, InboundResult } from './connector.types.js';
export { ConnectorAuthError, HubRequestError, RetryableError, type HubErrorDetail } from './errors.js';
export { ackForError, ackForResult, HandlerTimeoutError, type DeliveryResult, type MessageHandler } from './delivery.js';
export { createConnectorLogger, REDACT_PATHS, type ConnectorLoggerOptions } from './logger.js';
export type { AttachmentRef, DeliveryAck, HubMessage, InboundMessagePayload, MessageStatusPayload } from './protocol.js';
export {
  ConnectorConfigError,
  connectorEnvSchema,
  loadConfigOrExit,
  loadConnectorConfig,
  LOG_LEVELS,
  parseConnectorEnv,
  type ConnectorConfig,
  type ConnectorEnv,
  type ConnectorEnvDefaults,
} from './connector-env.js';
export { runConnector, type RunConnectorOptions, type RunnableHub, type RunningConnector } from './run-connector.js';
