import { z } from 'zod';

/** An unset or blank variable counts as absent (shells and compose files often export VAR=). */
const blankAsAbsent = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const httpUrl = (name: string) => z.url({ protocol: /^https?$/, message: `${name} must be an http(s) URL` });

/** The environment the web connector reads; every variable is named as in the README. */
const envSchema = z.object({
  HUB_URL: httpUrl('HUB_URL'),
  CONNECTOR_KEY: z.string().min(8, 'CONNECTOR_KEY must be at least 8 characters (the hub refuses shorter keys)'),
  CONNECTOR_ID: z.preprocess(blankAsAbsent, z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'CONNECTOR_ID must be a connector id such as "web"').default('web')),
  CONNECTOR_NAME: z.preprocess(blankAsAbsent, z.string().min(1).default('Web Connector')),
  PORT: z.preprocess(blankAsAbsent, z.coerce.number().int().min(0).max(65535).default(8083)),
  HOST: z.preprocess(blankAsAbsent, z.string().min(1).default('0.0.0.0')),
  LOG_LEVEL: z.preprocess(blankAsAbsent, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  WEB_INBOUND_TOKEN: z.string().min(16, 'WEB_INBOUND_TOKEN must be at least 16 characters'),
  WEB_CALLBACK_URL: httpUrl('WEB_CALLBACK_URL'),
  WEB_CALLBACK_SECRET: z.string().min(16, 'WEB_CALLBACK_SECRET must be at least 16 characters'),
  WEB_CALLBACK_TIMEOUT_MS: z.preprocess(blankAsAbsent, z.coerce.number().int().min(100).max(120_000).default(5000)),
  WEB_CALLBACK_RETRIES: z.preprocess(blankAsAbsent, z.coerce.number().int().min(0).max(10).default(3)),
});

export interface WebConfig {
  hubUrl: string;
  connectorKey: string;
  connectorId: string;
  connectorName: string;
  port: number;
  host: string;
  logLevel: string;
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

/** Validates the environment; throws one Error naming every bad variable (never their values: some are secrets). */
export function loadConfig(env: Record<string, string | undefined>): WebConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new Error(`invalid configuration: ${problems.join('; ')}`);
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
    inboundToken: e.WEB_INBOUND_TOKEN,
    callbackUrl: e.WEB_CALLBACK_URL,
    callbackSecret: e.WEB_CALLBACK_SECRET,
    callbackTimeoutMs: e.WEB_CALLBACK_TIMEOUT_MS,
    callbackRetries: e.WEB_CALLBACK_RETRIES,
  };
}
