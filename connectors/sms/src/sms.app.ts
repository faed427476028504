import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createSmsWebhooks, type SmsWebhookOptions } from './sms.webhooks.js';

export interface SmsAppOptions extends SmsWebhookOptions {
  /** Whether the connector is registered with the hub right now (shown by /health). */
  registered: () => boolean;
}

/** The connector's HTTP app: the provider's webhooks under /sms and GET /health. Never listens by itself. */
export function createSmsApp(options: SmsAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a proxy req.protocol must come from X-Forwarded-Proto, or unsigned-URL rebuilding breaks; PUBLIC_URL avoids guessing.
  app.set('trust proxy', 'loopback, linklocal, uniquelocal');
  // 503 until registered (and while reconnecting): a load balancer then sends webhooks only to a process that can relay them.
  app.get('/health', (_req, res) => {
    const registered = options.registered();
    res.status(registered ? 200 : 503).json({ status: registered ? 'ok' : 'not registered with the hub', registered });
  });
  app.use('/sms', createSmsWebhooks(options));
  app.use((req, res) => {
    res.status(404).type('text/plain').send(`no route for ${req.method} ${req.path}`);
  });
  // Body-parser failures (malformed or oversized forms) carry a status; anything else is a bug.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = err && typeof err === 'object' && 'status' in err && typeof err.status === 'number' ? err.status : 500;
    if (status >= 500) options.logger.error({ err }, 'webhook handler failed');
    res.status(status).type('text/plain').send(status >= 500 ? 'internal error' : 'bad request');
  });
  return app;
}
