import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { HttpStandIn } from './http-stand-in.js';

/** One callback the website's backend received. */
export interface Callback {
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  /** Checked here, independently of the connector's code: HMAC-SHA256(secret, `${ts}.${body}`), ts within 5 minutes. */
  signatureValid: boolean;
  status: number;
}

export type CallbackReply = { status: number; body?: Record<string, unknown>; delayMs?: number };

/**
 * The website's backend receiving the web connector's callbacks at /chat/callback: verifies each
 * callback's signature, answers from a script (then 200 with its own id).
 */
export class WebsiteStandIn extends HttpStandIn {
  readonly callbacks: Callback[] = [];
  /** Replies for the next callbacks, in order. */
  readonly script: CallbackReply[] = [];
  /** Message ids it took (2xx), de-duplicated by Idempotency-Key as the README tells receivers to. */
  readonly accepted = new Map<string, string>();
  /** Callbacks received, counted before any scripted delay. */
  arrivals = 0;
  protected override readonly urlPath = '/chat/callback';

  constructor(private readonly callbackSecret: string) {
    super();
  }

  /** Callbacks for one hub message. */
  for(messageId: string): Callback[] {
    return this.callbacks.filter((c) => c.json['id'] === messageId);
  }

  protected handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    this.arrivals += 1;
    const body = raw.toString('utf8');
    const ts = String(req.headers['x-hub-timestamp'] ?? '');
    const given = String(req.headers['x-hub-signature-256'] ?? '');
    const expected = `sha256=${createHmac('sha256', this.callbackSecret).update(`${ts}.${body}`).digest('hex')}`;
    const signatureValid = given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected)) && Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body) as Record<string, unknown>;
    } catch {
      // recorded as {}; the test then fails on the fields
    }
    let reply: CallbackReply = this.script.shift() ?? { status: 200 };
    if (!signatureValid) reply = { status: 401, body: { error: 'bad signature' } };
    const key = String(req.headers['idempotency-key'] ?? '');
    if (reply.status === 200 && !reply.body) {
      const siteId = this.accepted.get(key) ?? `site-${this.accepted.size + 1}`;
      this.accepted.set(key, siteId);
      reply = { status: 200, body: { id: siteId } };
    }
    const answer = (): void => {
      this.callbacks.push({ headers: req.headers, body, json, signatureValid, status: reply.status });
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body ?? {}));
    };
    if (reply.delayMs) setTimeout(answer, reply.delayMs);
    else answer();
  }
}
