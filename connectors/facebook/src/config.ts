import { connectorEnvSchema, loadConnectorConfig, type ConnectorConfig } from '@chat-hub/connector-sdk';
import { z } from 'zod';

/** A secret from the environment: present, not blank, never echoed back in an error. */
const secret = z.string({ error: 'is required' }).trim();

const envSchema = connectorEnvSchema({ id: 'fb', name: 'Facebook Messenger', port: 8082 }).extend({
  FB_APP_SECRET: secret,
  FB_VERIFY_TOKEN: secret,
  FB_PAGE_ACCESS_TOKEN: secret,
  FB_GRAPH_BASE: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://graph.facebook.com'),
  FB_GRAPH_VERSION: z
    .string()
    .trim()
    .regex(/^v\d+\.\d+$/, 'must look like v21.0')
    .default('v21.0'),
  FB_API_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
});

export interface FbConfig extends ConnectorConfig {
  appSecret: string;
  verifyToken: string;
  pageAccessToken: string;
  graphBase: string;
  graphVersion: string;
  apiTimeoutMs: number;
}

/** Reads and validates the connector's environment (blank counts as unset); throws one ConnectorConfigError naming every bad variable, never a value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): FbConfig {
  return loadConnectorConfig(envSchema, env, (e) => ({
    appSecret: e.FB_APP_SECRET,
    verifyToken: e.FB_VERIFY_TOKEN,
    pageAccessToken: e.FB_PAGE_ACCESS_TOKEN,
    graphBase: e.FB_GRAPH_BASE.replace(/\/+$/, ''),
    graphVersion: e.FB_GRAPH_VERSION,
    apiTimeoutMs: e.FB_API_TIMEOUT_MS,
  }));
}
