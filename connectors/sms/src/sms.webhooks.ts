import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { inboundFromForm, statusFromForm, type InboundSms, type StatusReport } from './sms.forms.js';
import { verifyTwilioRequest, type FormParams } from './twilio-signature.js';

/** The two hub calls the webhooks make; HubConnector satisfies it, tests pass a fake. */
export interface SmsHubPort {
  sendInbound(payload: InboundSms): Promise<unknown>;
  reportStatus(payload: StatusReport): Promise<unknown>;
}

export interface SmsWebhookOptions {
  authToken: string;
  /** The public base URL the provider posts to; without it the URL is rebuilt from the request's Host header. */
  publicUrl?: string | undefined;
  hub: SmsHubPort;
  logger: Logger;
}

/** An empty TwiML answer: the message was taken and there is nothing to reply automatically. */
export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/**
 * Hub error codes that refuse the content itself: retrying the same webhook cannot succeed.
 * Every other failure (UNAVAILABLE, an ack timeout, a disconnect, an unknown code) is treated
 * as transient and answered 503 so the provider tries again.
 */
const PERMANENT_HUB_CODES = new Set(['BAD_REQUEST', 'FORBIDDEN', 'NOT_FOUND', 'CONVERSATION_ENDED', 'PAYLOAD_TOO_LARGE']);

/** The hub's error code, read structurally so this module does not depend on the SDK's classes. */
export function hubErrorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') return (err as { code: string }).code;
  return undefined;
}

export function isPermanentHubError(err: unknown): boolean {
  const code = hubErrorCode(err);
  return code !== undefined && PERMANENT_HUB_CODES.has(code);
}

/** The URL the provider signed: PUBLIC_URL + path + query, or this request's own URL. */
export function signedUrl(req: Request, publicUrl: string | undefined): string {
  if (publicUrl) return `${publicUrl}${req.originalUrl}`;
  return `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
}

/** POST /inbound and POST /status, both signed with the account's auth token (mount under /sms). */
export function createSmsWebhooks(options: SmsWebhookOptions): Router {
  const { hub, logger } = options;
  const router = express.Router();
  // extended: false keeps parameters flat (a repeated name becomes an array), as the signature needs.
  router.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 }));

  /** Answers 403 and returns undefined unless the request carries a valid X-Twilio-Signature. */
  const verified = (req: Request, res: Response): FormParams | undefined => {
    const params = (req.body ?? {}) as FormParams;
    const url = signedUrl(req, options.publicUrl);
    if (!verifyTwilioRequest(options.authToken, url, params, req.get('x-twilio-signature'))) {
      // Only the path: the signed URL could carry credentials embedded in PUBLIC_URL.
      logger.warn({ path: req.originalUrl, hasSignature: req.get('x-twilio-signature') !== undefined }, 'webhook refused: invalid signature');
      res.status(403).type('text/plain').send('invalid signature');
      return undefined;
    }
    return params;
  };

  /** 503 for transient hub failures (the provider retries), 422 when the hub refused the content. */
  const hubFailure = (res: Response, err: unknown, what: string, context: Record<string, unknown>): void => {
    const code = hubErrorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    if (isPermanentHubError(err)) {
      logger.error({ ...context, code, err: message }, `${what} refused by the hub`);
      res.status(422).type('text/plain').send(`refused by the hub: ${code}`);
      return;
    }
    logger.warn({ ...context, code, err: message }, `${what} not taken: hub unavailable, asking the provider to retry`);
    res.status(503).set('retry-after', '5').type('text/plain').send('hub unavailable, retry later');
  };

  router.post('/inbound', async (req, res) => {
    const params = verified(req, res);
    if (!params) return;
    const mapped = inboundFromForm(params);
    if (!mapped.ok) {
      logger.warn({ error: mapped.error }, 'inbound webhook refused: invalid parameters');
      res.status(400).type('text/plain').send(mapped.error);
      return;
    }
    const context = { messageSid: mapped.value.clientMessageId, media: mapped.value.attachments.length };
    try {
      const result = (await hub.sendInbound(mapped.value)) as { conversationId?: string; message?: { id?: string } } | undefined;
      logger.debug({ ...context, conversationId: result?.conversationId, messageId: result?.message?.id }, 'inbound SMS stored');
      res.status(200).type('text/xml').send(EMPTY_TWIML);
    } catch (err) {
      hubFailure(res, err, 'inbound SMS', context);
    }
  });

  router.post('/status', async (req, res) => {
    const params = verified(req, res);
    if (!params) return;
    const messageId = typeof req.query['messageId'] === 'string' ? req.query['messageId'] : '';
    if (messageId === '') {
      res.status(400).type('text/plain').send('messageId query parameter missing');
      return;
    }
    const mapped = statusFromForm(messageId, params);
    if (!mapped.ok) {
      logger.warn({ messageId, error: mapped.error }, 'status webhook refused: invalid parameters');
      res.status(400).type('text/plain').send(mapped.error);
      return;
    }
    if (mapped.value.kind === 'ignore') {
      logger.debug({ messageId, status: mapped.value.status }, 'intermediate status ignored');
      res.status(204).end();
      return;
    }
    const { report } = mapped.value;
    const context = { messageId, messageSid: report.externalId, state: report.state };
    try {
      await hub.reportStatus(report);
      logger.debug(context, 'delivery status reported');
      res.status(200).end();
    } catch (err) {
      hubFailure(res, err, 'delivery status', context);
    }
  });

  return router;
}
