/**
 * Which browser origins may call the hub (HTTP CORS and the Socket.IO handshake).
 * Requests without an Origin header (servers, connectors, native apps) are not
 * browser cross-origin requests and are always allowed; `*` allows every origin.
 */
export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  constructor(origins: string[]) {
    this.any = origins.includes('*');
    this.allowed = new Set(origins.map((o) => o.replace(/\/$/, '')));
  }

  allows(origin: string | undefined): boolean {
    if (!origin) return true;
    return this.any || this.allowed.has(origin);
  }
}
