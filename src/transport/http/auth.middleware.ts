import type { Request } from 'express';
import { bearerToken, type Principal, type TokenService } from '../../auth/token.service.js';
import { HubError } from '../../contracts/errors.js';

/** The caller's principal from `Authorization: Bearer`, or UNAUTHORIZED. */
export function principalOf(req: Request, tokens: TokenService): Principal {
  const token = bearerToken(req.get('authorization'));
  if (!token) throw new HubError('UNAUTHORIZED', 'Authorization: Bearer <token> is required');
  return tokens.authenticate(token);
}

/** Requires the system token. */
export function requireSystem(req: Request, tokens: TokenService): void {
  const principal = principalOf(req, tokens);
  if (principal.kind !== 'system') throw new HubError('FORBIDDEN', 'this endpoint requires the system token');
}
