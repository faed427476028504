import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { fbWebhookBodySchema } from './fb-events.schema.js';
import { extractInbound, type FbInboundMessage } from './fb-inbound.js';
import { safeEqual, verifySignature } from './fb-signature.js';

/**
 * What the hub made of one inbound message: `stored` (acked, possibly as a repeat of an earlier
 * delivery) or `rejected` for good (the hub refused it as invalid; a retry by Meta cannot help).
 * The port throws when the hub could not be asked (disconnected, timed out, overloaded).
 */
export type InboundOutcome = 'stored' | 'rejected';

export interface FbWebhookDeps {
  appSecret: string;
  verifyToken: string;
  /** Hands one message to the hub and resolves once the hub acked it. */
  deliver(message: FbInboundMessage): Promise<InboundOutcome>;
  logger: Logger;
  /** Upper bound for one webhook body; Meta batches up to 1000 events. */
  bodyLimit?: string;
}

function queryString(req: Request, name: string): string | undefined {
  const value = (req.query as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** The Messenger webhook: `GET /webhook` (subscription handshake) and `POST /webhook` (signed events). */
export function createFbWebhookRouter(deps: FbWebhookDeps): Router {
  const { logger } = deps;
  const router = express.Router();

  router.get('/webhook', (req: Request, res: Response) => {
    const mode = queryString(req, 'hub.mode');
    const token = queryString(req, 'hub.verify_token');
    const challenge = queryString(req, 'hub.challenge');
    if (mode !== 'subscribe' || token === undefined || !safeEqual(token, deps.verifyToken)) {
      logger.warn({ mode }, 'webhook verification refused');
      res.status(403).type('text/plain').send('Forbidden');
      return;
    }
    if (!challenge) {
      res.status(400).type('text/plain').send('hub.challenge is required');
      return;
    }
    logger.info('webhook verified');
    // Echo the challenge verbatim as plain text (nosniff keeps browsers from rendering it as markup).
    res.status(200).set('x-content-type-options', 'nosniff').type('text/plain').send(challenge);
  });

  // Any content type: the signature covers the exact bytes, which must reach us unparsed.
  const rawBody = express.raw({ type: () => true, limit: deps.bodyLimit ?? '2mb' });

  router.post('/webhook', rawBody, async (req: Request, res: Response) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!verifySignature(deps.appSecret, raw, req.get('x-hub-signature-256'))) {
      logger.warn({ bytes: raw.length, hasSignature: Boolean(req.get('x-hub-signature-256')) }, 'webhook signature invalid');
      res.status(403).type('text/plain').send('Forbidden');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      res.status(400).type('text/plain').send('body must be JSON');
      return;
    }
    const object = (json as { object?: unknown } | null)?.object;
    if (typeof object === 'string' && object !== 'page') {
      logger.info({ object }, 'webhook for another object ignored');
      res.status(404).type('text/plain').send('Not Found');
      return;
    }
    const parsed = fbWebhookBodySchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
      logger.warn({ issues }, 'webhook body malformed');
      res.status(400).type('text/plain').send(`malformed webhook body: ${issues.join('; ')}`);
      return;
    }

    const batch = extractInbound(parsed.data);
    for (const skipped of batch.skipped) logger.debug(skipped, 'messaging event ignored');

    const failed = await deliverAll(batch.messages, deps);
    if (failed > 0) {
      // Meta redelivers the whole batch; the mids make the already stored ones repeats.
      res.status(503).set('retry-after', '5').type('text/plain').send('hub unavailable');
      return;
    }
    res.status(200).type('text/plain').send('EVENT_RECEIVED');
  });

  return router;
}

/**
 * Delivers a batch: one sender's messages strictly in order (a later one waits for the earlier
 * one's ack and is not tried after it failed), different senders concurrently. Resolves with the
 * number of messages the hub could not be asked about.
 */
async function deliverAll(messages: FbInboundMessage[], deps: FbWebhookDeps): Promise<number> {
  const bySender = new Map<string, FbInboundMessage[]>();
  for (const m of messages) {
    const list = bySender.get(m.refId);
    if (list) list.push(m);
    else bySender.set(m.refId, [m]);
  }
  const failures = await Promise.all(
    [...bySender.values()].map(async (list) => {
      for (let i = 0; i < list.length; i += 1) {
        const message = list[i]!;
        try {
          const outcome = await deps.deliver(message);
          if (outcome === 'rejected') deps.logger.error({ mid: message.clientMessageId }, 'hub rejected an inbound message; dropped');
        } catch (err) {
          deps.logger.warn({ mid: message.clientMessageId, err: errorText(err) }, 'hub unavailable for an inbound message');
          return list.length - i;
        }
      }
      return 0;
    }),
  );
  return failures.reduce((a, b) => a + b, 0);
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
