import { expect } from 'chai';
import type { Server } from 'node:http';
import pino from 'pino';
import { createFbApp } from '../src/fb.app.js';
import type { FbInboundMessage } from '../src/fb-inbound.js';
import { signPayload } from '../src/fb-signature.js';
import type { InboundOutcome } from '../src/fb.webhooks.js';
import { messageEvent, pageBody } from './fixtures.js';

const APP_SECRET = 'unit-app-secret';
const VERIFY_TOKEN = 'unit-verify-token';

describe('Messenger webhook router (unit)', () => {
  let server: Server;
  let base: string;
  let registered = true;
  let delivered: FbInboundMessage[] = [];
  let deliver: (m: FbInboundMessage) => Promise<InboundOutcome>;

  before(async () => {
    const app = createFbApp({
      appSecret: APP_SECRET,
      verifyToken: VERIFY_TOKEN,
      deliver: (m) => deliver(m),
      logger: pino({ level: 'silent' }),
      isRegistered: () => registered,
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  beforeEach(() => {
    delivered = [];
    deliver = async (m) => {
      delivered.push(m);
      return 'stored';
    };
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const verify = (query: Record<string, string | undefined>) => fetch(`${base}/webhook?${new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined)).toString()}`);
  /** POSTs `raw` signed with the app secret, or with `signature` (null: no header). */
  const post = (raw: string, signature: string | null = signPayload(APP_SECRET, raw)) =>
    fetch(`${base}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hub-signature-256': signature }) },
      body: raw,
    });

  describe('GET /webhook (verification handshake)', () => {
    it('answers the challenge as plain text for mode subscribe and the right token', async () => {
      const res = await verify({ 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1158201444' });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain/);
      expect(await res.text()).to.equal('1158201444');
    });

    it('refuses a wrong token, a wrong mode and a missing token with 403', async () => {
      for (const query of [
        { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' },
        { 'hub.mode': 'subscribe', 'hub.verify_token': `${VERIFY_TOKEN}x`, 'hub.challenge': '1' },
        { 'hub.mode': 'unsubscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1' },
        { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      ]) {
        const res = await verify(query);
        expect(res.status, JSON.stringify(query)).to.equal(403);
        expect(await res.text()).to.not.contain('1');
      }
    });
  });

  describe('POST /webhook (events)', () => {
    it('relays a signed message and answers EVENT_RECEIVED after the hub acked it', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      deliver = async (m) => {
        await gate;
        delivered.push(m);
        return 'stored';
      };
      const pending = post(JSON.stringify(pageBody(messageEvent('PSID-1', { mid: 'm_1', text: 'hi' }))));
      const early = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 100))]);
      expect(early).to.equal('waiting', 'no answer before the hub acked');
      release();
      const res = await pending;
      expect(res.status).to.equal(200);
      expect(await res.text()).to.equal('EVENT_RECEIVED');
      expect(delivered).to.have.length(1);
      expect(delivered[0]).to.include({ refId: 'PSID-1', text: 'hi', clientMessageId: 'm_1' });
    });

    it('refuses a missing or wrong signature with 403 and relays nothing', async () => {
      const raw = JSON.stringify(pageBody(messageEvent('PSID-1', { mid: 'm_bad', text: 'forged' })));
      for (const sig of [null, 'sha256=00', signPayload('not-the-secret', raw), signPayload(APP_SECRET, `${raw} `)]) {
        const res = await post(raw, sig);
        expect(res.status, String(sig)).to.equal(403);
      }
      expect(delivered).to.deep.equal([]);
    });

    it('checks the signature over the raw bytes, whatever the content type', async () => {
      const raw = `{"object":"page",  "entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"P"},"recipient":{"id":"1"},"message":{"mid":"m_ws","text":"caf\\u00e9"}}]}]}`;
      const res = await fetch(`${base}/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'x-hub-signature-256': signPayload(APP_SECRET, raw) },
        body: raw,
      });
      expect(res.status).to.equal(200);
      expect(delivered[0]?.text).to.equal('café');
    });

    it('answers 404 for another object, 400 for a malformed but signed body', async () => {
      const other = JSON.stringify({ object: 'instagram', entry: [] });
      expect((await post(other)).status).to.equal(404);
      expect((await post('{not json')).status).to.equal(400);
      const malformed = await post(JSON.stringify({ object: 'page', entry: [{ id: '1', messaging: [{ sender: {}, message: {} }] }] }));
      expect(malformed.status).to.equal(400);
      expect(delivered).to.deep.equal([]);
    });

    it('answers 200 without relaying echoes, reads and deliveries', async () => {
      const body = {
        object: 'page',
        entry: [
          {
            id: '1',
            time: 1,
            messaging: [
              { sender: { id: '1' }, recipient: { id: 'P' }, message: { mid: 'm_e', text: 'echo', is_echo: true } },
              { sender: { id: 'P' }, recipient: { id: '1' }, read: { watermark: 1 } },
              { sender: { id: 'P' }, recipient: { id: '1' }, delivery: { watermark: 1 } },
            ],
          },
        ],
      };
      const res = await post(JSON.stringify(body));
      expect(res.status).to.equal(200);
      expect(delivered).to.deep.equal([]);
    });

    it('answers 503 when the hub is unavailable, so Meta redelivers the batch', async () => {
      deliver = async (m) => {
        if (m.clientMessageId === 'm_b2') throw new Error('UNAVAILABLE');
        delivered.push(m);
        return 'stored';
      };
      const body = pageBody(
        messageEvent('A', { mid: 'm_a1', text: 'a1' }),
        messageEvent('B', { mid: 'm_b2', text: 'b2' }),
        messageEvent('B', { mid: 'm_b3', text: 'b3' }),
      );
      const res = await post(JSON.stringify(body));
      expect(res.status).to.equal(503);
      // B's later message is not tried after its earlier one failed: order per customer is kept.
      expect(delivered.map((m) => m.clientMessageId)).to.deep.equal(['m_a1']);
    });

    it('answers 200 when the hub rejects a message for good (a redelivery could not help)', async () => {
      deliver = async () => 'rejected';
      const res = await post(JSON.stringify(pageBody(messageEvent('A', { mid: 'm_r', text: 'x' }))));
      expect(res.status).to.equal(200);
    });

    it('relays one sender strictly in order', async () => {
      const order: string[] = [];
      deliver = async (m) => {
        order.push(`start ${m.clientMessageId}`);
        await new Promise((r) => setTimeout(r, m.clientMessageId === 'm1' ? 50 : 0));
        order.push(`end ${m.clientMessageId}`);
        return 'stored';
      };
      const res = await post(JSON.stringify(pageBody(messageEvent('S', { mid: 'm1', text: '1' }), messageEvent('S', { mid: 'm2', text: '2' }))));
      expect(res.status).to.equal(200);
      expect(order).to.deep.equal(['start m1', 'end m1', 'start m2', 'end m2']);
    });
  });

  it('GET /health is 200 when registered, 503 before', async () => {
    registered = false;
    expect((await fetch(`${base}/health`)).status).to.equal(503);
    registered = true;
    const res = await fetch(`${base}/health`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok', registered: true });
  });
});
