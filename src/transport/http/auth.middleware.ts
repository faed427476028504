import type { Request } from 'express';
import { bearerToken, type Principal } from '../../auth/token.service.js';
import { HubError } from '../../contracts/errors.js';

/** Resolves a bearer token to its principal, revocation checked (CredentialService). */
export interface Authenticator {
  authenticate(token: string): Promise<Principal>;
}

/** The caller's principal from `Authorization: Bearer`, or UNAUTHORIZED (missing, invalid, expired or revoked). */
export async function principalOf(req: Request, credentials: Authenticator): Promise<Principal> {
  const token = bearerToken(req.get('authorization'));
  if (!token) throw new HubError('UNAUTHORIZED', 'Authorization: Bearer <token> is required');
  return credentials.authenticate(token);
}

/** Requires the system token. */
export async function requireSystem(req: Request, credentials: Authenticator): Promise<void> {
  const principal = await principalOf(req, credentials);
  if (principal.kind !== 'system') throw new HubError('FORBIDDEN', 'this endpoint requires the system token');
}
