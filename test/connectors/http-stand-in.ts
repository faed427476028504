import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * The local HTTP server under each provider stand-in: listens on an ephemeral port of 127.0.0.1
 * and hands every request to `handle` once its whole body has arrived.
 */
export abstract class HttpStandIn {
  /** The base URL, with `urlPath` appended; set by start(). */
  url = '';
  /** Appended to the server's address to form `url`. */
  protected readonly urlPath: string = '';
  private server: Server | undefined;

  protected abstract handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}${this.urlPath}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
