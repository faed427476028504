import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createFbWebhookRouter, type FbWebhookDeps } from './fb.webhooks.js';

export interface FbAppDeps extends FbWebhookDeps {
  /** Whether the connector is registered with the hub (reported by `/health`). */
  isRegistered(): boolean;
}

/** Builds the connector's HTTP app (health + Messenger webhook) without listening, so tests use port 0. */
export function createFbApp(deps: FbAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');

  // 503 until registered, so a load balancer sends Meta's webhooks only to a connector that can relay them.
  app.get('/health', (_req: Request, res: Response) => {
    const registered = deps.isRegistered();
    res.status(registered ? 200 : 503).json({ status: registered ? 'ok' : 'starting', registered });
  });

  app.use(createFbWebhookRouter(deps));

  app.use((_req: Request, res: Response) => {
    res.status(404).type('text/plain').send('Not Found');
  });

  // Body-parser errors (too large, aborted) carry a 4xx status; anything else is a bug. Never echo internals.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).type('text/plain').send(status === 413 ? 'Payload Too Large' : 'Bad Request');
      return;
    }
    deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'request failed');
    res.status(500).type('text/plain').send('Internal Server Error');
  });

  return app;
}
