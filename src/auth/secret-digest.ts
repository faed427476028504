import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of a secret, kept instead of the secret for comparisons. */
export function secretDigest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison of a candidate against a stored digest (digests, so lengths never leak). */
export function matchesDigest(candidate: string, expected: Buffer): boolean {
  return timingSafeEqual(secretDigest(candidate), expected);
}
