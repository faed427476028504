import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_PREFIX = 'sha256=';
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** The `X-Hub-Signature-256` value Meta sends for `rawBody`: `sha256=<hex HMAC-SHA256(appSecret, body)>`. */
export function signPayload(appSecret: string, rawBody: Buffer | string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', appSecret).update(rawBody).digest('hex');
}

/**
 * Whether `header` is Meta's signature of exactly these bytes. The HMAC must be taken over the raw
 * body: re-serialised JSON differs (escaped unicode, key order) and would never match.
 */
export function verifySignature(appSecret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (!header || !header.startsWith(SIGNATURE_PREFIX)) return false;
  const hex = header.slice(SIGNATURE_PREFIX.length);
  if (!HEX_SHA256.test(hex)) return false;
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(hex, 'hex'));
}

/**
 * Compares two secrets in constant time. Both sides are hashed first so neither the content nor
 * the length of the expected value leaks through timing (timingSafeEqual needs equal lengths).
 */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}
