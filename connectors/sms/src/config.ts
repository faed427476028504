import { connectorEnvSchema, loadConnectorConfig, type ConnectorConfig } from '@chat-hub/connector-sdk';
import { z } from 'zod';

/** The environment the SMS connector reads; every variable is named as it is documented in the README. */
const envSchema = connectorEnvSchema({ id: 'sms', name: 'SMS Connector', port: 8081 })
  .extend({
    PUBLIC_URL: z.url({ message: 'must be an absolute URL such as https://sms.example.com' }).optional(),
    SMS_API_BASE: z.url({ message: 'must be a URL' }).default('https://api.twilio.com'),
    SMS_ACCOUNT_SID: z.string({ error: 'is required' }),
    SMS_AUTH_TOKEN: z.string({ error: 'is required' }),
    SMS_FROM: z.string().trim().optional(),
    SMS_MESSAGING_SERVICE_SID: z.string().trim().optional(),
    SMS_API_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  })
  .refine((env) => env.SMS_FROM !== undefined || env.SMS_MESSAGING_SERVICE_SID !== undefined, {
    message: 'set SMS_FROM or SMS_MESSAGING_SERVICE_SID (one sender is required)',
    path: ['SMS_FROM'],
  });

export interface SmsConfig extends ConnectorConfig {
  /** The URL the provider reaches this process at; it signs webhooks against it and it builds StatusCallback URLs. */
  publicUrl: string | undefined;
  apiBase: string;
  accountSid: string;
  authToken: string;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  apiTimeoutMs: number;
}

/** Validates the environment (blank counts as unset); throws one ConnectorConfigError naming every bad variable, never a value. */
export function loadConfig(env: Record<string, string | undefined>): SmsConfig {
  return loadConnectorConfig(envSchema, env, (e) => ({
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    apiBase: e.SMS_API_BASE.replace(/\/+$/, ''),
    accountSid: e.SMS_ACCOUNT_SID,
    authToken: e.SMS_AUTH_TOKEN,
    from: e.SMS_FROM,
    messagingServiceSid: e.SMS_MESSAGING_SERVICE_SID,
    apiTimeoutMs: e.SMS_API_TIMEOUT_MS,
  }));
}
