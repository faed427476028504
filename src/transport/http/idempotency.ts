import type { Request } from 'express';
import { HubError } from '../../contracts/errors.js';

/** An optional Idempotency-Key header makes a retried send store (and deliver) one message. */
export function idempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw new HubError('BAD_REQUEST', 'Idempotency-Key must be 1-200 printable ASCII characters');
  return key;
}
