import { Router } from 'express';
import type { Registry } from 'prom-client';
import { HubError } from '../../contracts/errors.js';
import type { DatabaseProbe } from '../../domain/ports.js';
import { sendError } from './errors.middleware.js';

/** /health (process up), /ready (database reachable), /metrics (Prometheus text). */
export function opsRouter(db: DatabaseProbe, registry: Registry): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    try {
      await db.ping();
      res.json({ status: 'ready' });
    } catch (err) {
      // Any failure to ping means "not ready"; the message says why without internals.
      sendError(res, err instanceof HubError && err.code === 'UNAVAILABLE' ? err : new HubError('UNAVAILABLE', 'the database is not reachable'));
    }
  });
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
