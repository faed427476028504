import { Router } from 'express';
import type { RateLimits } from '../../adapters/rate-limits/rate-limits.js';
import { initSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { ConversationService } from '../../domain/conversation.service.js';
import { principalOf, type Authenticator } from './auth.middleware.js';
import { consumeOrRefuse } from './rate-limit.js';

/** /api/customer: the Customer Channel API's HTTP side. */
export function customerRouter(conversations: ConversationService, credentials: Authenticator, initPerMinutePerIp: number, limits: RateLimits): Router {
  const router = Router();
  const limiter = limits.create({ name: 'init', points: initPerMinutePerIp, durationSeconds: 60 });

  router.post('/init', async (req, res) => {
    await consumeOrRefuse(limiter, req.ip ?? 'unknown', res, 'init requests');
    // No credential: an anonymous (web) init. A credential, when sent, must be valid: the system
    // token may open connector channels and vouch for the customer's address.
    const principal = req.get('authorization') === undefined ? undefined : await principalOf(req, credentials);
    const request = parseOrThrow(initSchema, req.body, 'init request');
    res.json(await conversations.init(request, principal));
  });

  return router;
}
