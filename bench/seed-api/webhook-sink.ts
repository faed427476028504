import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One message.created as the sink received it. */
export interface CreatedReceipt {
  /** performance.now() when the body was read (same clock as the senders' timings). */
  at: number;
  /** Receipt wall time minus the message's sent_at (the hub's clock; one machine, so comparable). */
  lagMs: number;
}

/** What the sink saw in a time window; every count is of requests, not of distinct events. */
export interface SinkCounts {
  requests: number;
  invalidSignatures: number;
  /** Requests whose event id had been received before (at-least-once repeats). */
  duplicateEventIds: number;
  /** message.created for a message that already had one under another event id. */
  duplicateMessages: number;
  byType: Record<string, number>;
  unparsable: number;
}

interface EventBody {
  id?: unknown;
  type?: unknown;
  payload?: { message?: { id?: unknown; sent_at?: unknown } };
}

/** The integrator's check (README "Webhooks"): HMAC-SHA256 over the raw bytes, compared in constant time. */
function signatureValid(secret: string, raw: Buffer, headers: IncomingHttpHeaders): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const given = Buffer.from(String(headers['x-hub-signature-256'] ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * A webhook receiver for the bench, written as an integrator would (node:http, the raw body
 * verified before it is parsed): it answers 200 to every correctly signed request (401
 * otherwise) and records each message.created by message id, so senders can wait for theirs.
 * The test suite has its own receiver (test/support); the bench does not import test code.
 */
export class WebhookSink {
  readonly counts: SinkCounts = { requests: 0, invalidSignatures: 0, duplicateEventIds: 0, duplicateMessages: 0, byType: {}, unparsable: 0 };
  private readonly eventIds = new Set<string>();
  private readonly created = new Map<string, CreatedReceipt>();
  private lastAt = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secret: string,
  ) {
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const ok = this.take(Buffer.concat(chunks), req.headers);
        res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'bad signature');
      });
    });
  }

  /** Listens on a free loopback port; every request must carry a signature made with `secret`. */
  static async start(secret: string): Promise<WebhookSink> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new WebhookSink(server, `http://127.0.0.1:${port}/bench-hooks`, secret);
  }

  /** Records one request; false when its signature does not verify. */
  private take(raw: Buffer, headers: IncomingHttpHeaders): boolean {
    const at = performance.now();
    const wall = Date.now();
    this.counts.requests += 1;
    this.lastAt = at;
    if (!signatureValid(this.secret, raw, headers)) {
      this.counts.invalidSignatures += 1;
      return false;
    }
    let body: EventBody;
    try {
      body = JSON.parse(raw.toString('utf8')) as EventBody;
    } catch {
      this.counts.unparsable += 1;
      return true;
    }
    const type = typeof body.type === 'string' ? body.type : '?';
    this.counts.byType[type] = (this.counts.byType[type] ?? 0) + 1;
    const eventId = typeof body.id === 'string' ? body.id : '';
    if (this.eventIds.has(eventId)) {
      this.counts.duplicateEventIds += 1;
      return true;
    }
    this.eventIds.add(eventId);
    const message = body.payload?.message;
    if (type !== 'message.created' || typeof message?.id !== 'string') return true;
    if (this.created.has(message.id)) {
      this.counts.duplicateMessages += 1;
      return true;
    }
    const sentAt = typeof message.sent_at === 'string' ? Date.parse(message.sent_at) : Number.NaN;
    this.created.set(message.id, { at, lagMs: wall - sentAt });
    return true;
  }

  /** The message.created receipt of `messageId`, if it came. */
  receipt(messageId: string): CreatedReceipt | undefined {
    return this.created.get(messageId);
  }

  /** How many of `messageIds` have had their message.created. */
  arrivedOf(messageIds: Iterable<string>): number {
    let n = 0;
    for (const id of messageIds) if (this.created.has(id)) n += 1;
    return n;
  }

  /** message.created receipts for message ids nobody in `known` sent (another run's, or a bug). */
  strangers(known: ReadonlySet<string>): number {
    let n = 0;
    for (const id of this.created.keys()) if (!known.has(id)) n += 1;
    return n;
  }

  /** performance.now() of the latest request (0 before any). */
  get lastRequestAt(): number {
    return this.lastAt;
  }

  /** A copy of the counts, to subtract a later one from (a phase's share). */
  snapshot(): SinkCounts {
    return { ...this.counts, byType: { ...this.counts.byType } };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The counts of a phase: `after` minus `before`. */
export function countsSince(before: SinkCounts, after: SinkCounts): SinkCounts {
  const byType: Record<string, number> = {};
  for (const [type, n] of Object.entries(after.byType)) {
    const d = n - (before.byType[type] ?? 0);
    if (d !== 0) byType[type] = d;
  }
  return {
    requests: after.requests - before.requests,
    invalidSignatures: after.invalidSignatures - before.invalidSignatures,
    duplicateEventIds: after.duplicateEventIds - before.duplicateEventIds,
    duplicateMessages: after.duplicateMessages - before.duplicateMessages,
    byType,
    unparsable: after.unparsable - before.unparsable,
  };
}
