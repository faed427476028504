import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';

export interface LimitSpec {
  /** Names the limit's keys in Redis: unique per limit. */
  name: string;
  points: number;
  durationSeconds: number;
}

/**
 * Makes the hub's rate limits (rate-limiter-flexible). Alone, a process counts in memory. With
 * REDIS_URL the count is one across every process (a client cannot multiply its budget by
 * reaching several hubs); while Redis is away each process falls back to its own in-memory
 * count of the same limit (the insurance limiter), so limits still hold per process.
 */
export class RateLimits {
  constructor(private readonly redis: Redis | undefined) {}

  /** Whether counts are shared across processes. */
  get shared(): boolean {
    return this.redis !== undefined;
  }

  create(spec: LimitSpec): RateLimiterAbstract {
    const memory = new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration: spec.durationSeconds });
    if (!this.redis) return memory;
    return new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: `hub:rl:${spec.name}`,
      points: spec.points,
      duration: spec.durationSeconds,
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory,
    });
  }
}
