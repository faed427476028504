import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createInboundRouter, sendError, type InboundDeps } from './web.inbound.js';

export interface WebAppOptions extends InboundDeps {
  /** Whether the connector is registered with the hub right now. */
  registered: () => boolean;
}

/** The connector's HTTP app: POST /messages, GET /health and GET /ready. Never listens by itself. */
export function createWebApp(options: WebAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  // Liveness: the process answers. `registered` tells whether messages reach the hub right now.
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', registered: options.registered() });
  });
  // Readiness for load balancers: 503 while not registered, so traffic goes to a process that can relay it.
  app.get('/ready', (_req, res) => {
    const registered = options.registered();
    res.status(registered ? 200 : 503).json({ status: registered ? 'ok' : 'not registered with the hub', registered });
  });
  app.use('/messages', createInboundRouter(options));
  app.use((req, res) => sendError(res, 404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`));
  // Body-parser failures carry a type and status; anything else is a bug, answered without its text.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (res.headersSent) return;
    if (e?.type === 'entity.too.large') return sendError(res, 413, 'PAYLOAD_TOO_LARGE', 'request body is larger than 256 kb');
    if (e?.type === 'entity.parse.failed') return sendError(res, 400, 'BAD_REQUEST', 'request body is not valid JSON');
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return sendError(res, e.status, 'BAD_REQUEST', 'bad request body');
    options.logger.error({ err, method: req.method, path: req.path }, 'request failed');
    sendError(res, 500, 'INTERNAL', 'internal error');
  });
  return app;
}
