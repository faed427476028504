import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One webhook request as an integrator would see it, checked independently of the hub's code. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  raw: string;
  body: {
    id: string;
    type: string;
    created_at: string;
    timestamp: string;
    attempt: number;
    payload: Record<string, unknown>;
  };
  /** X-Hub-Signature-256 is the HMAC-SHA256 of the raw body with the secret. */
  signatureValid: boolean;
  /** The signed timestamp is within five minutes of now and matches X-Hub-Timestamp. */
  fresh: boolean;
  /** The status this receiver answered with. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  port: number;
  received: ReceivedWebhook[];
  /** Picks the status for a request; `nth` counts the requests of its event id so far (1-based). */
  respond: (hook: ReceivedWebhook, nth: number) => number;
  /** Resolves with the received requests once `check` holds for them; rejects after `ms`. */
  until(check: (received: ReceivedWebhook[]) => boolean, what: string, ms?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

const REPLAY_WINDOW_MS = 5 * 60_000;

/** What a receiver does with a request: HMAC over the raw bytes first, then the timestamp inside them. */
function check(secret: string, raw: string, headers: IncomingHttpHeaders): Pick<ReceivedWebhook, 'signatureValid' | 'fresh'> {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const given = Buffer.from(String(headers['x-hub-signature-256'] ?? ''));
  const signatureValid = given.length === expected.length && timingSafeEqual(given, expected);
  let fresh = false;
  if (signatureValid) {
    const sent = Date.parse((JSON.parse(raw) as { timestamp: string }).timestamp);
    fresh = Math.abs(Date.now() - sent) < REPLAY_WINDOW_MS && String(Math.floor(sent / 1000)) === headers['x-hub-timestamp'];
  }
  return { signatureValid, fresh };
}

/** A local HTTP server receiving webhooks on `port` (0: any free port), answering 200 unless told otherwise. */
export async function startWebhookReceiver(secret: string, port = 0): Promise<WebhookReceiver> {
  const waiters = new Set<() => void>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const hook: ReceivedWebhook = { headers: req.headers, raw, body: JSON.parse(raw) as ReceivedWebhook['body'], ...check(secret, raw, req.headers), status: 0 };
      const nth = (counts.get(hook.body.id) ?? 0) + 1;
      counts.set(hook.body.id, nth);
      hook.status = hook.signatureValid ? receiver.respond(hook, nth) : 401;
      receiver.received.push(hook);
      res.writeHead(hook.status, { 'content-type': 'text/plain' }).end(hook.status < 300 ? 'ok' : 'not now');
      for (const wake of [...waiters]) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${actual}/hooks`,
    port: actual,
    received: [],
    respond: () => 200,
    until(test, what, ms = 8000) {
      return new Promise((resolve, reject) => {
        const wake = (): void => {
          if (!test(receiver.received)) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(receiver.received);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          const seen = receiver.received.map((h) => `${h.body.type}#${h.body.attempt}→${h.status}`).join(', ');
          reject(new Error(`timed out waiting for ${what}; received: ${seen || 'nothing'}`));
        }, ms);
        waiters.add(wake);
        wake();
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

/** A loopback port with nothing listening on it (connections are refused), for a receiver that is down. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
