import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { HubError, RateLimitedError, toHubError } from '../../contracts/errors.js';

/** Writes a HubError in the one wire shape: `{error, code}` (plus `details` for field errors). */
export function sendError(res: Parameters<RequestHandler>[1], err: HubError): void {
  const body: Record<string, unknown> = { error: err.message, code: err.code };
  if (err.details) body['details'] = err.details;
  res.status(err.status).json(body);
}

/** Maps body-parser and domain errors to the catalogue; never leaks internal error text. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let hubErr: HubError;
    const e = err as { type?: string; status?: number };
    if (e?.type === 'entity.too.large') hubErr = new HubError('PAYLOAD_TOO_LARGE', 'request body is too large');
    else if (e?.type === 'entity.parse.failed') hubErr = new HubError('BAD_REQUEST', 'request body is not valid JSON');
    else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') hubErr = new HubError('BAD_REQUEST', 'unsupported body encoding');
    else hubErr = toHubError(err);
    if (hubErr.code === 'INTERNAL') log.error({ err, method: req.method, path: req.path }, 'request failed');
    if (res.headersSent) return;
    if (hubErr instanceof RateLimitedError) res.set('Retry-After', String(Math.max(1, hubErr.retryAfterSeconds)));
    sendError(res, hubErr);
  };
}

export const notFound: RequestHandler = (req, res) => {
  sendError(res, new HubError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
};
