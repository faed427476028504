import { createHmac, timingSafeEqual } from 'node:crypto';

/** The X-Hub-Signature-256 value of a body: `sha256=` and the hex HMAC-SHA256 of its exact bytes. */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether `header` is the signature of `body`, compared in constant time (for receivers). */
export function verifyWebhookSignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
