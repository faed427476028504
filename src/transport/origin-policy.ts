import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { TrustProxy } from './client-address.js';

/**
 * Which browser origins may call the hub (HTTP CORS and the Socket.IO handshake).
 * Requests without an Origin header (servers, connectors, native apps) are not
 * browser cross-origin requests and are always allowed; `*` allows every origin.
 * A page the hub serves itself (the /demo page, the /desk) sends its own origin: a request
 * whose Origin equals the request's own origin (see `requestOrigin`) is same-origin and allowed
 * even when ALLOWED_ORIGINS is empty.
 */
export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  constructor(origins: string[]) {
    this.any = origins.includes('*');
    this.allowed = new Set(origins.map((o) => o.replace(/\/$/, '')));
  }

  /** `own`: the request's own origin (`requestOrigin`), when known. */
  allows(origin: string | undefined, own?: string): boolean {
    if (!origin) return true;
    if (own !== undefined && origin.toLowerCase() === own.toLowerCase()) return true;
    return this.any || this.allowed.has(origin);
  }
}

const firstValue = (header: string | string[] | undefined): string | undefined => {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(',')[0]?.trim();
  return first ? first : undefined;
};

/**
 * The origin (`scheme://host[:port]`) a request was addressed to, as Express computes
 * `req.protocol` and `req.host`: X-Forwarded-Proto and X-Forwarded-Host count only when the
 * trust-proxy setting trusts the connection's peer; otherwise the connection's TLS state and Host.
 */
export function requestOrigin(req: IncomingMessage, trust: TrustProxy): string | undefined {
  const trusted = trust(req.socket.remoteAddress ?? '', 0);
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  const proto = (trusted ? firstValue(req.headers['x-forwarded-proto']) : undefined) ?? (encrypted ? 'https' : 'http');
  const host = (trusted ? firstValue(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host;
  return host ? `${proto}://${host}` : undefined;
}
