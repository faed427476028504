import { Router, type Request } from 'express';
import type { TokenService } from '../../auth/token.service.js';
import { HubError } from '../../contracts/errors.js';
import { campaignSendSchema, channelsConnectSchema, conversationSendSchema, messagesResendSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { ConnectorService } from '../../domain/connector.service.js';
import { toSeedMessage } from '../../domain/seed-view.js';
import { principalOf, requireSystem } from './auth.middleware.js';

/** An optional Idempotency-Key header makes a retried send store (and deliver) one message. */
function idempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw new HubError('BAD_REQUEST', 'Idempotency-Key must be 1-200 printable ASCII characters');
  return key;
}

/** §6's campaign path: channels.connect, messages.send, messages.resend. */
export function connectorsRouter(connectors: ConnectorService, tokens: TokenService): Router {
  const router = Router();

  router.post('/channels.connect', async (req, res) => {
    requireSystem(req, tokens);
    const input = parseOrThrow(channelsConnectSchema, req.body, 'channels.connect request');
    res.json(await connectors.connectChannel(input.source, input.name));
  });

  router.post('/messages.send', async (req, res) => {
    requireSystem(req, tokens);
    const key = idempotencyKey(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object' && 'conversation_id' in body) {
      const input = parseOrThrow(conversationSendSchema, body, 'messages.send request');
      const { message } = await connectors.sendTo(input.conversation_id, input.message, key);
      res.json(toSeedMessage(message));
      return;
    }
    const input = parseOrThrow(campaignSendSchema, body, 'messages.send request');
    const { message } = await connectors.campaign(input, key);
    res.json(toSeedMessage(message));
  });

  router.post('/messages.resend', async (req, res) => {
    const principal = principalOf(req, tokens);
    if (principal.kind === 'customer') throw new HubError('FORBIDDEN', 'messages.resend requires an agent or the system token');
    const input = parseOrThrow(messagesResendSchema, req.body, 'messages.resend request');
    res.json(toSeedMessage(await connectors.resend(input.message_id)));
  });

  return router;
}
