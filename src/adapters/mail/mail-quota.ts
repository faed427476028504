import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimits } from '../rate-limits/rate-limits.js';
import { RateLimitedError } from '../../contracts/errors.js';
import type { MailQuota } from '../../domain/ports.js';

export interface MailQuotaOptions {
  perRecipientPerHour: number;
  globalPerMinute: number;
}

function refused(rejection: unknown, message: string): never {
  if (rejection instanceof RateLimiterRes) throw new RateLimitedError(message, Math.ceil(rejection.msBeforeNext / 1000));
  throw rejection;
}

/**
 * Transcript mail quotas (rate-limiter-flexible; across processes with REDIS_URL): per recipient address
 * per hour and for all mail per minute. The recipient's point is taken first, so requests refused
 * for one flooded inbox do not spend the budget every other recipient shares.
 */
export class RateLimitedMailQuota implements MailQuota {
  private readonly perRecipient: RateLimiterAbstract;
  private readonly global: RateLimiterAbstract;

  constructor(options: MailQuotaOptions, limits: RateLimits) {
    this.perRecipient = limits.create({ name: 'mail-rcpt', points: options.perRecipientPerHour, durationSeconds: 3600 });
    this.global = limits.create({ name: 'mail-all', points: options.globalPerMinute, durationSeconds: 60 });
  }

  async take(recipient: string): Promise<void> {
    const key = recipient.trim().toLowerCase();
    try {
      await this.perRecipient.consume(key);
    } catch (rejection) {
      refused(rejection, 'too many transcript mails to this address; try again later');
    }
    try {
      await this.global.consume('all');
    } catch (rejection) {
      // Not sent: the recipient's point is given back.
      await this.perRecipient.reward(key, 1).catch(() => undefined);
      refused(rejection, 'the hub is sending too many transcript mails; try again later');
    }
  }
}
