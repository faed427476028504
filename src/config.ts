import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { timeZoneSchema } from './contracts/schemas.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, whether running from src/ (tsx) or dist/src/. */
export const PROJECT_ROOT = existsSync(join(here, '..', 'config')) ? resolve(here, '..') : resolve(here, '..', '..');

const csv = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Parses `sms:s3cret,fb:other` into a map of connector id to key. */
export function parseConnectorKeys(value: string | undefined): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const pair of csv(value)) {
    const at = pair.indexOf(':');
    if (at <= 0 || at === pair.length - 1) throw new Error(`CONNECTOR_KEYS: "${pair.split(':')[0]}" must be written id:key`);
    const id = pair.slice(0, at);
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(id)) throw new Error(`CONNECTOR_KEYS: connector id "${id}" must be lower-case letters, digits, "_" or "-"`);
    keys[id] = pair.slice(at + 1);
  }
  return keys;
}

/** A §6 channel given in configuration instead of POST /channels.connect. */
const channelConfigSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'channel id must be 1-128 letters, digits, ".", "_", ":" or "-"'),
  source: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'channel source must be a connector id such as "sms"'),
  name: z.string().min(1).max(200),
});

/** Parses CHANNELS, a JSON array of {id, source, name}. */
function parseChannels(value: string | undefined, fallback: unknown): unknown {
  if (value === undefined || value.trim() === '') return fallback ?? [];
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new Error('CHANNELS must be a JSON array of {"id", "source", "name"} objects');
  }
}

const configSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535),
  host: z.string().min(1),
  trustProxy: z.string().min(1),
  mongodbUri: z.string().regex(/^mongodb(\+srv)?:\/\//, 'MONGODB_URI must start with mongodb:// or mongodb+srv://').optional(),
  hubSecret: z.string().min(32, 'HUB_SECRET must be at least 32 characters'),
  systemToken: z.string().min(24, 'SYSTEM_TOKEN must be at least 24 characters'),
  connectorKeys: z.record(z.string(), z.string().min(8, 'each connector key must be at least 8 characters')),
  smtpUrl: z.string().regex(/^smtps?:\/\//, 'SMTP_URL must start with smtp:// or smtps://').optional(),
  mailFrom: z.string().min(3),
  mail: z.object({
    /** Bound on connecting to the SMTP server, its greeting, and each silence; a send gets four times it. */
    timeoutMs: z.coerce.number().int().positive(),
    /** Transcript mails to one address per hour (whoever asks), so the hub cannot be turned on one inbox. */
    perRecipientPerHour: z.coerce.number().int().positive(),
    /** Transcript mails per minute in all, so the hub cannot be turned into a spam source. */
    globalPerMinute: z.coerce.number().int().positive(),
  }),
  /** How long a repeated init requestId (same request) returns the conversation it opened; later reuse is a CONFLICT. */
  requestIdReplayWindowMs: z.coerce.number().int().positive(),
  transcripts: z.object({
    /** IANA zone transcript times are shown in unless the request names one (?tz=). */
    timeZone: timeZoneSchema,
    perMinutePerCaller: z.coerce.number().int().positive(),
    /** Renders at once; also the number of render worker threads kept. */
    maxConcurrent: z.coerce.number().int().positive().max(64),
    maxQueued: z.coerce.number().int().min(0),
    /** Messages read per round trip while collecting a transcript. */
    pageSize: z.coerce.number().int().positive().max(5000),
    maxMailBytes: z.coerce.number().int().positive(),
    /** Budgets of one transcript: text read, pages drawn, PDF bytes; past any of them 422. */
    maxInputChars: z.coerce.number().int().positive(),
    maxPages: z.coerce.number().int().positive(),
    maxPdfBytes: z.coerce.number().int().positive(),
    /** Time a render may take in its worker thread before the thread is stopped (422). */
    renderTimeoutMs: z.coerce.number().int().positive(),
    /** A PDF request from arrival to its last byte; then it is cut off and its slot freed. */
    responseDeadlineMs: z.coerce.number().int().positive(),
    /** Old-generation heap of one render worker. */
    workerHeapMb: z.coerce.number().int().min(64),
    /** An idle render worker ends after this long. */
    workerIdleMs: z.coerce.number().int().positive(),
    /** Rendered PDFs kept for repeated requests (an ended conversation's transcript does not change); 0: none. */
    cacheMaxBytes: z.coerce.number().int().min(0),
    cacheTtlMs: z.coerce.number().int().positive(),
  }).refine((t) => t.responseDeadlineMs > t.renderTimeoutMs, {
    path: ['responseDeadlineMs'],
    error: 'TRANSCRIPT_RESPONSE_DEADLINE_MS must be larger than TRANSCRIPT_RENDER_TIMEOUT_MS',
  }),
  redisUrl: z.string().optional(),
  webhookUrl: z.url({ protocol: /^https?$/, error: 'WEBHOOK_URL must be an http:// or https:// URL' }).optional(),
  webhookSecret: z.string().min(16, 'WEBHOOK_SECRET must be at least 16 characters').optional(),
  webhooks: z.object({
    /** Bound on one attempt (connect, send, status line). */
    timeoutMs: z.coerce.number().int().positive(),
    /** Delay after the first failed attempt; doubles per attempt up to retryMaxMs. */
    retryBaseMs: z.coerce.number().int().positive(),
    retryMaxMs: z.coerce.number().int().positive(),
    /** Attempts before an event is given up. */
    maxAttempts: z.coerce.number().int().positive().max(100),
    /** Longest time between two reads of the outbox. */
    pollMs: z.coerce.number().int().min(10),
    /** Attempts in flight at once per process. */
    concurrency: z.coerce.number().int().positive().max(256),
    /** Between two sweeps for message.created / conversation.ended events left behind by a crash (one also runs at start). */
    sweepMs: z.coerce.number().int().min(100),
  }),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  dataDir: z.string().min(1),
  allowedOrigins: z.array(z.string()),
  customerTokenTtlSeconds: z.coerce.number().int().positive(),
  agentTokenTtlSeconds: z.coerce.number().int().positive(),
  /** How long a process trusts an agent's token epoch read from the database: another process's revocation is seen within it. */
  revocationCacheMs: z.coerce.number().int().min(0),
  defaultMaxChats: z.coerce.number().int().positive(),
  jsonBodyLimit: z.string(),
  socketMaxPayloadBytes: z.coerce.number().int().positive(),
  dbTimeoutMs: z.coerce.number().int().positive(),
  /** On SIGTERM, how long /ready answers 503 (and new connections are refused) before the listener closes. */
  drainNoticeMs: z.coerce.number().int().min(0).max(5000),
  dbServerSelectionTimeoutMs: z.coerce.number().int().positive(),
  historyLimit: z.coerce.number().int().positive().max(1000),
  historyCacheMessages: z.coerce.number().int().min(0),
  /** Caches are bounded by approximate bytes, and entries larger than maxEntryBytes are not cached. */
  caches: z.object({
    historyMaxBytes: z.coerce.number().int().min(0),
    conversationMaxBytes: z.coerce.number().int().min(0),
    /** Recent sends remembered to answer clientMessageId retries. */
    recentSendsMaxBytes: z.coerce.number().int().min(0),
    maxEntryBytes: z.coerce.number().int().positive(),
  }),
  sockets: z.object({
    /** Bytes of message JSON a conversationInfo carries at most (the newest message always goes). */
    joinHistoryMaxBytes: z.coerce.number().int().positive(),
    /** A connection with more than this queued and unread is closed. */
    maxBufferedBytes: z.coerce.number().int().positive(),
    /** How often every connection's unread backlog is looked at. */
    backlogCheckMs: z.coerce.number().int().min(10),
    /** joinConversation events per minute and connection. */
    joinsPerMinute: z.coerce.number().int().positive(),
    /** Sockets at once per agent, customer or visitor, over both namespaces (0: no cap). */
    maxPerPrincipal: z.coerce.number().int().min(0),
    /** Sockets at once per client address, over both namespaces (0: no cap). */
    maxPerAddress: z.coerce.number().int().min(0),
    /** A refused socket event is logged once per this interval per sender, event and code. */
    refusalLogMs: z.coerce.number().int().min(0),
  }),
  greeting: z.string(),
  rateLimits: z.object({
    initPerMinutePerIp: z.coerce.number().int().positive(),
    socketEventsPerSecond: z.coerce.number().int().positive(),
  }),
  connectors: z.object({
    /** How long the hub waits for a connector's ack to messageArrived. */
    ackTimeoutMs: z.coerce.number().int().positive(),
    /** First retry delay after a retryable failure; doubles per attempt up to retryMaxMs. */
    retryBaseMs: z.coerce.number().int().positive(),
    retryMaxMs: z.coerce.number().int().positive(),
    /** Hand-overs tried before a message is marked FAILED. */
    maxAttempts: z.coerce.number().int().positive(),
    /** Messages awaiting an ack per connector socket. */
    maxInFlightPerSocket: z.coerce.number().int().positive(),
    /** Delivery-state changes per bulk write. */
    stateBatch: z.coerce.number().int().positive().max(1000),
    /** Hand-overs pause while this many delivery states are not yet stored. */
    maxUnsettled: z.coerce.number().int().positive(),
    /** With REDIS_URL: how long a connector's outbox lease lasts unrenewed (a crashed holder's pool moves after this). */
    leaseMs: z.coerce.number().int().min(1500),
    /** With REDIS_URL: how often the lease holder reads messages other processes stored (hints usually come first). */
    pollMs: z.coerce.number().int().positive(),
  }),
  channels: z.array(channelConfigSchema),
  chatPlugin: z.object({
    /** Chat plugin tokens (chatplugin.authenticate): short-lived; the widget renews with its resume token. */
    tokenTtlSeconds: z.coerce.number().int().positive(),
    /** Resume tokens: long-lived, scoped to one conversation and channel, revocable. */
    resumeTokenTtlSeconds: z.coerce.number().int().positive(),
    /** chatplugin.authenticate calls per minute and client IP. */
    authenticatePerMinutePerIp: z.coerce.number().int().positive(),
  }),
  messagesApi: z.object({
    /** How long messages.send keeps looking for a conversation it answered 202 for, before reporting the failure. */
    deferredSendGraceMs: z.coerce.number().int().min(0),
    /** How often deferred sends are looked at again. */
    deferredSendPollMs: z.coerce.number().int().min(20),
  }),
  routing: z.object({
    /** How long an agent whose last socket closed stays ready, waiting for them to reconnect. */
    agentGraceMs: z.coerce.number().int().min(0),
    /** How often each process renews its agents' presence and offers the queue again. */
    sweepMs: z.coerce.number().int().min(50),
    /** Waiting conversations read per round trip. */
    batch: z.coerce.number().int().positive().max(1000),
  }),
})
  // Signing is not optional: an unsigned webhook could be forged by anyone who learns the URL.
  .refine((c) => !c.webhookUrl || c.webhookSecret, { path: ['webhookSecret'], error: 'WEBHOOK_SECRET is required when WEBHOOK_URL is set' })
  // Otherwise every join of a busy conversation would close the joiner's connection.
  .refine((c) => c.sockets.maxBufferedBytes >= c.sockets.joinHistoryMaxBytes + c.socketMaxPayloadBytes, {
    path: ['sockets', 'maxBufferedBytes'],
    error: 'SOCKET_MAX_BUFFERED_BYTES must be at least JOIN_HISTORY_MAX_BYTES + socketMaxPayloadBytes',
  });

export type Config = z.infer<typeof configSchema>;

/** Secrets generated for a development instance, kept under DATA_DIR so restarts keep tokens valid. */
function devSecrets(dataDir: string): { hubSecret: string; systemToken: string; file: string } {
  const file = join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { hubSecret: string; systemToken: string };
    return { ...saved, file };
  }
  mkdirSync(dirname(file), { recursive: true });
  const secrets = { hubSecret: randomBytes(32).toString('hex'), systemToken: randomBytes(24).toString('hex') };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return { ...secrets, file };
}

export interface LoadedConfig {
  config: Config;
  /** Set when secrets were generated or read from DATA_DIR (development only). */
  devSecretsFile?: string;
}

/** Reads config/default.json, applies environment overrides, and validates the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const defaults = JSON.parse(readFileSync(join(PROJECT_ROOT, 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
  const rate = (defaults['rateLimits'] ?? {}) as Record<string, unknown>;
  const conn = (defaults['connectors'] ?? {}) as Record<string, unknown>;
  const mail = (defaults['mail'] ?? {}) as Record<string, unknown>;
  const transcripts = (defaults['transcripts'] ?? {}) as Record<string, unknown>;
  const routing = (defaults['routing'] ?? {}) as Record<string, unknown>;
  const chatPlugin = (defaults['chatPlugin'] ?? {}) as Record<string, unknown>;
  const messagesApi = (defaults['messagesApi'] ?? {}) as Record<string, unknown>;
  const webhooks = (defaults['webhooks'] ?? {}) as Record<string, unknown>;
  const caches = (defaults['caches'] ?? {}) as Record<string, unknown>;
  const sockets = (defaults['sockets'] ?? {}) as Record<string, unknown>;
  const dataDir = resolve(env['DATA_DIR'] ?? String(defaults['dataDir']));
  let hubSecret = env['HUB_SECRET'];
  let systemToken = env['SYSTEM_TOKEN'];
  let devSecretsFile: string | undefined;
  if (!hubSecret || !systemToken) {
    if (env['NODE_ENV'] === 'production') {
      throw new Error('HUB_SECRET and SYSTEM_TOKEN must be set when NODE_ENV=production');
    }
    const generated = devSecrets(dataDir);
    hubSecret ??= generated.hubSecret;
    systemToken ??= generated.systemToken;
    devSecretsFile = generated.file;
  }
  const raw = {
    ...defaults,
    port: env['PORT'] ?? defaults['port'],
    host: env['HOST'] ?? defaults['host'],
    trustProxy: env['TRUST_PROXY'] ?? defaults['trustProxy'],
    mongodbUri: env['MONGODB_URI'] || undefined,
    hubSecret,
    systemToken,
    connectorKeys: parseConnectorKeys(env['CONNECTOR_KEYS']),
    smtpUrl: env['SMTP_URL'] || undefined,
    mailFrom: env['MAIL_FROM'] ?? defaults['mailFrom'],
    mail: {
      ...mail,
      timeoutMs: env['SMTP_TIMEOUT_MS'] ?? mail['timeoutMs'],
      perRecipientPerHour: env['MAIL_PER_RECIPIENT_PER_HOUR'] ?? mail['perRecipientPerHour'],
      globalPerMinute: env['MAIL_GLOBAL_PER_MINUTE'] ?? mail['globalPerMinute'],
    },
    requestIdReplayWindowMs: env['REQUEST_ID_REPLAY_WINDOW_MS'] ?? defaults['requestIdReplayWindowMs'],
    transcripts: {
      ...transcripts,
      timeZone: env['TRANSCRIPT_TIME_ZONE'] ?? transcripts['timeZone'],
      perMinutePerCaller: env['RATE_LIMIT_TRANSCRIPTS_PER_MINUTE'] ?? transcripts['perMinutePerCaller'],
      maxConcurrent: env['TRANSCRIPT_MAX_CONCURRENT'] ?? transcripts['maxConcurrent'],
      maxQueued: env['TRANSCRIPT_MAX_QUEUED'] ?? transcripts['maxQueued'],
      maxInputChars: env['TRANSCRIPT_MAX_INPUT_CHARS'] ?? transcripts['maxInputChars'],
      maxPages: env['TRANSCRIPT_MAX_PAGES'] ?? transcripts['maxPages'],
      maxPdfBytes: env['TRANSCRIPT_MAX_PDF_BYTES'] ?? transcripts['maxPdfBytes'],
      renderTimeoutMs: env['TRANSCRIPT_RENDER_TIMEOUT_MS'] ?? transcripts['renderTimeoutMs'],
      responseDeadlineMs: env['TRANSCRIPT_RESPONSE_DEADLINE_MS'] ?? transcripts['responseDeadlineMs'],
      cacheMaxBytes: env['TRANSCRIPT_CACHE_MAX_BYTES'] ?? transcripts['cacheMaxBytes'],
    },
    redisUrl: env['REDIS_URL'] || undefined,
    drainNoticeMs: env['DRAIN_NOTICE_MS'] ?? defaults['drainNoticeMs'],
    webhookUrl: env['WEBHOOK_URL'] || undefined,
    webhookSecret: env['WEBHOOK_SECRET'] || undefined,
    webhooks: {
      ...webhooks,
      timeoutMs: env['WEBHOOK_TIMEOUT_MS'] ?? webhooks['timeoutMs'],
      retryBaseMs: env['WEBHOOK_RETRY_BASE_MS'] ?? webhooks['retryBaseMs'],
      maxAttempts: env['WEBHOOK_MAX_ATTEMPTS'] ?? webhooks['maxAttempts'],
      sweepMs: env['WEBHOOK_SWEEP_MS'] ?? webhooks['sweepMs'],
    },
    logLevel: env['LOG_LEVEL'] ?? defaults['logLevel'],
    dataDir,
    historyCacheMessages: env['HISTORY_CACHE_MESSAGES'] ?? defaults['historyCacheMessages'],
    customerTokenTtlSeconds: env['CUSTOMER_TOKEN_TTL_SECONDS'] ?? defaults['customerTokenTtlSeconds'],
    agentTokenTtlSeconds: env['AGENT_TOKEN_TTL_SECONDS'] ?? defaults['agentTokenTtlSeconds'],
    revocationCacheMs: env['REVOCATION_CACHE_MS'] ?? defaults['revocationCacheMs'],
    caches: {
      ...caches,
      historyMaxBytes: env['HISTORY_CACHE_MAX_BYTES'] ?? caches['historyMaxBytes'],
      conversationMaxBytes: env['CONVERSATION_CACHE_MAX_BYTES'] ?? caches['conversationMaxBytes'],
      recentSendsMaxBytes: env['RECENT_SENDS_CACHE_MAX_BYTES'] ?? caches['recentSendsMaxBytes'],
      maxEntryBytes: env['CACHE_MAX_ENTRY_BYTES'] ?? caches['maxEntryBytes'],
    },
    sockets: {
      ...sockets,
      joinHistoryMaxBytes: env['JOIN_HISTORY_MAX_BYTES'] ?? sockets['joinHistoryMaxBytes'],
      maxBufferedBytes: env['SOCKET_MAX_BUFFERED_BYTES'] ?? sockets['maxBufferedBytes'],
      joinsPerMinute: env['RATE_LIMIT_JOINS_PER_MINUTE'] ?? sockets['joinsPerMinute'],
      maxPerPrincipal: env['MAX_SOCKETS_PER_PRINCIPAL'] ?? sockets['maxPerPrincipal'],
      maxPerAddress: env['MAX_SOCKETS_PER_ADDRESS'] ?? sockets['maxPerAddress'],
    },
    allowedOrigins: env['ALLOWED_ORIGINS'] !== undefined ? csv(env['ALLOWED_ORIGINS']) : defaults['allowedOrigins'],
    rateLimits: {
      initPerMinutePerIp: env['RATE_LIMIT_INIT_PER_MINUTE'] ?? rate['initPerMinutePerIp'],
      socketEventsPerSecond: env['RATE_LIMIT_SOCKET_EVENTS_PER_SECOND'] ?? rate['socketEventsPerSecond'],
    },
    connectors: {
      ...conn,
      ackTimeoutMs: env['CONNECTOR_ACK_TIMEOUT_MS'] ?? conn['ackTimeoutMs'],
      retryBaseMs: env['CONNECTOR_RETRY_BASE_MS'] ?? conn['retryBaseMs'],
      maxAttempts: env['CONNECTOR_MAX_ATTEMPTS'] ?? conn['maxAttempts'],
      leaseMs: env['CONNECTOR_LEASE_MS'] ?? conn['leaseMs'],
    },
    channels: parseChannels(env['CHANNELS'], defaults['channels']),
    chatPlugin: {
      ...chatPlugin,
      tokenTtlSeconds: env['CHATPLUGIN_TOKEN_TTL_SECONDS'] ?? chatPlugin['tokenTtlSeconds'],
      resumeTokenTtlSeconds: env['RESUME_TOKEN_TTL_SECONDS'] ?? chatPlugin['resumeTokenTtlSeconds'],
      authenticatePerMinutePerIp: env['RATE_LIMIT_CHATPLUGIN_AUTH_PER_MINUTE'] ?? chatPlugin['authenticatePerMinutePerIp'],
    },
    messagesApi: {
      ...messagesApi,
      deferredSendGraceMs: env['DEFERRED_SEND_GRACE_MS'] ?? messagesApi['deferredSendGraceMs'],
      deferredSendPollMs: env['DEFERRED_SEND_POLL_MS'] ?? messagesApi['deferredSendPollMs'],
    },
    routing: {
      ...routing,
      agentGraceMs: env['AGENT_GRACE_MS'] ?? routing['agentGraceMs'],
      sweepMs: env['ROUTING_SWEEP_MS'] ?? routing['sweepMs'],
    },
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return devSecretsFile ? { config: parsed.data, devSecretsFile } : { config: parsed.data };
}
