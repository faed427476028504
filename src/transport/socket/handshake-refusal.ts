import { toHubError } from '../../contracts/errors.js';

/** The error a middleware passes to `next` to refuse a handshake: the client's connect_error carries `data: {code, message}`. */
export function handshakeRefusal(err: unknown): Error {
  const hubErr = toHubError(err);
  const refusal = new Error(hubErr.message) as Error & { data?: unknown };
  refusal.data = { code: hubErr.code, message: hubErr.message };
  return refusal;
}
