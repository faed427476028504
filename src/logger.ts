import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths whose values never reach a log line. */
const REDACT = [
  'token',
  '*.token',
  'key',
  '*.key',
  'connectorKey',
  '*.connectorKey',
  'resume_token',
  '*.resume_token',
  'resumeToken',
  '*.resumeToken',
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

/** The root logger: JSON lines on stdout (or `destination`), secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'chat-hub' } };
  return destination ? pino(options, destination) : pino(options);
}
