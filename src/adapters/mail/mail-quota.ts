import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
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
 * Transcript mail quotas of this process (rate-limiter-flexible, in memory): per recipient address
 * per hour and for all mail per minute. The recipient's point is taken first, so requests refused
 * for one flooded inbox do not spend the budget every other recipient shares.
 */
export class MemoryMailQuota implements MailQuota {
  private readonly perRecipient: RateLimiterMemory;
  private readonly global: RateLimiterMemory;

  constructor(options: MailQuotaOptions) {
    this.perRecipient = new RateLimiterMemory({ keyPrefix: 'mail-rcpt', points: options.perRecipientPerHour, duration: 3600 });
    this.global = new RateLimiterMemory({ keyPrefix: 'mail-all', points: options.globalPerMinute, duration: 60 });
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
