import { z } from 'zod';

/** An unset or blank variable counts as absent (shells and compose files often export VAR=). */
const blankAsAbsent = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalText = z.preprocess(blankAsAbsent, z.string().trim().optional());

/** The environment the SMS connector reads; every variable is named as it is documented in the README. */
const envSchema = z
  .object({
    HUB_URL: z.url({ message: 'HUB_URL must be a URL such as http://127.0.0.1:8080' }),
    CONNECTOR_KEY: z.string({ error: 'CONNECTOR_KEY is required' }).min(8, 'CONNECTOR_KEY must be at least 8 characters (the hub refuses shorter keys)'),
    CONNECTOR_ID: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'CONNECTOR_ID must be a connector id such as "sms"').default('sms'),
    CONNECTOR_NAME: z.string().min(1).default('SMS Connector'),
    PORT: z.coerce.number().int().min(0).max(65535).default(8081),
    HOST: z.string().min(1).default('0.0.0.0'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    PUBLIC_URL: z.preprocess(blankAsAbsent, z.url({ message: 'PUBLIC_URL must be an absolute URL such as https://sms.example.com' }).optional()),
    SMS_API_BASE: z.url({ message: 'SMS_API_BASE must be a URL' }).default('https://api.twilio.com'),
    SMS_ACCOUNT_SID: z.string({ error: 'SMS_ACCOUNT_SID is required' }).min(1, 'SMS_ACCOUNT_SID is required'),
    SMS_AUTH_TOKEN: z.string({ error: 'SMS_AUTH_TOKEN is required' }).min(1, 'SMS_AUTH_TOKEN is required'),
    SMS_FROM: optionalText,
    SMS_MESSAGING_SERVICE_SID: optionalText,
    SMS_API_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  })
  .refine((env) => env.SMS_FROM !== undefined || env.SMS_MESSAGING_SERVICE_SID !== undefined, {
    message: 'set SMS_FROM or SMS_MESSAGING_SERVICE_SID (one sender is required)',
    path: ['SMS_FROM'],
  });

export interface SmsConfig {
  hubUrl: string;
  connectorKey: string;
  connectorId: string;
  connectorName: string;
  port: number;
  host: string;
  logLevel: string;
  /** The URL the provider reaches this process at; it signs webhooks against it and it builds StatusCallback URLs. */
  publicUrl: string | undefined;
  apiBase: string;
  accountSid: string;
  authToken: string;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  apiTimeoutMs: number;
}

/** Validates the environment; throws one Error naming every bad variable (never their values: some are secrets). */
export function loadConfig(env: Record<string, string | undefined>): SmsConfig {
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
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    apiBase: e.SMS_API_BASE.replace(/\/+$/, ''),
    accountSid: e.SMS_ACCOUNT_SID,
    authToken: e.SMS_AUTH_TOKEN,
    from: e.SMS_FROM,
    messagingServiceSid: e.SMS_MESSAGING_SERVICE_SID,
    apiTimeoutMs: e.SMS_API_TIMEOUT_MS,
  };
}
