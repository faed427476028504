import { Router } from 'express';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { HubError } from '../../contracts/errors.js';
import { initSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { ConversationService } from '../../domain/conversation.service.js';

/** /api/customer: the Customer Channel API's HTTP side. */
export function customerRouter(conversations: ConversationService, initPerMinutePerIp: number): Router {
  const router = Router();
  const limiter = new RateLimiterMemory({ points: initPerMinutePerIp, duration: 60 });

  router.post('/init', async (req, res) => {
    try {
      await limiter.consume(req.ip ?? 'unknown');
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        res.set('Retry-After', String(Math.ceil(rejection.msBeforeNext / 1000)));
        throw new HubError('RATE_LIMITED', 'too many init requests; slow down');
      }
      throw rejection;
    }
    const request = parseOrThrow(initSchema, req.body, 'init request');
    res.json(await conversations.init(request));
  });

  return router;
}
