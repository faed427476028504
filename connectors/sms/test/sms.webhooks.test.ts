import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import pino from 'pino';
import { createSmsApp } from '../src/sms.app.js';
import type { InboundSms, StatusReport } from '../src/sms.forms.js';
import { EMPTY_TWIML } from '../src/sms.webhooks.js';
import { computeTwilioSignature } from '../src/twilio-signature.js';

const TOKEN = 'auth-token-under-test';

/** A hub double: records calls and fails them with `failWith` when set. */
class FakeHub {
  inbound: InboundSms[] = [];
  statuses: StatusReport[] = [];
  failWith: unknown;
  async sendInbound(payload: InboundSms): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    this.inbound.push(payload);
    return { conversationId: 'c1', message: { id: 'm1' } };
  }
  async reportStatus(payload: StatusReport): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    this.statuses.push(payload);
    return { message: {} };
  }
}

async function listen(publicUrl?: string, registered = true): Promise<{ server: Server; base: string; hub: FakeHub }> {
  const hub = new FakeHub();
  const app = createSmsApp({ authToken: TOKEN, publicUrl, hub, logger: pino({ level: 'silent' }), registered: () => registered });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hub };
}

/** Posts a form signed as the provider would for `signedUrl` (default: the URL posted to). */
async function postSigned(url: string, params: Record<string, string>, options: { signedUrl?: string; signature?: string | null } = {}): Promise<Response> {
  const signature = options.signature === undefined ? computeTwilioSignature(TOKEN, options.signedUrl ?? url, params) : options.signature;
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    body: new URLSearchParams(params).toString(),
  });
}

const inbound = { MessageSid: 'SM1', AccountSid: 'AC1', From: '+4915112345678', To: '+4930123456', Body: 'hello', NumMedia: '0' };

describe('sms connector: webhooks (unit, real HTTP)', () => {
  const servers: Server[] = [];
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('takes a signed inbound SMS, hands it to the hub and answers empty TwiML', async () => {
    const { server, base, hub } = await listen();
    servers.push(server);
    const res = await postSigned(`${base}/sms/inbound`, inbound);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/xml/);
    expect(await res.text()).to.equal(EMPTY_TWIML);
    expect(hub.inbound).to.deep.equal([{ refId: '+4915112345678', text: 'hello', attachments: [], clientMessageId: 'SM1', metadata: { to: '+4930123456' } }]);
  });

  it('answers 403 to a missing, wrong or tampered signature and tells the hub nothing', async () => {
    const { server, base, hub } = await listen();
    servers.push(server);
    expect((await postSigned(`${base}/sms/inbound`, inbound, { signature: null })).status).to.equal(403);
    expect((await postSigned(`${base}/sms/inbound`, inbound, { signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' })).status).to.equal(403);
    const forged = computeTwilioSignature('another-token', `${base}/sms/inbound`, inbound);
    expect((await postSigned(`${base}/sms/inbound`, inbound, { signature: forged })).status).to.equal(403);
    const signedForOther = computeTwilioSignature(TOKEN, `${base}/sms/inbound`, { ...inbound, Body: 'other text' });
    expect((await postSigned(`${base}/sms/inbound`, inbound, { signature: signedForOther })).status).to.equal(403);
    expect((await postSigned(`${base}/sms/status?messageId=m1`, { MessageSid: 'SM1', MessageStatus: 'delivered' }, { signature: forged })).status).to.equal(403);
    expect(hub.inbound).to.have.length(0);
    expect(hub.statuses).to.have.length(0);
  });

  it('checks the signature against PUBLIC_URL, not the local address, when it is set', async () => {
    const { server, base, hub } = await listen('https://sms.example.com');
    servers.push(server);
    expect((await postSigned(`${base}/sms/inbound`, inbound)).status).to.equal(403);
    const ok = await postSigned(`${base}/sms/inbound`, inbound, { signedUrl: 'https://sms.example.com/sms/inbound' });
    expect(ok.status).to.equal(200);
    const status = await postSigned(`${base}/sms/status?messageId=m-7`, { MessageSid: 'SM7', MessageStatus: 'delivered' }, { signedUrl: 'https://sms.example.com/sms/status?messageId=m-7' });
    expect(status.status).to.equal(200);
    expect(hub.inbound).to.have.length(1);
    expect(hub.statuses).to.deep.equal([{ messageId: 'm-7', state: 'DELIVERED', externalId: 'SM7' }]);
  });

  it('answers 503 while the hub is unavailable and 422 when the hub refuses the content', async () => {
    const { server, base, hub } = await listen();
    servers.push(server);
    hub.failWith = Object.assign(new Error('hub not reachable within 10000 ms'), { code: 'UNAVAILABLE' });
    expect((await postSigned(`${base}/sms/inbound`, inbound)).status).to.equal(503);
    hub.failWith = new Error('socket closed');
    expect((await postSigned(`${base}/sms/status?messageId=m1`, { MessageSid: 'SM1', MessageStatus: 'failed', ErrorCode: '30008' })).status).to.equal(503);
    hub.failWith = Object.assign(new Error('text too long'), { code: 'BAD_REQUEST' });
    expect((await postSigned(`${base}/sms/inbound`, inbound)).status).to.equal(422);
  });

  it('reports final statuses, ignores intermediate ones and refuses a callback without messageId', async () => {
    const { server, base, hub } = await listen();
    servers.push(server);
    expect((await postSigned(`${base}/sms/status?messageId=m1`, { MessageSid: 'SM1', MessageStatus: 'sent' })).status).to.equal(204);
    expect(hub.statuses).to.have.length(0);
    expect((await postSigned(`${base}/sms/status?messageId=m1`, { MessageSid: 'SM1', MessageStatus: 'undelivered', ErrorCode: '30003' })).status).to.equal(200);
    expect(hub.statuses).to.deep.equal([{ messageId: 'm1', state: 'FAILED', externalId: 'SM1', error: { message: 'provider status undelivered (error 30003)' } }]);
    expect((await postSigned(`${base}/sms/status`, { MessageSid: 'SM1', MessageStatus: 'delivered' })).status).to.equal(400);
  });

  it('answers 400 to a signed inbound form without From', async () => {
    const { server, base, hub } = await listen();
    servers.push(server);
    const { From: _from, ...noFrom } = inbound;
    expect((await postSigned(`${base}/sms/inbound`, noFrom)).status).to.equal(400);
    expect(hub.inbound).to.have.length(0);
  });

  it('serves GET /health: 200 when registered with the hub, 503 otherwise', async () => {
    const up = await listen();
    const down = await listen(undefined, false);
    servers.push(up.server, down.server);
    const res = await fetch(`${up.base}/health`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok', registered: true });
    const notYet = await fetch(`${down.base}/health`);
    expect(notYet.status).to.equal(503);
    expect(await notYet.json()).to.deep.include({ registered: false });
  });
});
