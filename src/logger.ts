import pino, { type Logger } from 'pino';

/** Paths whose values never reach a log line. */
const REDACT = [
  'token',
  '*.token',
  'key',
  '*.key',
  'connectorKey',
  '*.connectorKey',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'hubSecret',
  'systemToken',
  'config.hubSecret',
  'config.systemToken',
  'config.connectorKeys',
  'config.webhookSecret',
  'config.smtpUrl',
  'password',
  '*.password',
];

/** The root logger: JSON lines on stdout, secrets redacted. */
export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'chat-hub' } });
}
