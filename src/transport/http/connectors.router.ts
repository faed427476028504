import { Router } from 'express';
import { HubError } from '../../contracts/errors.js';
import { campaignSendSchema, channelsConnectSchema, conversationSendSchema, messagesResendSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { ConnectorService } from '../../domain/connector.service.js';
import { toSeedMessage } from '../../domain/seed-view.js';
import type { DeferredSends } from '../../domain/deferred-sends.js';
import { principalOf, requireSystem, type Authenticator } from './auth.middleware.js';
import { idempotencyKey } from './idempotency.js';

/** §6's campaign path: channels.connect, messages.send, messages.resend. */
export function connectorsRouter(connectors: ConnectorService, deferred: DeferredSends, credentials: Authenticator): Router {
  const router = Router();

  router.post('/channels.connect', async (req, res) => {
    await requireSystem(req, credentials);
    const input = parseOrThrow(channelsConnectSchema, req.body, 'channels.connect request');
    res.json(await connectors.connectChannel(input.source, input.name));
  });

  router.post('/messages.send', async (req, res) => {
    await requireSystem(req, credentials);
    const key = idempotencyKey(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object' && 'conversation_id' in body) {
      const input = parseOrThrow(conversationSendSchema, body, 'messages.send request');
      const outcome = await deferred.sendOrDefer(input.conversation_id, input.message, key);
      if (outcome.status === 'sent') {
        res.json(toSeedMessage(outcome.message));
        return;
      }
      // Seed 002: 202 without a body; the header names the message a later failure report will carry.
      res.status(202).set('X-Message-Id', outcome.messageId).end();
      return;
    }
    const input = parseOrThrow(campaignSendSchema, body, 'messages.send request');
    const { message } = await connectors.campaign(input, key);
    res.json(toSeedMessage(message));
  });

  router.post('/messages.resend', async (req, res) => {
    const principal = await principalOf(req, credentials);
    if (principal.kind === 'customer') throw new HubError('FORBIDDEN', 'messages.resend requires an agent or the system token');
    const input = parseOrThrow(messagesResendSchema, req.body, 'messages.resend request');
    res.json(toSeedMessage(await connectors.resend(input.message_id)));
  });

  return router;
}
