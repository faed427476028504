import { expect } from 'chai';
import { HubRequestError, type InboundInput, type InboundResult } from '@chat-hub/connector-sdk';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createWebApp } from '../src/web.app.js';
import { bearerMatches, statusForHubCode } from '../src/web.inbound.js';
import { hubMessage } from './fixtures.js';

const TOKEN = 'inbound-token-0123456789';

describe('web inbound API (unit, stub hub)', () => {
  let server: Server;
  let url: string;
  const calls: InboundInput[] = [];
  let answer: (input: InboundInput) => Promise<InboundResult>;
  let registered = true;

  before(async () => {
    const app = createWebApp({
      inboundToken: TOKEN,
      sendInbound: (input) => {
        calls.push(input);
        return answer(input);
      },
      registered: () => registered,
      logger: pino({ level: 'silent' }),
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    calls.length = 0;
    registered = true;
    answer = async () => ({ conversationId: 'conv-1', message: hubMessage({ id: 'msg-1' }) });
  });

  const post = async (body: unknown, token: string | null = TOKEN, raw = false): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> => {
    const res = await fetch(`${url}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: raw ? (body as string) : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
  };

  it('relays a message and answers {conversationId, messageId}', async () => {
    const res = await post({
      userId: 'user-42',
      name: 'Jane',
      text: 'hello',
      attachments: [{ type: 'image/png', name: 'a.png', contentUrl: 'https://example.org/a.png' }],
      messageId: 'site-1',
      metadata: { page: '/checkout', cart: { items: 2 } },
      customer: { firstName: 'Jane', email: 'jane@example.org' },
    });
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ conversationId: 'conv-1', messageId: 'msg-1' });
    expect(calls).to.deep.equal([
      {
        refId: 'user-42',
        name: 'Jane',
        text: 'hello',
        attachments: [{ type: 'image/png', name: 'a.png', contentUrl: 'https://example.org/a.png' }],
        clientMessageId: 'site-1',
        metadata: { page: '/checkout', cart: { items: 2 } },
        customer: { firstName: 'Jane', email: 'jane@example.org' },
      },
    ]);
  });

  it('answers 401 for a missing, wrong or malformed bearer, before reading the body', async () => {
    for (const token of [null, 'wrong-token-0123456789', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const res = await post({ userId: 'u', text: 'x' }, token);
      expect(res.status, String(token)).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.equal('Bearer');
    }
    expect((await post('{not json', 'wrong-token-0123456789', true)).status).to.equal(401);
    expect(calls).to.have.length(0);
    expect(bearerMatches(`bearer ${TOKEN}`, TOKEN)).to.equal(true);
    expect(bearerMatches(`Basic ${TOKEN}`, TOKEN)).to.equal(false);
    expect(bearerMatches(undefined, TOKEN)).to.equal(false);
  });

  it('answers 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ text: 'x' }, 'userId'],
      [{ userId: 'u' }, 'text'],
      [{ userId: 'u', text: 'x', attachments: [{ type: 'a', name: 'b', contentUrl: 'javascript:alert(1)' }] }, 'attachments.0.contentUrl'],
      [{ userId: 'u', text: 'x', customer: { email: 'nope' } }, 'customer.email'],
      [{ userId: 'u', text: 'x', metadata: { $where: 1 } }, 'metadata'],
      [{ userId: 'u', text: 'x', userID: 'typo' }, 'userID'],
      [{ userId: 'u', text: 'y'.repeat(20_001) }, 'text'],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body['code']).to.equal('BAD_REQUEST');
      expect((res.body['details'] as Array<{ field: string }>).map((d) => d.field), JSON.stringify(res.body)).to.include(field);
      expect(String(res.body['error'])).to.include(field);
    }
    expect((await post('{"userId":', TOKEN, true)).status).to.equal(400);
    expect(calls).to.have.length(0);
  });

  it('answers 413 above 256 kb', async () => {
    const res = await post({ userId: 'u', text: 'x', metadata: { blob: 'z'.repeat(300 * 1024) } });
    expect(res.status).to.equal(413);
    expect(res.body['code']).to.equal('PAYLOAD_TOO_LARGE');
  });

  it('maps hub error codes to HTTP statuses', async () => {
    const cases: Array<[string, number]> = [
      ['BAD_REQUEST', 400],
      ['CONVERSATION_ENDED', 409],
      ['CONFLICT', 409],
      ['PAYLOAD_TOO_LARGE', 413],
      ['RATE_LIMITED', 429],
      ['UNAVAILABLE', 503],
      ['FORBIDDEN', 503],
      ['INTERNAL', 502],
      ['SOMETHING_NEW', 502],
    ];
    for (const [code, status] of cases) {
      answer = async () => {
        throw new HubRequestError(code, `hub says ${code}`, code === 'BAD_REQUEST' ? [{ field: 'metadata', message: 'too deep' }] : undefined);
      };
      const res = await post({ userId: 'u', text: 'x' });
      expect(res.status, code).to.equal(status);
      expect(statusForHubCode(code)).to.equal(status);
      if (status < 500) expect(res.body).to.deep.include({ code, error: `hub says ${code}` });
      else expect(String(res.body['error'])).not.to.include('hub says');
      if (status === 503) expect(res.headers.get('retry-after')).to.equal('1');
    }
  });

  it('answers 500 without detail for an unexpected failure', async () => {
    answer = async () => {
      throw new Error('secret internals');
    };
    const res = await post({ userId: 'u', text: 'x' });
    expect(res.status).to.equal(500);
    expect(JSON.stringify(res.body)).not.to.include('secret internals');
  });

  it('GET /health always answers 200 with registered; GET /ready is 503 until registered', async () => {
    registered = false;
    expect(await (await fetch(`${url}/health`)).json()).to.deep.equal({ status: 'ok', registered: false });
    expect((await fetch(`${url}/ready`)).status).to.equal(503);
    registered = true;
    expect(await (await fetch(`${url}/health`)).json()).to.deep.equal({ status: 'ok', registered: true });
    expect((await fetch(`${url}/ready`)).status).to.equal(200);
    expect((await fetch(`${url}/nope`)).status).to.equal(404);
  });
});
