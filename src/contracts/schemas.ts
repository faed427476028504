import { z } from 'zod';
import { HubError, type FieldIssue } from './errors.js';

/**
 * Wire schemas for every edge of the hub. Types are derived from them, so the
 * validation and the TypeScript view can never drift apart.
 */

const MAX_NAME = 200;
export const MAX_TEXT = 20_000;

/** Any identifier a client may send: printable, bounded, never an object. */
const idString = z.string().trim().min(1).max(200);
/** A skill group: the routing queue a conversation waits in ("" = any agent). */
const subjectSchema = z.string().trim().max(100);
export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i, 'must be a UUID');

export const ROLES = ['customer', 'agent', 'bot', 'connector', 'system'] as const;
export const CHANNELS = ['web', 'fb', 'sms', 'twitter'] as const;
export const ACTIVITY_TYPES = [
  'greetings',
  'typing',
  'participantAdded',
  'participantRemoved',
  'participantJoined',
  'participantLeft',
  'endOfConversation',
  'handOff',
  'noAgentAvailable',
] as const;

export const participantSchema = z.strictObject({
  id: idString,
  name: z.string().trim().max(MAX_NAME),
  role: z.enum(ROLES).optional(),
});
export type Participant = { id: string; name: string; role?: (typeof ROLES)[number] };
export type Role = (typeof ROLES)[number];
export type Channel = (typeof CHANNELS)[number];
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

const urlWithScheme = z
  .string()
  .max(2_000_000)
  .refine((value) => {
    try {
      const scheme = new URL(value).protocol;
      return scheme === 'http:' || scheme === 'https:' || scheme === 'data:';
    } catch {
      return false;
    }
  }, 'must be an http, https or data URL');

export const attachmentSchema = z.strictObject({
  type: z.string().trim().min(1).max(255),
  name: z.string().trim().min(1).max(500),
  contentUrl: urlWithScheme,
  thumbnailUrl: urlWithScheme.optional(),
});
export type Attachment = z.infer<typeof attachmentSchema>;

/** Deepest nesting a client's JSON object may have (the object itself is level 1); MongoDB refuses documents nested past 100. */
export const MAX_JSON_DEPTH = 20;
const MAX_JSON_KEY = 100;
const MAX_JSON_STRING = 10_000;
const MAX_JSON_ARRAY = 100;

type JsonProblem = { path: Array<string | number>; message: string };

/**
 * The first reason `value` (at `path`, `depth` levels deep) could not be stored as a document
 * field: a key starting with "$" or holding "." or NUL (anywhere, arrays included), nesting past
 * MAX_JSON_DEPTH, or a value JSON cannot carry. Recursion stops at the depth bound, so a hostile
 * nesting cannot exhaust the stack.
 */
function jsonProblem(value: unknown, path: Array<string | number>, depth: number): JsonProblem | undefined {
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path, message: 'must be a finite number' };
  if (typeof value === 'string') return value.length <= MAX_JSON_STRING ? undefined : { path, message: `must be at most ${MAX_JSON_STRING} characters` };
  if (typeof value !== 'object') return { path, message: 'must be a JSON value' };
  if (depth > MAX_JSON_DEPTH) return { path, message: `nests deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    if (value.length > MAX_JSON_ARRAY) return { path, message: `must have at most ${MAX_JSON_ARRAY} items` };
    for (let i = 0; i < value.length; i += 1) {
      const problem = jsonProblem(value[i], [...path, i], depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return { path, message: 'must be a plain JSON object' };
  for (const [key, item] of Object.entries(value)) {
    if (key.length === 0 || key.length > MAX_JSON_KEY || key.startsWith('$') || key.includes('.') || key.includes('\0')) {
      return { path: [...path, key], message: `keys must be 1-${MAX_JSON_KEY} characters and must not start with "$" or contain "." or NUL` };
    }
    const problem = jsonProblem(item, [...path, key], depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * A plain JSON object a client may attach (metadata, info): its keys can never be read as query
 * operators or paths, at any depth, and every document holding it is one MongoDB stores.
 */
export const jsonObject: z.ZodType<Record<string, unknown>> = z.custom<Record<string, unknown>>().superRefine((value, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
    return;
  }
  const problem = jsonProblem(value, [], 1);
  if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
});

// ---------------------------------------------------------------- HTTP: init

/** A phone number as people write it: digits, an optional leading +, spaces and ()./- between. */
export const phoneSchema = z
  .string()
  .trim()
  .regex(/^\+?[0-9 ()./-]{3,32}$/, 'must be a phone number');

const customerFields = {
  firstName: z.string().trim().min(1, 'is required').max(MAX_NAME),
  lastName: z.string().trim().max(MAX_NAME).optional(),
  email: z.email('must be an email address').max(320).optional(),
  phone: phoneSchema.optional(),
  channel: z.enum(CHANNELS, { message: `must be one of ${CHANNELS.join(', ')}` }),
  language: z
    .string()
    .regex(/^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$/, 'must be a language tag such as "en" or "de-AT"')
    .optional(),
  refId: z.string().trim().min(1).max(200).optional(),
  url: z.string().max(2000).optional(),
  comment: z.string().max(2000).optional(),
  subject: subjectSchema.optional(),
  requestId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be a GUID (1-128 letters, digits, ".", "_", ":" or "-")')
    .optional(),
  timestamp: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time' }).optional(),
};
const KNOWN_INIT_FIELDS = new Set(Object.keys(customerFields));
const MAX_CUSTOM_FIELDS = 50;

export const initSchema = z
  .object(customerFields)
  .catchall(z.union([z.string().max(2000), z.number(), z.boolean(), z.null()]))
  .superRefine((body, ctx) => {
    if (!body.refId && !body.phone && !body.email) {
      ctx.addIssue({ code: 'custom', path: ['refId'], message: 'at least one identifier (refId, phone or email) is required' });
    }
    let custom = 0;
    for (const key of Object.keys(body)) {
      if (KNOWN_INIT_FIELDS.has(key)) continue;
      custom += 1;
      if (key.startsWith('$') || key.includes('.') || key.length > 100) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'custom field names must not start with "$", contain "." or exceed 100 characters' });
      }
    }
    if (custom > MAX_CUSTOM_FIELDS) {
      ctx.addIssue({ code: 'custom', path: [], message: `at most ${MAX_CUSTOM_FIELDS} custom fields are allowed` });
    }
  });
export type InitRequest = z.infer<typeof initSchema>;
/** Separates the contract's named init fields from the customer's custom data. */
export function splitCustomFields(body: InitRequest): Record<string, string | number | boolean | null> {
  const custom: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!KNOWN_INIT_FIELDS.has(key)) custom[key] = value as string | number | boolean | null;
  }
  return custom;
}

export const agentTokenSchema = z.strictObject({
  id: idString,
  name: z.string().trim().min(1).max(MAX_NAME),
  skills: z.array(z.string().trim().min(1).max(100)).max(100).default([]),
  maxChats: z.number().int().min(1).max(1000).optional(),
});
export type AgentTokenRequest = z.infer<typeof agentTokenSchema>;

// ---------------------------------------------------------------- socket events

const tokenField = z.string().min(1).max(8192).optional();

export const joinConversationSchema = z.strictObject({
  conversationId: uuid,
  id: idString,
  name: z.string().trim().max(MAX_NAME).optional(),
  token: tokenField,
  /** Catch-up: a seq the client already has; conversationInfo then carries the visible messages after it. */
  afterSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
export type JoinConversationPayload = z.infer<typeof joinConversationSchema>;

const messageBase = {
  conversationId: uuid.optional(),
  from: participantSchema,
  to: z.array(participantSchema).max(100).default([]),
  refId: z.string().trim().max(200).optional(),
  channel: z.enum(CHANNELS).optional(),
  tag: z.enum(['', 'whisper']).default(''),
  metadata: jsonObject.default({}),
  clientMessageId: z.string().min(1).max(200).optional(),
  token: tokenField,
  // Accepted and ignored: the hub assigns these.
  state: z.string().max(20).optional(),
};

export const chatMessageInputSchema = z.strictObject({
  ...messageBase,
  type: z.literal('ChatMessage'),
  text: z.string().max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`).default(''),
  attachments: z.array(attachmentSchema).max(20).default([]),
});

export const activityMessageInputSchema = z.strictObject({
  ...messageBase,
  type: z.literal('ActivityMessage'),
  activityType: z.enum(ACTIVITY_TYPES),
  info: jsonObject.default({}),
});

export const sendMessageSchema = z.discriminatedUnion('type', [chatMessageInputSchema, activityMessageInputSchema], {
  message: 'type must be "ChatMessage" or "ActivityMessage"',
});
export type SendMessagePayload = z.infer<typeof sendMessageSchema>;

export const endConversationSchema = z.strictObject({
  conversationId: uuid,
  token: tokenField,
});
export type EndConversationPayload = z.infer<typeof endConversationSchema>;

// ---------------------------------------------------------------- agents and routing (§4)

export const agentStateSchema = z.strictObject({
  state: z.enum(['ready', 'notReady'], { message: 'must be "ready" or "notReady"' }),
  token: tokenField,
});
export type AgentStatePayload = z.infer<typeof agentStateSchema>;

export const transferConversationSchema = z
  .strictObject({
    conversationId: uuid,
    toAgentId: idString.optional(),
    toSubject: subjectSchema.optional(),
    token: tokenField,
  })
  .superRefine((value, ctx) => {
    if ((value.toAgentId === undefined) === (value.toSubject === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['toAgentId'], message: 'give exactly one of toAgentId and toSubject' });
    }
  });
export type TransferConversationPayload = z.infer<typeof transferConversationSchema>;

export const leaveConversationSchema = z.strictObject({
  conversationId: uuid,
  token: tokenField,
});

// ---------------------------------------------------------------- connectors (§5)

/** A connector id doubles as its channel name: short, lower-case, safe in room and key names. */
export const connectorId = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be a connector id: lower-case letters, digits, "_" or "-", at most 32');

export const registerConnectorSchema = z.strictObject({
  id: connectorId,
  name: z.string().trim().min(1).max(MAX_NAME),
  channel: connectorId,
  key: z.string().min(1).max(1000).optional(),
});
export type RegisterConnectorPayload = z.infer<typeof registerConnectorSchema>;

/** A customer's message relayed by a connector: addressed by channel and refId, never by conversation. */
export const connectorInboundSchema = z
  .strictObject({
    type: z.literal('ChatMessage', { message: 'connectors relay ChatMessages' }),
    channel: connectorId,
    refId: z.string().trim().min(1).max(200),
    from: z.strictObject({ id: z.string().max(200).optional(), name: z.string().trim().max(MAX_NAME).optional() }).optional(),
    text: z.string().max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`).default(''),
    attachments: z.array(attachmentSchema).max(20).default([]),
    clientMessageId: z.string().min(1).max(200).optional(),
    metadata: jsonObject.default({}),
    customer: z
      .strictObject({
        firstName: z.string().trim().max(MAX_NAME).optional(),
        lastName: z.string().trim().max(MAX_NAME).optional(),
        email: z.email('must be an email address').max(320).optional(),
        phone: z.string().trim().max(40).optional(),
        language: z.string().max(35).optional(),
      })
      .optional(),
  })
  .refine((m) => m.text.length > 0 || m.attachments.length > 0, { message: 'a message needs text or attachments', path: ['text'] });
export type ConnectorInboundPayload = z.infer<typeof connectorInboundSchema>;

export const messageStatusSchema = z.strictObject({
  messageId: uuid,
  state: z.enum(['DELIVERED', 'FAILED']),
  externalId: z.string().min(1).max(200).optional(),
  error: z.strictObject({ message: z.string().max(2000) }).optional(),
});
export type MessageStatusPayload = z.infer<typeof messageStatusSchema>;

/** A connector's answer to messageArrived; anything else counts as a retryable failure. */
export const deliveryAckSchema = z.union([
  z.object({ ok: z.literal(true), externalId: z.string().max(200).optional(), state: z.enum(['DELIVERED', 'PENDING']).optional() }),
  z.object({
    ok: z.literal(false),
    error: z.object({ message: z.string().max(2000).default('refused by the connector'), retryable: z.boolean().optional() }),
  }),
]);
export type DeliveryAck = z.infer<typeof deliveryAckSchema>;

// ---------------------------------------------------------------- HTTP: channels, campaigns, listing

export const channelsConnectSchema = z.strictObject({
  source: connectorId,
  name: z.string().trim().min(1).max(MAX_NAME),
});

/** The body of messages.send: what every shipped connector can carry (text, attachments, metadata). */
export const outboundContent = z
  .strictObject({
    text: z.string().max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`).default(''),
    attachments: z.array(attachmentSchema).max(20).default([]),
    metadata: jsonObject.default({}),
  })
  .refine((m) => m.text.length > 0 || m.attachments.length > 0, { message: 'a message needs text or attachments', path: ['text'] });

export const campaignSendSchema = z.strictObject({
  source_recipient_id: z.string().trim().min(1).max(200),
  channel_id: z.string().min(1).max(128),
  message: outboundContent,
});
export type CampaignSendRequest = z.infer<typeof campaignSendSchema>;

/** messages.send with a known conversation (seed 002's first form). */
export const conversationSendSchema = z.strictObject({
  conversation_id: uuid,
  message: outboundContent,
});

export const messagesResendSchema = z.strictObject({ message_id: uuid });

export const conversationsQuerySchema = z.strictObject({
  status: z.enum(['queued', 'active', 'ended']).optional(),
  subject: z.string().max(100).optional(),
  channel: z.string().max(32).optional(),
  refId: z.string().max(200).optional(),
  agentId: z.string().max(200).optional(),
  cursor: z.string().max(500).optional(),
  page_size: z.coerce.number().int().min(1, 'must be 1-100').max(100, 'must be 1-100').default(25),
});
export type ConversationsQuery = z.infer<typeof conversationsQuerySchema>;

/** POST /api/agents/:id/revoke's path. */
export const agentParamsSchema = z.strictObject({ id: idString });

export const agentsQuerySchema = z.strictObject({
  state: z.enum(['ready', 'notReady']).optional(),
  skill: z.string().max(100).optional(),
  cursor: z.string().max(500).optional(),
  page_size: z.coerce.number().int().min(1, 'must be 1-100').max(100, 'must be 1-100').default(50),
});

// ---------------------------------------------------------------- HTTP: transcripts

/** An IANA time zone this runtime knows, e.g. "UTC" or "Europe/Berlin". */
export const timeZoneSchema = z
  .string()
  .max(64)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as "UTC" or "Europe/Berlin"');

export const TRANSCRIPT_TYPES = ['pdf', 'email'] as const;

export const transcriptParamsSchema = z.strictObject({
  id: uuid,
  type: z.enum(TRANSCRIPT_TYPES, { message: `must be one of ${TRANSCRIPT_TYPES.join(', ')}` }),
});

export const transcriptQuerySchema = z.strictObject({
  /** Extension: where the mail goes, for agents and the system token. One plain address. */
  to: z.email('must be one email address').max(320).optional(),
  /** Extension: the zone times are shown in. */
  tz: timeZoneSchema.optional(),
});

// ---------------------------------------------------------------- helpers

function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join('.') : '(body)',
    message: issue.message,
  }));
}

/**
 * The path of the first string (value or key) in `input` that holds a NUL character (U+0000),
 * if any. Text with NUL is refused everywhere: it is never chat text, many consumers of the
 * hub's data (C libraries, SMS gateways, PostgreSQL-backed stores) cut or refuse it, and a
 * message must not be accepted that could not be stored and read back as sent.
 */
export function nulPath(input: unknown): string | undefined {
  const stack: { value: unknown; path: string }[] = [{ value: input, path: '' }];
  let visited = 0;
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    visited += 1;
    if (visited > 100_000) return undefined; // the schema's own bounds answer for anything bigger
    if (typeof value === 'string') {
      if (value.includes('\0')) return path || '(body)';
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i -= 1) stack.push({ value: value[i], path: path ? `${path}.${i}` : String(i) });
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        const at = path ? `${path}.${key}` : key;
        if (key.includes('\0')) return at;
        stack.push({ value: item, path: at });
      }
    }
  }
  return undefined;
}

/** Parses `input` with `schema` or throws BAD_REQUEST naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new HubError('BAD_REQUEST', `${what} must be a JSON object`);
  }
  const nul = nulPath(input);
  if (nul !== undefined) {
    const message = 'must not contain NUL characters (U+0000)';
    throw new HubError('BAD_REQUEST', `Invalid ${what}: ${nul}: ${message}`, [{ field: nul, message }]);
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details = issuesOf(result.error);
  const summary = details
    .slice(0, 5)
    .map((d) => `${d.field}: ${d.message}`)
    .join('; ');
  throw new HubError('BAD_REQUEST', `Invalid ${what}: ${summary}`, details);
}
