import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Paths whose values never reach a log line. The SDK itself never logs the key,
 * but a connector's own log calls may pass config or request objects.
 */
export const REDACT_PATHS = [
  'key',
  '*.key',
  'connectorKey',
  '*.connectorKey',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
];

export interface ConnectorLoggerOptions {
  /** pino level; defaults to LOG_LEVEL from the environment, then 'info'. */
  level?: string;
  /** Bound to every line as `connector`. */
  connector?: string;
  /** Where lines go; stdout when absent. */
  destination?: DestinationStream;
}

/** A JSON logger for a connector process, with secrets redacted. */
export function createConnectorLogger(options: ConnectorLoggerOptions = {}): Logger {
  const level = options.level ?? process.env['LOG_LEVEL'] ?? 'info';
  const base = options.connector ? { service: 'chat-hub-connector', connector: options.connector } : { service: 'chat-hub-connector' };
  const config = { level, base, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return options.destination ? pino(config, options.destination) : pino(config);
}
