import { REDACT_PATHS } from '@chat-hub/connector-sdk';
import pino, { type Logger } from 'pino';

/** Besides the SDK's paths: the Messenger secrets, should a config or request object ever be logged. */
const FB_REDACT_PATHS = [
  ...REDACT_PATHS,
  'appSecret',
  '*.appSecret',
  'verifyToken',
  '*.verifyToken',
  'pageAccessToken',
  '*.pageAccessToken',
  'access_token',
  '*.access_token',
  'url',
  '*.url',
];

/** The connector's JSON logger, secrets redacted. */
export function createFbLogger(level: string, connector: string): Logger {
  return pino({
    level,
    base: { service: 'chat-hub-connector', connector },
    redact: { paths: FB_REDACT_PATHS, censor: '[redacted]' },
  });
}
