import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import type { ConnectorToHubEvents, HubToConnectorEvents, RegisterConnectorPayload } from '../src/protocol.js';

export type FakeHubSocket = Socket<ConnectorToHubEvents, HubToConnectorEvents>;

export interface FakeHubOptions {
  /** The only key accepted, in the handshake and in registerConnector (see FakeHub.key). */
  key: string;
  /** Refuse wrong keys already in the handshake (as the hub does); otherwise only in the registration ack. */
  checkHandshake?: boolean;
}

/**
 * A real socket.io server standing in for the hub's connector gateway: it checks the key,
 * answers registerConnector, and lets each test install its own handlers and drop connections.
 */
export class FakeHub {
  readonly io: Server<ConnectorToHubEvents, HubToConnectorEvents>;
  readonly handshakes: Array<Record<string, unknown>> = [];
  readonly registrations: RegisterConnectorPayload[] = [];
  /** Sockets currently registered. */
  readonly registered = new Set<FakeHubSocket>();
  url = '';
  /** The key accepted from now on; change it to simulate a revoked key. */
  key: string;
  private readonly http: HttpServer;
  private readonly onConnection: Array<(socket: FakeHubSocket) => void> = [];

  constructor(private readonly options: FakeHubOptions) {
    this.key = options.key;
    this.http = createServer();
    this.io = new Server(this.http, { transports: ['websocket'] });
    this.io.use((socket, next) => {
      const auth = socket.handshake.auth as Record<string, unknown>;
      this.handshakes.push(auth);
      if (this.options.checkHandshake !== false && auth['connectorKey'] !== this.key) {
        const err = new Error('wrong connector key') as Error & { data?: unknown };
        err.data = { code: 'UNAUTHORIZED', message: 'wrong connector key' };
        return next(err);
      }
      next();
    });
    this.io.on('connection', (socket) => {
      socket.on('registerConnector', (payload, ack) => {
        this.registrations.push(payload);
        if (payload.key !== this.key) {
          ack({ ok: false, error: { code: 'UNAUTHORIZED', message: 'wrong connector key' } });
          socket.disconnect(true);
          return;
        }
        this.registered.add(socket);
        socket.once('disconnect', () => this.registered.delete(socket));
        ack({ ok: true, connector: { id: payload.id, name: payload.name, channel: payload.channel } });
      });
      for (const listener of this.onConnection) listener(socket);
    });
  }

  /** Listens on `port` (0: any free one). */
  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.http.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
    return this;
  }

  /** Installs handlers on every connection from now on. */
  connection(listener: (socket: FakeHubSocket) => void): void {
    this.onConnection.push(listener);
  }

  /** The one registered socket (fails when there is none or several). */
  socket(): FakeHubSocket {
    const [socket, ...others] = [...this.registered];
    if (!socket || others.length > 0) throw new Error(`expected one registered socket, found ${this.registered.size}`);
    return socket;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is true or `ms` passes. */
export async function waitFor(check: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
