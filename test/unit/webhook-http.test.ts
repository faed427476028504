import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpWebhookSender } from '../../src/adapters/webhooks/http.sender.js';
import { signWebhookBody, verifyWebhookSignature } from '../../src/adapters/webhooks/webhook-signature.js';
import { loadConfig } from '../../src/config.js';
import type { OutgoingWebhook } from '../../src/domain/webhook.ports.js';
import { MessageEvents, messageEventPayload } from '../../src/domain/webhook-payloads.js';
import type { Conversation } from '../../src/domain/types.js';
import { storedMessage } from './fixtures.js';

const SECRET = 'unit-webhook-secret-0123';
const EVENT: OutgoingWebhook = {
  id: '0b6f3c52-6f0e-4d59-9c1e-1f2a3b4c5d6e',
  type: 'message.updated',
  createdAt: new Date('2026-11-22T10:00:00.000Z'),
  attempt: 2,
  payload: { conversation_id: 'c1', channel_id: 'sms', message: { id: 'm1', delivery_state: 'failed', metadata: { error: 'Some error message' } } },
};

interface Seen {
  headers: IncomingHttpHeaders;
  raw: string;
}

/** A local endpoint answering each request with `answer` (status, extra headers), or not at all. */
async function endpoint(answer: (seen: Seen) => { status: number; headers?: Record<string, string> } | 'never'): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      const a = answer(s);
      if (a !== 'never') res.writeHead(a.status, a.headers).end('a body the sender does not read');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('HttpWebhookSender and signatures (unit)', () => {
  const never = new AbortController().signal;

  it('POSTs the event signed over the raw body, with a fresh timestamp inside and in X-Hub-Timestamp', async () => {
    const ep = await endpoint(() => ({ status: 204 }));
    try {
      const before = Date.now();
      const result = await new HttpWebhookSender({ url: ep.url, secret: SECRET, timeoutMs: 2000 }).send(EVENT, never);
      expect(result).to.deep.equal({ ok: true, status: 204 });
      const [{ headers, raw }] = ep.seen as [Seen];
      expect(headers['x-hub-signature-256']).to.equal(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
      expect(headers['content-type']).to.equal('application/json');
      expect(headers).to.include({ 'x-hub-event-id': EVENT.id, 'x-hub-event-type': 'message.updated' });
      const body = JSON.parse(raw) as Record<string, unknown>;
      expect(body).to.deep.include({ id: EVENT.id, type: EVENT.type, created_at: '2026-11-22T10:00:00.000Z', attempt: 2, payload: EVENT.payload });
      const sentAt = Date.parse(body['timestamp'] as string);
      expect(sentAt).to.be.within(before, Date.now());
      expect(headers['x-hub-timestamp']).to.equal(String(Math.floor(sentAt / 1000)));
    } finally {
      await ep.close();
    }
  });

  it('counts only 2xx as delivered: errors, redirects (not followed), timeouts, refusals and aborts are failures', async () => {
    const ep = await endpoint((s) => {
      const kind = (JSON.parse(s.raw) as { payload: { kind: string } }).payload.kind;
      if (kind === 'error') return { status: 500 };
      if (kind === 'redirect') return { status: 307, headers: { location: '/elsewhere' } };
      return 'never';
    });
    const sender = new HttpWebhookSender({ url: ep.url, secret: SECRET, timeoutMs: 150 });
    const send = (kind: string, signal = never) => sender.send({ ...EVENT, payload: { kind } }, signal);
    try {
      expect(await send('error')).to.deep.equal({ ok: false, error: 'HTTP 500 Internal Server Error' });
      expect(await send('redirect')).to.deep.include({ ok: false, error: 'HTTP 307 Temporary Redirect' });
      expect(ep.seen, 'the redirect was not followed').to.have.length(2);
      expect(await send('silent')).to.deep.equal({ ok: false, error: 'no answer within 150 ms' });
      const aborted = new AbortController();
      const pending = send('silent', aborted.signal);
      aborted.abort();
      expect(await pending).to.deep.equal({ ok: false, error: 'aborted: the hub is shutting down' });
    } finally {
      await ep.close();
    }
    const refused = await new HttpWebhookSender({ url: ep.url, secret: SECRET, timeoutMs: 1000 }).send(EVENT, never);
    expect(refused).to.deep.equal({ ok: false, error: 'request failed: ECONNREFUSED' });
  });

  it('verifyWebhookSignature accepts the exact body only', () => {
    const body = '{"id":"x","timestamp":"2026-11-22T10:00:00.000Z"}';
    const header = signWebhookBody(SECRET, body);
    expect(verifyWebhookSignature(SECRET, body, header)).to.equal(true);
    expect(verifyWebhookSignature(SECRET, body.replace('10:00', '10:01'), header)).to.equal(false);
    expect(verifyWebhookSignature('another-secret-0123456', body, header)).to.equal(false);
    expect(verifyWebhookSignature(SECRET, body, undefined)).to.equal(false);
    expect(verifyWebhookSignature(SECRET, body, 'sha256=00')).to.equal(false);
  });
});

describe('Webhook payloads (unit)', () => {
  const conversation = { id: 'c1', channel: 'sms', channelId: 'promo-sms' } as Conversation;

  it('messageEventPayload is the seed view plus delivery_state, with the §6 channel id', () => {
    const m = storedMessage('c1', { channel: 'sms', state: 'FAILED', metadata: { error: 'Some error message' }, from: { id: 'system', name: 'System', role: 'system' } });
    const payload = messageEventPayload(m, conversation);
    expect(payload).to.deep.include({ conversation_id: 'c1', channel_id: 'promo-sms' });
    expect(payload.message).to.deep.include({
      id: m.id,
      content: { text: m.text },
      state: 'failed',
      delivery_state: 'failed',
      from_contact: false,
      source: 'sms',
      metadata: { error: 'Some error message' },
    });
    expect(messageEventPayload(m, { ...conversation, channelId: undefined }).channel_id).to.equal('sms');
    expect(messageEventPayload(m, undefined).channel_id, 'without the conversation: the message channel').to.equal('sms');
  });

  it('MessageEvents emits chat messages only, and still emits when the conversation cannot be read', async () => {
    const emitted: Array<{ type: string; payload: Record<string, unknown> }> = [];
    const events = new MessageEvents({ emit: (type, payload) => void emitted.push({ type, payload }) }, async (id) => {
      if (id === 'down') throw new Error('database down');
      return conversation;
    });
    events.emit('message.created', storedMessage('c1', { type: 'ActivityMessage', activityType: 'greetings' }));
    events.emit('message.created', storedMessage('c1'));
    events.emit('message.updated', storedMessage('down', { channel: 'web' }));
    await events.idle();
    expect(emitted.map((e) => [e.type, e.payload['channel_id']])).to.deep.equal([
      ['message.created', 'promo-sms'],
      ['message.updated', 'web'],
    ]);
  });
});

describe('Webhook configuration (unit)', () => {
  const base = { HUB_SECRET: 'x'.repeat(32), SYSTEM_TOKEN: 'y'.repeat(24), DATA_DIR: '/nonexistent-hub-data' };

  it('is off without WEBHOOK_URL, and has the documented defaults', () => {
    const { config } = loadConfig(base);
    expect(config.webhookUrl).to.equal(undefined);
    expect(config.webhooks).to.deep.equal({ timeoutMs: 10000, retryBaseMs: 1000, retryMaxMs: 300000, maxAttempts: 10, pollMs: 1000, concurrency: 8, sweepMs: 60000 });
    const tuned = loadConfig({ ...base, WEBHOOK_TIMEOUT_MS: '500', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_MAX_ATTEMPTS: '3', WEBHOOK_SWEEP_MS: '5000' }).config.webhooks;
    expect(tuned).to.include({ timeoutMs: 500, retryBaseMs: 50, maxAttempts: 3, sweepMs: 5000 });
  });

  it('requires WEBHOOK_SECRET (16+ characters) with WEBHOOK_URL, and an http(s) URL', () => {
    const url = 'https://crm.example/hooks';
    expect(() => loadConfig({ ...base, WEBHOOK_URL: url })).to.throw(/webhookSecret: WEBHOOK_SECRET is required when WEBHOOK_URL is set/);
    expect(() => loadConfig({ ...base, WEBHOOK_URL: url, WEBHOOK_SECRET: 'short' })).to.throw(/WEBHOOK_SECRET must be at least 16 characters/);
    expect(() => loadConfig({ ...base, WEBHOOK_URL: 'ftp://crm.example/hooks', WEBHOOK_SECRET: 's'.repeat(16) })).to.throw(/WEBHOOK_URL must be an http/);
    expect(loadConfig({ ...base, WEBHOOK_URL: url, WEBHOOK_SECRET: 's'.repeat(16) }).config.webhookUrl).to.equal(url);
  });
});
