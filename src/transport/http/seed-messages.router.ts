import { Router } from 'express';
import { parseOrThrow } from '../../contracts/schemas.js';
import { messagesListSchema, suggestRepliesSchema } from '../../contracts/seed-api.schemas.js';
import type { MessagesApiService } from '../../domain/messages-api.service.js';
import { toSeedMessage } from '../../domain/seed-view.js';
import { principalOf, type Authenticator } from './auth.middleware.js';

/** The seed messages API's reads (seed 002): messages.list and messages.suggest-replies. */
export function seedMessagesRouter(messages: MessagesApiService, credentials: Authenticator): Router {
  const router = Router();

  router.post('/messages.list', async (req, res) => {
    const principal = await principalOf(req, credentials);
    const input = parseOrThrow(messagesListSchema, req.body, 'messages.list request');
    res.json(await messages.list(principal, input));
  });

  router.post('/messages.suggest-replies', async (req, res) => {
    const principal = await principalOf(req, credentials);
    const input = parseOrThrow(suggestRepliesSchema, req.body, 'messages.suggest-replies request');
    res.json(toSeedMessage(await messages.suggestReplies(principal, input)));
  });

  return router;
}
