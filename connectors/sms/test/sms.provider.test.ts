import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { buildSendForm, interpretSendResponse, SmsProvider, SmsSendError, smsBody, type OutboundSms } from '../src/sms.provider.js';

interface Captured {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
}

/** A one-route stand-in for the Messages endpoint that answers whatever the test queues. */
async function startStandIn(answer: (req: Captured) => { status: number; body: string; delayMs?: number }): Promise<{ server: Server; base: string; seen: Captured[] }> {
  const seen: Captured[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const captured = { method: req.method, url: req.url, headers: req.headers, form: new URLSearchParams(raw) };
      seen.push(captured);
      const a = answer(captured);
      setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body), a.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const closeServer = (s: Server): Promise<void> =>
  new Promise((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  });

async function sendError(p: Promise<unknown>): Promise<SmsSendError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SmsSendError) return err;
    throw err;
  }
  throw new Error('expected the send to fail');
}

const sms: OutboundSms = { messageId: 'msg-1', to: '+4915112345678', text: 'Your order shipped' };

describe('sms connector: provider client (unit)', () => {
  const servers: Server[] = [];
  after(async () => {
    await Promise.all(servers.map(closeServer));
  });

  it('POSTs the documented form with Basic auth and the Idempotency-Key', async () => {
    const s = await startStandIn(() => ({ status: 201, body: JSON.stringify({ sid: 'SM100', status: 'queued', error_code: null, error_message: null }) }));
    servers.push(s.server);
    const provider = new SmsProvider({ apiBase: s.base, accountSid: 'AC123', authToken: 'tok', from: '+4930123456', timeoutMs: 2000 });
    const outcome = await provider.send({
      ...sms,
      attachments: [
        { type: 'image/png', name: 'map.png', contentUrl: 'https://cdn.example.com/map.png' },
        { type: 'text/plain', name: 'note.txt', contentUrl: 'data:text/plain;base64,aGk=' },
      ],
    });
    expect(outcome).to.deep.equal({ externalId: 'SM100' });
    const [req] = s.seen;
    expect(req?.method).to.equal('POST');
    expect(req?.url).to.equal('/2010-04-01/Accounts/AC123/Messages.json');
    expect(req?.headers.authorization).to.equal(`Basic ${Buffer.from('AC123:tok').toString('base64')}`);
    expect(req?.headers['content-type']).to.equal('application/x-www-form-urlencoded');
    expect(req?.headers['idempotency-key']).to.equal('msg-1');
    expect(req?.form.get('To')).to.equal('+4915112345678');
    expect(req?.form.get('From')).to.equal('+4930123456');
    expect(req?.form.get('Body')).to.equal('Your order shipped\n[attachment: note.txt]');
    expect(req?.form.getAll('MediaUrl')).to.deep.equal(['https://cdn.example.com/map.png']);
    expect(req?.form.has('StatusCallback')).to.equal(false);
    expect(req?.form.has('MessagingServiceSid')).to.equal(false);
  });

  it('asks for status callbacks and answers PENDING when PUBLIC_URL is set', async () => {
    const s = await startStandIn(() => ({ status: 201, body: JSON.stringify({ sid: 'SM101', status: 'accepted' }) }));
    servers.push(s.server);
    const provider = new SmsProvider({
      apiBase: s.base,
      accountSid: 'AC123',
      authToken: 'tok',
      messagingServiceSid: 'MG55',
      publicUrl: 'https://sms.example.com',
      timeoutMs: 2000,
    });
    expect(await provider.send(sms)).to.deep.equal({ externalId: 'SM101', state: 'PENDING' });
    expect(s.seen[0]?.form.get('StatusCallback')).to.equal('https://sms.example.com/sms/status?messageId=msg-1');
    expect(s.seen[0]?.form.get('MessagingServiceSid')).to.equal('MG55');
    expect(s.seen[0]?.form.has('From')).to.equal(false);
  });

  it("turns Twilio's 4xx error body into a permanent failure, 429 and 5xx into retryable ones", async () => {
    const answers = [
      { status: 400, body: JSON.stringify({ code: 21211, message: "The 'To' number +1555 is not a valid phone number.", more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 }) },
      { status: 429, body: JSON.stringify({ code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 }) },
      { status: 503, body: 'upstream down' },
    ];
    const s = await startStandIn(() => answers.shift() ?? { status: 500, body: '' });
    servers.push(s.server);
    const provider = new SmsProvider({ apiBase: s.base, accountSid: 'AC1', authToken: 't', from: '+1', timeoutMs: 2000 });
    const refused = await sendError(provider.send(sms));
    expect(refused.retryable).to.equal(false);
    expect(refused.providerCode).to.equal(21211);
    expect(refused.message).to.equal("provider answered 400 (error 21211): The 'To' number +1555 is not a valid phone number.");
    const limited = await sendError(provider.send(sms));
    expect([limited.retryable, limited.httpStatus, limited.providerCode]).to.deep.equal([true, 429, 20429]);
    const down = await sendError(provider.send(sms));
    expect([down.retryable, down.httpStatus, down.message]).to.deep.equal([true, 503, 'provider answered 503: upstream down']);
  });

  it('treats a timeout and an unreachable provider as retryable', async () => {
    const s = await startStandIn(() => ({ status: 201, body: JSON.stringify({ sid: 'SMlate' }), delayMs: 500 }));
    servers.push(s.server);
    const slow = new SmsProvider({ apiBase: s.base, accountSid: 'AC1', authToken: 't', from: '+1', timeoutMs: 100 });
    const late = await sendError(slow.send(sms));
    expect([late.retryable, late.message]).to.deep.equal([true, 'provider unreachable: no answer within 100 ms']);

    const gone = await startStandIn(() => ({ status: 201, body: '{}' }));
    await closeServer(gone.server);
    const unreachable = new SmsProvider({ apiBase: gone.base, accountSid: 'AC1', authToken: 't', from: '+1', timeoutMs: 1000 });
    const refused = await sendError(unreachable.send(sms));
    expect(refused.retryable).to.equal(true);
    expect(refused.message).to.match(/^provider unreachable: .*ECONNREFUSED/);
  });

  it('refuses a message with nothing to send without calling the provider', async () => {
    const s = await startStandIn(() => ({ status: 201, body: JSON.stringify({ sid: 'SMx' }) }));
    servers.push(s.server);
    const provider = new SmsProvider({ apiBase: s.base, accountSid: 'AC1', authToken: 't', from: '+1', timeoutMs: 1000 });
    const empty = await sendError(provider.send({ messageId: 'm', to: '+1', text: '' }));
    expect(empty.retryable).to.equal(false);
    expect(s.seen).to.have.length(0);
  });
});

describe('sms connector: send response mapping (unit)', () => {
  it('maps 201 with any accepted status to DELIVERED, or PENDING when callbacks will settle it', () => {
    for (const status of ['queued', 'accepted', 'sending', 'sent']) {
      expect(interpretSendResponse(201, JSON.stringify({ sid: 'SM1', status }), false)).to.deep.equal({ externalId: 'SM1' });
      expect(interpretSendResponse(201, JSON.stringify({ sid: 'SM1', status }), true)).to.deep.equal({ externalId: 'SM1', state: 'PENDING' });
    }
  });

  it('fails a 201 whose status already says failed, permanently', () => {
    try {
      interpretSendResponse(201, JSON.stringify({ sid: 'SM1', status: 'failed', error_code: 30007, error_message: 'Carrier violation' }), true);
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.be.instanceOf(SmsSendError);
      expect((err as SmsSendError).retryable).to.equal(false);
      expect((err as SmsSendError).message).to.equal('provider status failed (error 30007): Carrier violation');
    }
  });

  it('retries a 2xx without a sid (its Idempotency-Key makes the retry safe where honoured)', () => {
    expect(() => interpretSendResponse(200, 'not json', false)).to.throw(SmsSendError, 'without a message sid');
  });

  it('keeps a 4xx without a JSON body permanent and a 500 retryable', () => {
    const err = (fn: () => unknown): SmsSendError => {
      try {
        fn();
      } catch (e) {
        return e as SmsSendError;
      }
      throw new Error('no error');
    };
    expect(err(() => interpretSendResponse(401, '', false))).to.include({ retryable: false, httpStatus: 401 });
    expect(err(() => interpretSendResponse(500, '{"code":20500,"message":"Internal Server Error"}', false))).to.include({ retryable: true, providerCode: 20500 });
  });

  it('lists data: attachments by name in the text and never as MediaUrl', () => {
    const form = buildSendForm(
      { messageId: 'a b', to: '+1', attachments: [{ type: 'image/png', name: 'scan.png', contentUrl: 'data:image/png;base64,AAAA' }] },
      { from: '+2', publicUrl: 'https://x.example/base' },
    );
    expect(form.get('Body')).to.equal('[attachment: scan.png]');
    expect(form.has('MediaUrl')).to.equal(false);
    expect(form.get('StatusCallback')).to.equal('https://x.example/base/sms/status?messageId=a%20b');
    expect(smsBody({ messageId: 'm', to: '+1', text: 'hi' })).to.equal('hi');
  });
});
