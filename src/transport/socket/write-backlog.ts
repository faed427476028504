import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';

type EngineServer = Server['engine'];
type EngineSocket = Socket['conn'];

/**
 * The parts of an engine.io connection that hold what is queued for a client. Socket.IO has no
 * public measure of it: engine.io keeps packets in `writeBuffer` while the transport is busy
 * (a client that never reads keeps it busy), and the `ws` socket keeps what it could not yet
 * hand to the kernel (`bufferedAmount`, public in ws).
 */
interface EngineInternals {
  writeBuffer?: Array<{ data?: unknown }>;
  transport?: { socket?: { bufferedAmount?: unknown; terminate?: unknown } };
}

/** Bytes queued on the hub for `conn` and not yet taken by the kernel. */
export function backlogBytes(conn: EngineSocket): number {
  const internals = conn as unknown as EngineInternals;
  let bytes = 0;
  for (const packet of internals.writeBuffer ?? []) {
    const { data } = packet;
    if (typeof data === 'string') bytes += data.length;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) bytes += data.byteLength;
  }
  const buffered = internals.transport?.socket?.bufferedAmount;
  if (typeof buffered === 'number') bytes += buffered;
  return bytes;
}

/** Closes a connection at once and lets go of everything queued for it. */
function drop(conn: EngineSocket): void {
  const ws = (conn as unknown as EngineInternals).transport?.socket;
  // A WebSocket's close handshake would wait (30 s) behind the unread data: end the TCP connection instead.
  if (ws && typeof ws.terminate === 'function') (ws.terminate as () => void).call(ws);
  conn.close(true);
}

export interface BacklogGuardOptions {
  /** A connection with more than this queued is closed. */
  maxBytes: number;
  /** How often every connection's backlog is looked at. */
  checkMs: number;
}

/**
 * Closes connections whose clients do not read what the hub sends them, before their backlog
 * grows without bound: looked at before large emits (`admits`) and on a timer for the rest
 * (messages relayed to rooms).
 */
export class BacklogGuard {
  readonly stats = { dropped: 0 };
  private readonly conns = new Set<EngineSocket>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    engine: EngineServer,
    private readonly options: BacklogGuardOptions,
    private readonly log: Logger,
  ) {
    engine.on('connection', (conn: EngineSocket) => {
      this.conns.add(conn);
      conn.once('close', () => this.conns.delete(conn));
    });
    this.timer = setInterval(() => this.sweep(), options.checkMs);
    this.timer.unref();
  }

  /** Whether `extraBytes` more may be queued on `conn`; if not, the connection is closed and false returned. */
  admits(conn: EngineSocket, extraBytes: number): boolean {
    const queued = backlogBytes(conn);
    if (queued + extraBytes <= this.options.maxBytes) return true;
    this.refuse(conn, queued, extraBytes);
    return false;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    for (const conn of this.conns) {
      const queued = backlogBytes(conn);
      if (queued > this.options.maxBytes) this.refuse(conn, queued, 0);
    }
  }

  private refuse(conn: EngineSocket, queued: number, extraBytes: number): void {
    this.stats.dropped += 1;
    this.conns.delete(conn);
    this.log.warn({ address: conn.remoteAddress, queued, extraBytes, maxBytes: this.options.maxBytes }, 'closing a connection that does not read what it is sent');
    drop(conn);
  }
}
