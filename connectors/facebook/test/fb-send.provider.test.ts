import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { classifyGraphError, FbSendError } from '../src/fb-send-error.js';
import { attachmentTypeFor, buildSendMessages, FbSendProvider } from '../src/fb-send.provider.js';

const TOKEN = 'EAAB-page-token-secret';

interface Recorded {
  method: string;
  path: string;
  token: string | null;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

type Answer = { status: number; body: unknown } | 'hang' | 'reset';

/** A stand-in Graph API: records each Send API call and answers from a queue (default: success). */
describe('FbSendProvider (unit, against a stand-in Send API)', () => {
  let server: Server;
  let base: string;
  let calls: Recorded[] = [];
  let answers: Answer[] = [];
  let counter = 0;

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        calls.push({
          method: req.method ?? '',
          path: url.pathname,
          token: url.searchParams.get('access_token'),
          contentType: req.headers['content-type'],
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        });
        const answer = answers.shift() ?? { status: 200, body: { recipient_id: 'PSID', message_id: `m_out_${++counter}` } };
        if (answer === 'hang') return;
        if (answer === 'reset') {
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  beforeEach(() => {
    calls = [];
    answers = [];
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const provider = (timeoutMs = 2000) => new FbSendProvider({ graphBase: `${base}/`, graphVersion: 'v21.0', pageAccessToken: TOKEN, timeoutMs });

  async function sendError(p: FbSendProvider, message: Parameters<FbSendProvider['send']>[0]): Promise<FbSendError> {
    try {
      await p.send(message);
    } catch (err) {
      expect(err).to.be.instanceOf(FbSendError);
      return err as FbSendError;
    }
    throw new Error('send did not fail');
  }

  it('posts a text as documented: /{version}/me/messages, access_token, RESPONSE, recipient PSID', async () => {
    const result = await provider().send({ id: 'h1', refId: 'PSID-9', text: 'Hello there' });
    expect(calls).to.have.length(1);
    const [call] = calls;
    expect(call).to.deep.include({ method: 'POST', path: '/v21.0/me/messages', token: TOKEN });
    expect(call?.contentType).to.match(/^application\/json/);
    expect(call?.body).to.deep.equal({ recipient: { id: 'PSID-9' }, messaging_type: 'RESPONSE', message: { text: 'Hello there' } });
    expect(result).to.deep.equal({ externalId: `m_out_${counter}` });
  });

  it('sends each http(s) attachment on its own after the text, and answers the last message_id', async () => {
    const result = await provider().send({
      id: 'h2',
      refId: 'PSID-9',
      text: 'see files',
      attachments: [
        { type: 'image/png', name: 'a.png', contentUrl: 'https://files.example/a.png' },
        { type: 'video/mp4', name: 'b.mp4', contentUrl: 'https://files.example/b.mp4' },
        { type: 'audio/mpeg', name: 'c.mp3', contentUrl: 'http://files.example/c.mp3' },
        { type: 'application/pdf', name: 'd.pdf', contentUrl: 'https://files.example/d.pdf' },
        { type: 'text/plain', name: 'e.txt', contentUrl: 'data:text/plain;base64,aGk=' },
      ],
    });
    expect(calls.map((c) => c.body['message'])).to.deep.equal([
      { text: 'see files' },
      { attachment: { type: 'image', payload: { url: 'https://files.example/a.png', is_reusable: false } } },
      { attachment: { type: 'video', payload: { url: 'https://files.example/b.mp4', is_reusable: false } } },
      { attachment: { type: 'audio', payload: { url: 'http://files.example/c.mp3', is_reusable: false } } },
      { attachment: { type: 'file', payload: { url: 'https://files.example/d.pdf', is_reusable: false } } },
    ]);
    expect(calls.every((c) => (c.body['recipient'] as { id: string }).id === 'PSID-9')).to.equal(true);
    expect(result.externalId).to.equal(`m_out_${counter}`);
  });

  it('splits a long text at 2000 characters into several sends', async () => {
    await provider().send({ id: 'h3', refId: 'P', text: 'x'.repeat(4100) });
    expect(calls.map((c) => ((c.body['message'] as { text: string }).text).length)).to.deep.equal([2000, 2000, 100]);
  });

  it('refuses for good a message with nothing Messenger can take, without calling the API', async () => {
    const err = await sendError(provider(), { id: 'h4', refId: 'P', text: '', attachments: [{ type: 'image/png', name: 'x', contentUrl: 'data:image/png;base64,AA==' }] });
    expect(err.retryable).to.equal(false);
    expect(calls).to.have.length(0);
  });

  it('classifies 5xx, transient codes and throttling as retryable', async () => {
    const cases: Array<{ status: number; body: unknown }> = [
      { status: 500, body: { error: { message: 'An unexpected error has occurred.', type: 'OAuthException', code: 2, fbtrace_id: 'T1' } } },
      { status: 503, body: 'not json' },
      { status: 400, body: { error: { message: 'Application request limit reached', type: 'OAuthException', code: 4, fbtrace_id: 'T2' } } },
      { status: 400, body: { error: { message: 'User request limit reached', code: 17 } } },
      { status: 400, body: { error: { message: 'Page request limit reached', code: 32 } } },
      { status: 400, body: { error: { message: 'Calls to this api have exceeded the rate limit.', code: 613 } } },
      { status: 400, body: { error: { message: 'An unknown error occurred', code: 1 } } },
      { status: 429, body: {} },
    ];
    for (const c of cases) {
      answers.push(c);
      const err = await sendError(provider(), { id: `r${c.status}`, refId: 'P', text: 'hi' });
      expect(err.retryable, JSON.stringify(c)).to.equal(true);
      expect(err.message).to.not.contain(TOKEN);
    }
  });

  it('classifies invalid parameter, unavailable user and bad token as permanent, with the Graph code', async () => {
    const cases = [
      { code: 100, subcode: 2018001, message: '(#100) No matching user found' },
      { code: 10, subcode: 2018278, message: '(#10) This message is sent outside of allowed window.' },
      { code: 551, subcode: 1545041, message: 'This person isn\'t available right now.' },
      { code: 190, subcode: 463, message: 'Error validating access token: Session has expired' },
    ];
    for (const c of cases) {
      answers.push({ status: 400, body: { error: { message: c.message, type: 'OAuthException', code: c.code, error_subcode: c.subcode, fbtrace_id: 'Ax' } } });
      const err = await sendError(provider(), { id: `p${c.code}`, refId: 'P', text: 'hi' });
      expect(err.retryable).to.equal(false);
      expect(err.code).to.equal(c.code);
      expect(err.subcode).to.equal(c.subcode);
      expect(err.message).to.contain(c.message).and.contain(`code ${c.code}`);
    }
  });

  it('treats a time-out and a dropped connection as retryable and never names the URL', async () => {
    answers.push('hang');
    const started = Date.now();
    const timeout = await sendError(provider(200), { id: 't1', refId: 'P', text: 'hi' });
    expect(Date.now() - started).to.be.below(1500);
    expect(timeout.retryable).to.equal(true);
    expect(timeout.message).to.match(/200 ms/);

    answers.push('reset');
    const reset = await sendError(provider(), { id: 't2', refId: 'P', text: 'hi' });
    expect(reset.retryable).to.equal(true);

    const closed = new FbSendProvider({ graphBase: 'http://127.0.0.1:1', graphVersion: 'v21.0', pageAccessToken: TOKEN, timeoutMs: 1000 });
    const refused = await sendError(closed, { id: 't3', refId: 'P', text: 'hi' });
    expect(refused.retryable).to.equal(true);
    for (const e of [timeout, reset, refused]) {
      expect(e.message).to.not.contain(TOKEN).and.not.contain('access_token').and.not.contain('/me/messages');
    }
  });

  it('resumes a partly sent message on retry instead of sending its first parts again', async () => {
    const p = provider();
    answers.push({ status: 200, body: { recipient_id: 'P', message_id: 'part1' } }, { status: 500, body: { error: { message: 'oops', code: 2 } } });
    const message = { id: 'h5', refId: 'P', text: 'a'.repeat(2500) };
    const err = await sendError(p, message);
    expect(err.retryable).to.equal(true);
    expect(calls).to.have.length(2);
    const result = await p.send(message);
    expect(calls).to.have.length(3);
    expect((calls[2]?.body['message'] as { text: string }).text).to.equal('a'.repeat(500));
    expect(result.externalId).to.equal(`m_out_${counter}`);
  });

  it('maps MIME types to Send API attachment types', () => {
    expect(attachmentTypeFor('image/gif')).to.equal('image');
    expect(attachmentTypeFor('VIDEO/mp4')).to.equal('video');
    expect(attachmentTypeFor('audio/ogg')).to.equal('audio');
    expect(attachmentTypeFor('application/zip')).to.equal('file');
    expect(attachmentTypeFor('')).to.equal('file');
    expect(buildSendMessages({ id: 'x', refId: 'P', text: 'hi' }).messages).to.deep.equal([{ text: 'hi' }]);
  });

  it('classifyGraphError keeps code, subcode and fbtrace_id, and honours is_transient', () => {
    const e = classifyGraphError(400, { error: { message: 'Temporary send message failure', code: 9999, is_transient: true, fbtrace_id: 'Z' } });
    expect(e.retryable).to.equal(true);
    expect(e.fbtraceId).to.equal('Z');
    expect(classifyGraphError(403, undefined)).to.include({ retryable: false, status: 403, code: undefined });
  });
});
