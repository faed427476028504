import { connectorEnvSchema, loadConnectorConfig, type ConnectorConfig } from '@chat-hub/connector-sdk';
import { z } from 'zod';

const httpUrl = z.url({ protocol: /^https?$/, error: (issue) => (issue.input === undefined ? 'is required' : 'must be an http(s) URL') });
const secret = (min: number) => z.string({ error: 'is required' }).min(min, `must be at least ${min} characters`);

/** The environment the web connector reads; every variable is named as in the README. */
const envSchema = connectorEnvSchema({ id: 'web', name: 'Web Connector', port: 8083 }).extend({
  WEB_INBOUND_TOKEN: secret(16),
  WEB_CALLBACK_URL: httpUrl,
  WEB_CALLBACK_SECRET: secret(16),
  WEB_CALLBACK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  WEB_CALLBACK_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
});

export interface WebConfig extends ConnectorConfig {
  /** Bearer token the website presents on POST /messages. */
  inboundToken: string;
  /** Where outbound messages are POSTed. */
  callbackUrl: string;
  /** HMAC-SHA256 key of X-Hub-Signature-256. */
  callbackSecret: string;
  callbackTimeoutMs: number;
  /** Extra attempts inside one delivery before the hub is asked to retry later. */
  callbackRetries: number;
}

/** Validates the environment (blank counts as unset); throws one ConnectorConfigError naming every bad variable, never a value. */
export function loadConfig(env: Record<string, string | undefined>): WebConfig {
  return loadConnectorConfig(envSchema, env, (e) => ({
    inboundToken: e.WEB_INBOUND_TOKEN,
    callbackUrl: e.WEB_CALLBACK_URL,
    callbackSecret: e.WEB_CALLBACK_SECRET,
    callbackTimeoutMs: e.WEB_CALLBACK_TIMEOUT_MS,
    callbackRetries: e.WEB_CALLBACK_RETRIES,
  }));
}
