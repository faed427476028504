import { Router } from 'express';
import type { Registry } from 'prom-client';
import { HubError } from '../../contracts/errors.js';
import type { DatabaseProbe } from '../../domain/ports.js';
import { sendError } from './errors.middleware.js';

/** What /ready reports besides the database: a drain in progress, and Redis (with REDIS_URL). */
export interface Readiness {
  draining(): boolean;
  /** undefined without REDIS_URL. */
  redis(): { state: 'connecting' | 'up' | 'down'; downForMs: number | undefined } | undefined;
}

/**
 * /health (process up), /ready (503 while draining or without the database; 200 "degraded"
 * with Redis away: messages are still stored and acked), /metrics (Prometheus text).
 */
export function opsRouter(db: DatabaseProbe, registry: Registry, readiness: Readiness): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    if (readiness.draining()) {
      sendError(res, new HubError('UNAVAILABLE', 'this hub process is draining (stopping); connect to another one'));
      return;
    }
    try {
      await db.ping();
    } catch (err) {
      // Any failure to ping means "not ready"; the message says why without internals.
      sendError(res, err instanceof HubError && err.code === 'UNAVAILABLE' ? err : new HubError('UNAVAILABLE', 'the database is not reachable'));
      return;
    }
    const redis = readiness.redis();
    if (redis && redis.state !== 'up') {
      res.json({
        status: 'degraded',
        degraded: [
          {
            component: 'redis',
            state: redis.state,
            downForMs: redis.downForMs,
            impact: 'messages are stored and acked; delivery to clients of other hub processes and shared rate limits wait for Redis',
          },
        ],
      });
      return;
    }
    res.json({ status: 'ready' });
  });
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
