import type { IncomingMessage } from 'node:http';
import type { Socket } from 'socket.io';
import type { Principal } from '../../auth/token.service.js';
import { principalKey, type ConnectionCaps } from './connection-caps.js';

type EngineSocket = Socket['conn'];

/** What both namespaces need to count their sockets. */
export interface SocketAdmission {
  caps: ConnectionCaps;
  /** The client's address of a connection's request, with the hub's trust-proxy setting (as HTTP rate limits see it). */
  addressOf(request: IncomingMessage): string;
}

/** The parts of a socket (of either namespace) admission works with. */
interface AdmittedSocket {
  conn: EngineSocket;
  data: { capKey?: string | undefined };
}

/** Frees `release` when the socket goes, whichever comes first: its namespace disconnect or the whole connection. */
function releaseOnClose(socket: AdmittedSocket, onDisconnect: (fn: () => void) => void, release: () => void): void {
  onDisconnect(release);
  socket.conn.once('close', release);
}

/**
 * Counts a handshaking socket for its client address and, when its handshake names one, its
 * principal, until it disconnects; throws RATE_LIMITED at either cap (refuse the handshake with
 * it). Returns the principal's key, if any.
 */
export function admitSocket(
  socket: AdmittedSocket,
  admission: SocketAdmission,
  principal: Principal | undefined,
  onDisconnect: (fn: () => void) => void,
): string | undefined {
  const key = principalKey(principal);
  // Closed while its handshake was checked: Socket.IO drops it, and its 'close' has passed.
  if (socket.conn.readyState !== 'open') return key;
  const releaseAddress = admission.caps.admitAddress(admission.addressOf(socket.conn.request));
  let releasePrincipal: (() => void) | undefined;
  try {
    if (key) releasePrincipal = admission.caps.admitPrincipal(key);
  } catch (err) {
    releaseAddress();
    throw err;
  }
  releaseOnClose(socket, onDisconnect, () => {
    releaseAddress();
    releasePrincipal?.();
  });
  return key;
}

/**
 * Counts a socket that connected without a credential for the first principal it acts as
 * (a token in an event), so per-principal caps and the event budget hold for it too.
 */
export function claimPrincipal(socket: AdmittedSocket, admission: SocketAdmission, principal: Principal | undefined, onDisconnect: (fn: () => void) => void): void {
  if (socket.data.capKey) return;
  const key = principalKey(principal);
  if (!key) return;
  releaseOnClose(socket, onDisconnect, admission.caps.admitPrincipal(key));
  socket.data.capKey = key;
}
