import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { agentToken, initCustomer, postJson, type InitBody } from './support/clients.js';
import { HUB_SECRET, startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { startTestStore, type TestStore } from './support/store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('HTTP API: init, agent tokens, operations', function () {
  let store: TestStore;
  let hub: RunningHub;
  let init: string;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('http_api'));
    init = `${hub.url}/api/customer/init`;
  });
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  describe('POST /api/customer/init', () => {
    it('opens a conversation and returns the contract fields and a customer token', async () => {
      const res = await postJson<InitBody>(init, { firstName: 'Jane', lastName: 'Doe', channel: 'web', phone: '+4915112345678', subject: 'billing' });
      expect(res.status).to.equal(200);
      const body = res.body;
      expect(body.conversationId).to.match(UUID);
      expect(body.participant).to.deep.include({ name: 'Jane Doe', role: 'customer' });
      expect(body.participant.id).to.match(UUID);
      expect(body.requestId).to.be.a('string').and.not.empty;
      expect(body.timestamp).to.match(ISO_MS);
      const claims = jwt.verify(body.token, HUB_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
      expect(claims.sub).to.equal(body.participant.id);
      expect(claims['cid']).to.equal(body.conversationId);
      expect(claims.exp).to.be.a('number');
    });

    it('returns the same conversation for a repeated requestId, also when retried concurrently', async () => {
      const requestId = `req-${Date.now()}`;
      const payload = { firstName: 'Retry', channel: 'web', phone: '+15550001', requestId };
      const [a, b, c] = await Promise.all([postJson<InitBody>(init, payload), postJson<InitBody>(init, payload), postJson<InitBody>(init, payload)]);
      expect([a.status, b.status, c.status]).to.deep.equal([200, 200, 200]);
      expect(b.body.conversationId).to.equal(a.body.conversationId);
      expect(c.body.conversationId).to.equal(a.body.conversationId);
      expect(a.body.participant.id).to.equal(b.body.participant.id);
      expect(a.body.requestId).to.equal(requestId);
      const later = await postJson<InitBody>(init, payload);
      expect(later.body.conversationId).to.equal(a.body.conversationId);
    });

    it('generates a requestId when none is sent', async () => {
      const a = await initCustomer(hub.url);
      const b = await initCustomer(hub.url);
      expect(a.requestId).to.match(UUID);
      expect(a.requestId).to.not.equal(b.requestId);
      expect(a.conversationId).to.not.equal(b.conversationId);
    });

    const invalid: Array<[string, unknown, string]> = [
      ['missing firstName', { channel: 'web', email: 'a@b.co' }, 'firstName'],
      ['missing channel', { firstName: 'A', email: 'a@b.co' }, 'channel'],
      ['unknown channel', { firstName: 'A', channel: 'fax', email: 'a@b.co' }, 'channel'],
      ['no identifier', { firstName: 'A', channel: 'web' }, 'refId'],
      ['bad email', { firstName: 'A', channel: 'web', email: 'not-an-email' }, 'email'],
      ['bad phone', { firstName: 'A', channel: 'web', phone: 'call me' }, 'phone'],
      ['wrong type', { firstName: 42, channel: 'web', email: 'a@b.co' }, 'firstName'],
      ['operator object in a field', { firstName: { $ne: null }, channel: 'web', email: 'a@b.co' }, 'firstName'],
      ['operator object in refId', { firstName: 'A', channel: 'web', refId: { $gt: '' } }, 'refId'],
      ['operator object as custom data', { firstName: 'A', channel: 'web', email: 'a@b.co', crm: { $where: 'sleep(1)' } }, 'crm'],
      ['operator key as custom field name', { firstName: 'A', channel: 'web', email: 'a@b.co', $where: 'x' }, '$where'],
      ['bad timestamp', { firstName: 'A', channel: 'web', email: 'a@b.co', timestamp: 'yesterday' }, 'timestamp'],
      ['bad requestId', { firstName: 'A', channel: 'web', email: 'a@b.co', requestId: 'no spaces allowed' }, 'requestId'],
    ];
    for (const [name, body, field] of invalid) {
      it(`answers 400 naming the field for ${name}`, async () => {
        const res = await postJson<{ error: string; code: string; details: Array<{ field: string }> }>(init, body);
        expect(res.status).to.equal(400);
        expect(res.body.code).to.equal('BAD_REQUEST');
        expect(res.body.error).to.include(field);
        expect(res.body.details.map((d) => d.field)).to.include(field);
      });
    }

    it('answers 400 for malformed JSON and for a non-object body', async () => {
      const bad = await postJson<{ code: string; error: string }>(init, '{"firstName": ');
      expect(bad.status).to.equal(400);
      expect(bad.body.code).to.equal('BAD_REQUEST');
      const arr = await postJson<{ code: string }>(init, '[1,2]');
      expect(arr.status).to.equal(400);
      expect(arr.body.code).to.equal('BAD_REQUEST');
    });

    it('answers 413 for an oversized body', async () => {
      const res = await postJson<{ code: string }>(init, { firstName: 'A', channel: 'web', email: 'a@b.co', comment: 'x'.repeat(400_000) });
      expect(res.status).to.equal(413);
      expect(res.body.code).to.equal('PAYLOAD_TOO_LARGE');
    });

    it('keeps extra fields as the customer custom data', async () => {
      const body = await initCustomer(hub.url, { plan: 'gold', visits: 3 });
      const doc = await hub.db.connection.collection('conversations').findOne({ _id: body.conversationId as never });
      expect(doc?.['customer']?.custom).to.deep.equal({ plan: 'gold', visits: 3 });
    });
  });

  describe('POST /api/agents/token', () => {
    it('mints an HS256 agent token with the system token', async () => {
      const token = await agentToken(hub.url, 'ann', 'Ann', ['billing']);
      const claims = jwt.verify(token, HUB_SECRET, { algorithms: ['HS256'] }) as jwt.JwtPayload;
      expect(claims.sub).to.equal('ann');
      expect(claims['skills']).to.deep.equal(['billing']);
      expect(claims.aud).to.equal('agent');
      expect(claims.exp).to.be.a('number');
    });

    it('refuses a missing, wrong or non-system credential', async () => {
      const url = `${hub.url}/api/agents/token`;
      const body = { id: 'x', name: 'X', skills: [] };
      const none = await postJson<{ code: string }>(url, body);
      expect(none.status).to.equal(401);
      expect(none.body.code).to.equal('UNAUTHORIZED');
      const wrong = await postJson<{ code: string }>(url, body, { authorization: `Bearer ${SYSTEM_TOKEN}x` });
      expect(wrong.status).to.equal(401);
      const customer = await initCustomer(hub.url);
      const asCustomer = await postJson<{ code: string }>(url, body, { authorization: `Bearer ${customer.token}` });
      expect(asCustomer.status).to.equal(403);
      expect(asCustomer.body.code).to.equal('FORBIDDEN');
    });

    it('validates the agent fields', async () => {
      const res = await postJson<{ code: string; error: string }>(
        `${hub.url}/api/agents/token`,
        { id: { $ne: null }, name: 'X', skills: 'billing' },
        { authorization: `Bearer ${SYSTEM_TOKEN}` },
      );
      expect(res.status).to.equal(400);
      expect(res.body.error).to.include('id').and.include('skills');
    });
  });

  describe('operations', () => {
    it('GET /health and /ready answer 200', async () => {
      expect((await fetch(`${hub.url}/health`)).status).to.equal(200);
      const ready = await fetch(`${hub.url}/ready`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.deep.equal({ status: 'ready' });
    });

    it('GET /metrics speaks Prometheus text with hub metrics', async () => {
      const res = await fetch(`${hub.url}/metrics`);
      expect(res.headers.get('content-type')).to.include('text/plain');
      const text = await res.text();
      expect(text).to.match(/^hub_messages_stored_total \d+/m);
      expect(text).to.match(/^hub_connected_sockets \d+/m);
      expect(text).to.include('process_resident_memory_bytes');
    });

    it('unknown routes answer 404 in the error shape', async () => {
      const res = await fetch(`${hub.url}/api/nope`);
      expect(res.status).to.equal(404);
      expect(await res.json()).to.deep.include({ code: 'NOT_FOUND' });
    });

    it('allows only configured browser origins', async () => {
      const foreign = await fetch(init, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
      expect(foreign.status).to.equal(403);
      expect(foreign.headers.get('access-control-allow-origin')).to.equal(null);
      const allowedHub = await startHub(store.uri('http_api_cors'), { ALLOWED_ORIGINS: 'https://shop.example' });
      try {
        const ok = await fetch(`${allowedHub.url}/api/customer/init`, { method: 'OPTIONS', headers: { origin: 'https://shop.example' } });
        expect(ok.status).to.equal(204);
        expect(ok.headers.get('access-control-allow-origin')).to.equal('https://shop.example');
        // A widget's chatplugin.send carries its token and, for safe retries, an Idempotency-Key.
        const send = await fetch(`${allowedHub.url}/chatplugin.send`, {
          method: 'OPTIONS',
          headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
        });
        expect(send.status).to.equal(204);
        const allowedHeaders = (send.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
        expect(allowedHeaders).to.include.members(['authorization', 'content-type', 'idempotency-key']);
      } finally {
        await allowedHub.close();
      }
    });

    it('rate-limits init per client address', async () => {
      const limited = await startHub(store.uri('http_api_rate'), { RATE_LIMIT_INIT_PER_MINUTE: '3' });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i += 1) {
          statuses.push((await postJson(`${limited.url}/api/customer/init`, { firstName: 'R', channel: 'web', email: 'r@x.org' })).status);
        }
        expect(statuses).to.deep.equal([200, 200, 200, 429, 429]);
      } finally {
        await limited.close();
      }
    });
  });
});
