import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { WIDGET_PAGE_HTML, WIDGET_SCRIPT_PATH } from './widget-page.js';

/** A website that embeds the chat widget, on its own origin (not the hub's). */
export interface PageServer {
  /** `http://127.0.0.1:<port>`: what the browser sends as `Origin`. */
  origin: string;
  /** The widget page's URL, talking to `hub` about `channelId`. */
  widgetUrl(hub: string, channelId: string): string;
  close(): Promise<void>;
}

// The package exports its package.json but not the minified bundle, so find the bundle beside it.
const socketIoBundle = join(dirname(createRequire(import.meta.url).resolve('socket.io-client/package.json')), 'dist', 'socket.io.min.js');

/** Serves the widget page and the socket.io browser client on 127.0.0.1 at an ephemeral port. */
export async function startPageServer(): Promise<PageServer> {
  const bundle = readFileSync(socketIoBundle);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page.invalid').pathname;
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(WIDGET_PAGE_HTML);
    } else if (req.method === 'GET' && path === WIDGET_SCRIPT_PATH) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    widgetUrl: (hub, channelId) => `${origin}/?${new URLSearchParams({ hub, channel: channelId }).toString()}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The browser may hold keep-alive connections open; they would keep close() waiting.
        server.closeAllConnections();
      }),
  };
}
