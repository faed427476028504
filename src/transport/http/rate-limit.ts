import type { Response } from 'express';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { HubError } from '../../contracts/errors.js';

/** Takes one point for `key`, or answers RATE_LIMITED with Retry-After (seconds) naming `what`. */
export async function consumeOrRefuse(limiter: RateLimiterAbstract, key: string, res: Response, what: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) {
      res.set('Retry-After', String(Math.ceil(rejection.msBeforeNext / 1000)));
      throw new HubError('RATE_LIMITED', `too many ${what}; slow down`);
    }
    throw rejection;
  }
}
