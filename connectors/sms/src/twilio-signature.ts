import { createHmac, timingSafeEqual } from 'node:crypto';

/** POST parameters as a form parser yields them: a repeated name carries several values. */
export type FormParams = Record<string, string | string[] | undefined>;

/**
 * Twilio's request signature: base64(HMAC-SHA1(authToken, url + every POST parameter's name and
 * value, sorted by name)). A repeated name contributes name+value once per value, values sorted,
 * as Twilio's own helper libraries do.
 */
export function computeTwilioSignature(authToken: string, url: string, params: FormParams): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? [...value].sort() : [value];
    for (const v of values) data += name + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Whether `signature` (the X-Twilio-Signature header) signs this request; compared in constant time. */
export function verifyTwilioSignature(authToken: string, url: string, params: FormParams, signature: string | undefined): boolean {
  if (!signature) return false;
  const expected = Buffer.from(computeTwilioSignature(authToken, url, params), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; a length mismatch reveals only the (public) length of a SHA-1 digest.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The URL as signed, with and without the scheme's default port: Twilio's helper libraries accept
 * either because the provider has signed both forms over time.
 */
export function signatureUrlCandidates(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const defaultPort = parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : undefined;
  if (!defaultPort) return [url];
  const authority = `${parsed.protocol}//${parsed.username ? `${parsed.username}${parsed.password ? `:${parsed.password}` : ''}@` : ''}${parsed.hostname}`;
  const rest = url.slice(url.indexOf('/', parsed.protocol.length + 2) === -1 ? url.length : url.indexOf('/', parsed.protocol.length + 2));
  const withPort = `${authority}:${parsed.port || defaultPort}${rest}`;
  const withoutPort = parsed.port && parsed.port !== defaultPort ? undefined : `${authority}${rest}`;
  return [...new Set([url, withPort, ...(withoutPort ? [withoutPort] : [])])];
}

/** Verifies against every form of the URL Twilio may have signed. */
export function verifyTwilioRequest(authToken: string, url: string, params: FormParams, signature: string | undefined): boolean {
  return signatureUrlCandidates(url).some((candidate) => verifyTwilioSignature(authToken, candidate, params, signature));
}
