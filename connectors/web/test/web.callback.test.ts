import { expect } from 'chai';
import { RetryableError } from '@chat-hub/connector-sdk';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { classifyStatus, deliveryBudgetMs, excerpt, externalIdOf, WebCallbackClient, type CallbackOptions } from '../src/web.callback.js';
import { hubMessage } from './fixtures.js';

const SECRET = 'callback-secret-0123456789';

type Reply = { status: number; body?: string; delayMs?: number; headers?: Record<string, string> } | 'hang-up';

/** A website backend: records each callback and answers from a script (then 200). */
class Receiver {
  readonly requests: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  readonly script: Reply[] = [];
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const reply = this.script.shift() ?? { status: 200, body: '{"id":"ext-1"}' };
        if (reply === 'hang-up') return req.socket.destroy();
        setTimeout(() => {
          if (!res.destroyed) res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body ?? '');
        }, reply.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callback`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('web callback client (unit, local receiver)', () => {
  const receiver = new Receiver();
  const client = (extra: Partial<CallbackOptions> = {}): WebCallbackClient =>
    new WebCallbackClient({ url: receiver.url, secret: SECRET, timeoutMs: 300, retries: 2, backoffMs: 10, maxBackoffMs: 40, logger: pino({ level: 'silent' }), ...extra });

  before(() => receiver.start());
  after(() => receiver.close());
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.script.length = 0;
  });

  it('POSTs the payload signed, with timestamp and Idempotency-Key; 2xx → externalId from the JSON id', async () => {
    const m = hubMessage();
    const result = await client().deliver(m);
    expect(result).to.deep.equal({ externalId: 'ext-1' });
    expect(receiver.requests).to.have.length(1);
    const { headers, body } = receiver.requests[0]!;
    expect(headers['content-type']).to.equal('application/json');
    expect(headers['idempotency-key']).to.equal(m.id);
    const ts = String(headers['x-hub-timestamp']);
    expect(Math.abs(Number(ts) - Date.now() / 1000)).to.be.lessThan(5);
    expect(headers['x-hub-signature-256']).to.equal(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`);
    expect(JSON.parse(body)).to.deep.equal({
      id: m.id,
      conversationId: m.conversationId,
      userId: 'user-42',
      text: m.text,
      attachments: m.attachments,
      from: { name: 'Alex', role: 'agent' },
      timestamp: m.timestamp,
    });
  });

  it('treats a 2xx without a JSON id as delivered without externalId', async () => {
    receiver.script.push({ status: 204 });
    expect(await client().deliver(hubMessage())).to.deep.equal({});
    receiver.script.push({ status: 200, body: 'thanks' });
    expect(await client().deliver(hubMessage())).to.deep.equal({});
  });

  it('retries 500, 429 and 408 in the handler with the same Idempotency-Key, then succeeds once', async () => {
    receiver.script.push({ status: 500, body: 'oops' }, { status: 429, headers: { 'retry-after': '0' } });
    const m = hubMessage();
    expect(await client().deliver(m)).to.deep.equal({ externalId: 'ext-1' });
    expect(receiver.requests).to.have.length(3);
    expect(new Set(receiver.requests.map((r) => r.headers['idempotency-key']))).to.deep.equal(new Set([m.id]));
    receiver.requests.length = 0;
    receiver.script.push({ status: 408 });
    expect(await client({ retries: 1 }).deliver(m)).to.deep.equal({ externalId: 'ext-1' });
    expect(receiver.requests).to.have.length(2);
  });

  it('refuses for good on a 4xx, without retrying, naming the status and a body excerpt', async () => {
    receiver.script.push({ status: 400, body: JSON.stringify({ error: 'unknown user', detail: 'x'.repeat(500) }) });
    const err = await client().deliver(hubMessage()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(err).not.to.be.instanceOf(RetryableError);
    expect((err as Error).message).to.match(/^callback answered 400: \{"error":"unknown user"/);
    expect((err as Error).message.length).to.be.lessThan(260);
    expect(receiver.requests).to.have.length(1);
  });

  it('answers RetryableError after retries+1 transient failures', async () => {
    receiver.script.push({ status: 503 }, { status: 502 }, { status: 500, body: 'still down' });
    const err = await client().deliver(hubMessage()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as Error).message).to.equal('callback answered 500: still down (after 3 attempts)');
    expect(receiver.requests).to.have.length(3);
  });

  it('treats a timeout and a dropped connection as transient', async () => {
    receiver.script.push({ status: 200, delayMs: 1000 }, 'hang-up');
    expect(await client().deliver(hubMessage())).to.deep.equal({ externalId: 'ext-1' });
    expect(receiver.requests).to.have.length(3);
    receiver.script.push({ status: 200, delayMs: 1000 });
    const err = await client({ retries: 0 }).deliver(hubMessage()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as Error).message).to.include('no answer within 300 ms');
  });

  it('treats an unreachable receiver as transient', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const err = await client({ url: `http://127.0.0.1:${port}/callback`, retries: 1 })
      .deliver(hubMessage())
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError);
    expect((err as Error).message).to.include('ECONNREFUSED');
  });

  it('does not follow redirects: a 3xx is refused for good', async () => {
    receiver.script.push({ status: 301, headers: { location: '/elsewhere' } });
    const err = await client().deliver(hubMessage()).catch((e: unknown) => e);
    expect(err).not.to.be.instanceOf(RetryableError);
    expect((err as Error).message).to.include('301');
    expect(receiver.requests).to.have.length(1);
  });
});

describe('web callback status mapping (unit)', () => {
  it('classifies statuses', () => {
    for (const s of [200, 201, 202, 204, 299]) expect(classifyStatus(s), String(s)).to.equal('delivered');
    for (const s of [408, 429, 500, 502, 503, 504]) expect(classifyStatus(s), String(s)).to.equal('transient');
    for (const s of [301, 302, 400, 401, 403, 404, 409, 410, 413, 422]) expect(classifyStatus(s), String(s)).to.equal('permanent');
  });

  it('reads the external id and shortens bodies', () => {
    expect(externalIdOf('{"id":"abc"}')).to.equal('abc');
    expect(externalIdOf('{"id":42}')).to.equal('42');
    expect(externalIdOf('{"id":""}')).to.equal(undefined);
    expect(externalIdOf('{"id":{"x":1}}')).to.equal(undefined);
    expect(externalIdOf('<html>')).to.equal(undefined);
    expect(externalIdOf('')).to.equal(undefined);
    expect(excerpt('a\n  b')).to.equal('a b');
    expect(excerpt('x'.repeat(300))).to.have.length(201);
  });

  it('gives the handler time for every attempt', () => {
    expect(deliveryBudgetMs({ timeoutMs: 5000, retries: 3 })).to.be.greaterThan(5000 * 4 + 200 + 400 + 800);
    expect(deliveryBudgetMs({ timeoutMs: 1000, retries: 0 })).to.be.greaterThan(1000);
  });
});
