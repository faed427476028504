import { createHash, timingSafeEqual } from 'node:crypto';
import { HubRequestError, type InboundInput, type InboundResult } from '@chat-hub/connector-sdk';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';

const MAX_NAME = 200;
const MAX_TEXT = 20_000;

const httpOrDataUrl = z
  .string()
  .max(2_000_000)
  .refine((value) => {
    try {
      return ['http:', 'https:', 'data:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, 'must be an http, https or data URL');

/** Keys that a document store could read as operators or paths are refused, at any depth. */
function safeKeys(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(safeKeys);
  if (value && typeof value === 'object') return Object.entries(value).every(([k, v]) => !k.startsWith('$') && !k.includes('.') && safeKeys(v));
  return true;
}

/** POST /messages body. Strict: an unknown field (a typo such as `userID`) is named in the 400 rather than dropped. */
export const inboundBodySchema = z
  .strictObject({
    userId: z.string().trim().min(1).max(200),
    name: z.string().trim().max(MAX_NAME).optional(),
    text: z.string().max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`).optional(),
    attachments: z
      .array(
        z.strictObject({
          type: z.string().trim().min(1).max(255),
          name: z.string().trim().min(1).max(500),
          contentUrl: httpOrDataUrl,
          thumbnailUrl: httpOrDataUrl.optional(),
        }),
      )
      .max(20)
      .optional(),
    messageId: z.string().trim().min(1).max(200).optional(),
    metadata: z.record(z.string(), z.unknown()).refine(safeKeys, 'keys must not start with "$" or contain "."').optional(),
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
  .refine((b) => (b.text !== undefined && b.text.length > 0) || (b.attachments?.length ?? 0) > 0, {
    message: 'a message needs text or attachments',
    path: ['text'],
  });
export type InboundBody = z.infer<typeof inboundBodySchema>;

/** The hub's error codes as HTTP statuses for the website. Problems between this connector and the hub are 5xx: the caller can only retry. */
const STATUS_BY_CODE: Record<string, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CONVERSATION_ENDED: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNAUTHORIZED: 503,
  FORBIDDEN: 503,
  UNAVAILABLE: 503,
  INTERNAL: 502,
};

export function statusForHubCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 502;
}

/** Maps the validated body to the SDK's inbound message. */
export function toInboundInput(body: InboundBody): InboundInput {
  const input: InboundInput = { refId: body.userId };
  if (body.name !== undefined) input.name = body.name;
  if (body.text !== undefined) input.text = body.text;
  if (body.attachments !== undefined) input.attachments = body.attachments;
  if (body.messageId !== undefined) input.clientMessageId = body.messageId;
  if (body.metadata !== undefined) input.metadata = body.metadata;
  if (body.customer !== undefined) input.customer = body.customer;
  return input;
}

/** Constant-time bearer check: both sides are hashed first, so neither length nor content leaks through timing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = createHash('sha256').update(match?.[1] ?? '').digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected) && match !== null;
}

export interface InboundDeps {
  inboundToken: string;
  sendInbound: (input: InboundInput) => Promise<InboundResult>;
  logger: Logger;
}

export function sendError(res: Response, status: number, code: string, message: string, details?: Array<{ field: string; message: string }>): void {
  const body: Record<string, unknown> = { error: message, code };
  if (details && details.length > 0) body['details'] = details;
  res.status(status).json(body);
}

/** POST /messages: the website relays what its user wrote. */
export function createInboundRouter(deps: InboundDeps): Router {
  const router = Router();
  // Authenticate before reading the body: an anonymous caller never costs a JSON parse.
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (bearerMatches(req.headers.authorization, deps.inboundToken)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer');
    sendError(res, 401, 'UNAUTHORIZED', 'missing or wrong bearer token');
  });
  router.post('/', express.json({ limit: '256kb', type: () => true }), async (req: Request, res: Response) => {
    const parsed = inboundBodySchema.safeParse(req.body);
    if (!parsed.success) {
      const details = parsed.error.issues.map((issue) => ({
        field: issue.path.length > 0 ? issue.path.join('.') : issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(body)',
        message: issue.message,
      }));
      return sendError(res, 400, 'BAD_REQUEST', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
    }
    try {
      const { conversationId, message } = await deps.sendInbound(toInboundInput(parsed.data));
      res.json({ conversationId, messageId: message.id });
    } catch (err) {
      if (!(err instanceof HubRequestError)) throw err;
      const status = statusForHubCode(err.code);
      deps.logger.warn({ event: 'inbound_refused', code: err.code, status }, 'the hub did not take an inbound message');
      if (status === 503) res.setHeader('Retry-After', '1');
      // 5xx bodies stay generic: the hub's internal reasons are not the website's business.
      if (status >= 500) return sendError(res, status, err.code === 'INTERNAL' ? 'BAD_GATEWAY' : 'UNAVAILABLE', 'the chat hub is not available; retry with the same messageId');
      sendError(res, status, err.code, err.message, err.details);
    }
  });
  return router;
}
