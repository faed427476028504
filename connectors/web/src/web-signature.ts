import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signature of an outbound callback, as receivers check it:
 * `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, "<X-Hub-Timestamp>.<raw body>")>`.
 * Signing the timestamp with the body lets a receiver refuse replays of old requests.
 */

export const SIGNATURE_HEADER = 'X-Hub-Signature-256';
export const TIMESTAMP_HEADER = 'X-Hub-Timestamp';

/** The header value for `body` sent at `timestamp` (unix seconds). */
export function signWebPayload(secret: string, timestamp: number | string, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body);
  return `sha256=${hmac.digest('hex')}`;
}

/**
 * Checks a callback's signature: true when `header` is the HMAC of `timestamp` and the raw
 * `body` under `secret`, and `timestamp` lies within `toleranceSeconds` of now. Pass the body
 * exactly as received (before JSON parsing). Compares in constant time.
 */
export function verifyWebSignature(
  secret: string,
  timestamp: string | number | undefined,
  body: string | Buffer,
  header: string | undefined,
  toleranceSeconds = 300,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== 'string' || timestamp === undefined) return false;
  const ts = String(timestamp);
  if (!/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(nowSeconds - Number(ts)) > toleranceSeconds) return false;
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = Buffer.from(signWebPayload(secret, ts, body).slice('sha256='.length), 'hex');
  return timingSafeEqual(expected, Buffer.from(match[1]!.toLowerCase(), 'hex'));
}
