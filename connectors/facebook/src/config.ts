import { z } from 'zod';

/** A secret from the environment: present, not blank, never echoed back in an error. */
const secret = z.string().trim().min(1, 'is required');

const envSchema = z.object({
  HUB_URL: z.url({ protocol: /^(http|https|ws|wss)$/, message: 'must be an http(s) URL of the hub' }),
  CONNECTOR_KEY: secret,
  CONNECTOR_ID: z.string().trim().min(1).default('fb'),
  CONNECTOR_NAME: z.string().trim().min(1).default('Facebook Messenger'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8082),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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

export interface FbConfig {
  hubUrl: string;
  connectorKey: string;
  connectorId: string;
  connectorName: string;
  port: number;
  host: string;
  logLevel: string;
  appSecret: string;
  verifyToken: string;
  pageAccessToken: string;
  graphBase: string;
  graphVersion: string;
  apiTimeoutMs: number;
}

/** Thrown for an invalid environment; names each bad variable and why, never its value. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid environment: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the connector's environment. */
export function loadConfig(env: Record<string, string | undefined> = process.env): FbConfig {
  // Empty strings count as unset, so `PORT=` in a compose file falls back to the default.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'} ${i.message}`));
  }
  const e = parsed.data;
  return {
    hubUrl: e.HUB_URL,
    connectorKey: e.CONNECTOR_KEY,
    connectorId: e.CONNECTOR_ID,
    connectorName: e.CONNECTOR_NAME,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    appSecret: e.FB_APP_SECRET,
    verifyToken: e.FB_VERIFY_TOKEN,
    pageAccessToken: e.FB_PAGE_ACCESS_TOKEN,
    graphBase: e.FB_GRAPH_BASE.replace(/\/+$/, ''),
    graphVersion: e.FB_GRAPH_VERSION,
    apiTimeoutMs: e.FB_API_TIMEOUT_MS,
  };
}
