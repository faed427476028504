import { z } from 'zod';

/** The pino levels LOG_LEVEL accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A connector's own defaults for the variables every connector reads. */
export interface ConnectorEnvDefaults {
  /** CONNECTOR_ID: the connector id, equal to the hub's channel name, e.g. "sms". */
  id: string;
  /** CONNECTOR_NAME: the display name sent at registration. */
  name: string;
  /** PORT: where the connector's HTTP server listens. */
  port: number;
}

/** "is required" for an absent variable, `invalid` for any other problem. */
const requiredOr =
  (invalid: string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'is required' : invalid;

/**
 * The variables every connector reads, as a zod object to `.extend()` with the connector's own:
 * HUB_URL and CONNECTOR_KEY (required), CONNECTOR_ID, CONNECTOR_NAME, PORT (defaults from
 * `defaults`), HOST (0.0.0.0) and LOG_LEVEL (info). Parse it with parseConnectorEnv().
 */
export function connectorEnvSchema(defaults: ConnectorEnvDefaults) {
  return z.object({
    HUB_URL: z.url({ protocol: /^(http|https|ws|wss)$/, error: requiredOr("must be the hub's http(s) URL, e.g. http://127.0.0.1:8080") }),
    CONNECTOR_KEY: z
      .string({ error: requiredOr('must be a string') })
      .trim()
      .min(8, 'must be at least 8 characters (the hub refuses shorter keys)'),
    CONNECTOR_ID: z
      .string()
      .trim()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/, `must be a connector id such as "${defaults.id}" (lower-case letters, digits, "_" or "-", at most 32)`)
      .default(defaults.id),
    CONNECTOR_NAME: z.string().trim().min(1).default(defaults.name),
    PORT: z.coerce.number().int().min(0, 'must be a port number 0-65535').max(65_535, 'must be a port number 0-65535').default(defaults.port),
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  });
}

/** The common variables of connectorEnvSchema(), parsed. */
export type ConnectorEnv = z.output<ReturnType<typeof connectorEnvSchema>>;

/** The common part of every connector's configuration object. */
export interface ConnectorConfig {
  hubUrl: string;
  connectorKey: string;
  connectorId: string;
  connectorName: string;
  port: number;
  host: string;
  logLevel: string;
}

/** An invalid environment: `issues` name each bad variable and why ("HUB_URL: is required"), never its value. */
export class ConnectorConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration: ${issues.join('; ')}`);
    this.name = 'ConnectorConfigError';
  }
}

/**
 * Validates `env` against `schema` (connectorEnvSchema(), extended). An unset or blank variable
 * counts as absent, so `PORT=` in a compose file falls back to the default. Throws one
 * ConnectorConfigError naming every bad variable (never a value: some are secrets).
 */
export function parseConnectorEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) throw new ConnectorConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
  return parsed.data;
}

/**
 * A connector's loadConfig in one call: parseConnectorEnv(schema, env), then the common fields
 * (hubUrl, connectorKey, connectorId, connectorName, port, host, logLevel) with `own(env)`'s.
 */
export function loadConnectorConfig<S extends z.ZodType<ConnectorEnv>, T extends object>(
  schema: S,
  env: Record<string, string | undefined>,
  own: (env: z.output<S>) => T,
): ConnectorConfig & T {
  const e = parseConnectorEnv(schema, env);
  return {
    hubUrl: e.HUB_URL,
    connectorKey: e.CONNECTOR_KEY,
    connectorId: e.CONNECTOR_ID,
    connectorName: e.CONNECTOR_NAME,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    ...own(e),
  };
}

/**
 * For a connector's main: returns `load()`; when it throws (an invalid environment), writes the
 * message to stderr as one fatal JSON line and exits 1. No logger exists yet: LOG_LEVEL is part of
 * the configuration.
 */
export function loadConfigOrExit<T>(load: () => T, exit: (code: number) => void = process.exit): T {
  try {
    return load();
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: 60, time: Date.now(), service: 'chat-hub-connector', msg: err instanceof Error ? err.message : String(err) })}\n`);
    exit(1);
    throw err;
  }
}
