import type { Principal } from '../../auth/token.service.js';
import { HubError } from '../../contracts/errors.js';

export interface ConnectionCapsOptions {
  /** Sockets one principal may hold at once, over both namespaces (0: no cap). */
  maxPerPrincipal: number;
  /** Sockets one client address may hold at once, over both namespaces (0: no cap). */
  maxPerAddress: number;
}

/**
 * Who shares a budget: an agent, a customer (conversation and participant, whichever token
 * names them), or nobody for the system token, which the operator's own services use.
 */
export function principalKey(principal: Principal | undefined): string | undefined {
  if (!principal) return undefined;
  if (principal.kind === 'agent') return `agent:${principal.agentId}`;
  if (principal.kind === 'customer') return `customer:${principal.conversationId}:${principal.participantId}`;
  return undefined;
}

/** Counts of the sockets this process holds per principal and per client address. */
export class ConnectionCaps {
  readonly stats = { refusedPrincipal: 0, refusedAddress: 0 };
  private readonly perPrincipal = new Map<string, number>();
  private readonly perAddress = new Map<string, number>();
  /** Connections (engine.io transports, with or without a namespace socket yet) per client address. */
  private readonly perTransport = new Map<string, number>();

  constructor(private readonly options: ConnectionCapsOptions) {}

  /** Counts one socket of `address`; RATE_LIMITED at the cap. Returns the release, safe to call more than once. */
  admitAddress(address: string): () => void {
    const { maxPerAddress } = this.options;
    if (maxPerAddress > 0 && (this.perAddress.get(address) ?? 0) >= maxPerAddress) {
      this.stats.refusedAddress += 1;
      throw new HubError('RATE_LIMITED', `too many connections from this address: at most ${maxPerAddress} at once`);
    }
    return this.take(this.perAddress, address);
  }

  /** Counts one socket of the principal `key`; RATE_LIMITED at the cap. Returns the release, safe to call more than once. */
  admitPrincipal(key: string): () => void {
    const { maxPerPrincipal } = this.options;
    if (maxPerPrincipal > 0 && (this.perPrincipal.get(key) ?? 0) >= maxPerPrincipal) {
      this.stats.refusedPrincipal += 1;
      throw new HubError('RATE_LIMITED', `too many connections with this credential: at most ${maxPerPrincipal} at once; close unused tabs or connections`);
    }
    return this.take(this.perPrincipal, key);
  }

  /**
   * Whether `address` may open one more connection, checked at the transport's handshake, so that
   * connections that never open a namespace are bounded too. The bound is twice the socket cap:
   * a client that opens namespaces is refused by the socket cap first, with its clear message
   * (a refused transport handshake only shows the client a failed connection).
   */
  transportAllowed(address: string): boolean {
    const { maxPerAddress } = this.options;
    if (maxPerAddress > 0 && (this.perTransport.get(address) ?? 0) >= 2 * maxPerAddress) {
      this.stats.refusedAddress += 1;
      return false;
    }
    return true;
  }

  /** Counts one open connection of `address`. Returns the release, safe to call more than once. */
  countTransport(address: string): () => void {
    return this.take(this.perTransport, address);
  }

  private take(counts: Map<string, number>, key: string): () => void {
    counts.set(key, (counts.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(key) ?? 1) - 1;
      if (left > 0) counts.set(key, left);
      else counts.delete(key);
    };
  }
}
