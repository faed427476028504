import { expect } from 'chai';
import { createServer, type Server, type Socket as NetSocket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io-client';
import { agentToken, closeAllSockets, emitAck, initCustomer, joinedAgent, joinedCustomer, type JoinedCustomer } from './support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from './support/hub.js';
import { letters, pdfPages, pdfText } from './support/pdf-text.js';
import { REFUSED_DOMAIN, SmtpSink, type ReceivedMail } from './support/smtp-sink.js';
import { startTestStore, type TestStore } from './support/store.js';

const SCRIPTS = {
  german: 'Grüße aus München: Straße, Äpfel, Öl und Übermut – schön, dass es klappt!',
  chinese: '您好，您的退款已经处理完毕，请查收邮件。',
  arabic: 'مرحبا بك، كيف يمكنني مساعدتك اليوم؟',
  urdu: 'آپ کا بہت شکریہ، ہم جلد آپ سے رابطہ کریں گے۔',
};
const SYSTEM_AUTH = { authorization: `Bearer ${SYSTEM_TOKEN}` };
const WHISPER = 'WHISPER only for agents: customer looks like a refund abuser';
const PRIVATE = 'PRIVATE note addressed to the second agent only';

interface Fetched {
  status: number;
  body: Buffer;
  headers: Headers;
  json(): { error?: string; code?: string; details?: Array<{ field: string }> };
}

async function get(url: string, token?: string): Promise<Fetched> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body, headers: res.headers, json: () => JSON.parse(body.toString('utf8')) as ReturnType<Fetched['json']> };
}

function chat(conversationId: string, from: { id: string; name: string }, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { conversationId, type: 'ChatMessage', from, text, ...extra };
}

async function send(socket: Socket, payload: Record<string, unknown>): Promise<void> {
  const ack = await emitAck(socket, 'sendMessage', payload);
  if (!ack.ok) throw new Error(`sendMessage failed: ${JSON.stringify(ack)}`);
}

async function end(socket: Socket, conversationId: string): Promise<void> {
  const ack = await emitAck(socket, 'endConversation', { conversationId });
  if (!ack.ok) throw new Error(`endConversation failed: ${JSON.stringify(ack)}`);
}

/**
 * Asserts each of `needles` appears in `haystack` (letters only), in the given order. pdftotext's
 * own bidi pass treats the Arabic comma as left-to-right and so may swap the clauses around it
 * (the PDF draws them in order; see the PNG in docs/), so clauses are checked one by one: the
 * first in sequence, the others anywhere.
 */
function expectInOrder(haystack: string, needles: string[]): void {
  const text = letters(haystack);
  let from = 0;
  for (const needle of needles) {
    const [first = '', ...rest] = needle.split('،');
    const at = text.indexOf(letters(first), from);
    expect(at, `"${first}" missing or out of order in:\n${haystack.slice(0, 3000)}`).to.be.greaterThan(-1);
    from = at + letters(first).length;
    for (const clause of rest) expect(text, `"${clause}" missing`).to.contain(letters(clause));
  }
}

describe('Transcripts: GET /api/customer/transcript/:id/:type', function () {
  this.timeout(60_000);
  let store: TestStore;
  let smtp: SmtpSink;
  let hub: RunningHub;
  /** An ended conversation with every script, a whisper, a private note and an attachment. */
  let full: JoinedCustomer;
  let agent: string;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    smtp = new SmtpSink();
    const smtpPort = await smtp.listen();
    hub = await startHub(store.uri('transcripts'), {
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      MAIL_FROM: 'Support <support@hub.example>',
      SMTP_TIMEOUT_MS: '2000',
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
      RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '1000',
    });
    agent = await agentToken(hub.url, 'agent-t1');

    // Opened with the system token: a trusted party set the address, so the customer may have the transcript mailed to it.
    full = await joinedCustomer(hub.url, { firstName: 'Jürgen', lastName: 'Müller', email: 'juergen@example.org', subject: 'billing' }, SYSTEM_AUTH);
    const cid = full.init.conversationId;
    const me = { id: full.init.participant.id, name: full.init.participant.name };
    const a1 = await joinedAgent(hub.url, cid, 'agent-t1');
    const a2 = await joinedAgent(hub.url, cid, 'agent-t2');
    await send(full.socket, chat(cid, me, SCRIPTS.german));
    await send(a1.socket, chat(cid, { id: 'agent-t1', name: 'Amira Haddad' }, SCRIPTS.chinese));
    await send(a1.socket, chat(cid, { id: 'agent-t1', name: 'Amira Haddad' }, WHISPER, { tag: 'whisper' }));
    await send(a1.socket, chat(cid, { id: 'agent-t1', name: 'Amira Haddad' }, PRIVATE, { to: [{ id: 'agent-t2', name: 'B' }] }));
    await send(full.socket, chat(cid, me, SCRIPTS.arabic));
    await send(a2.socket, chat(cid, { id: 'agent-t2', name: 'Bilal' }, SCRIPTS.urdu));
    await send(
      full.socket,
      chat(cid, me, 'Here is my receipt', { attachments: [{ type: 'application/pdf', name: 'receipt-0815.pdf', contentUrl: 'https://files.example.org/receipt-0815.pdf' }] }),
    );
    await end(full.socket, cid);
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await smtp?.close();
    await store?.close();
  });

  const url = (id: string, type: string, query = ''): string => `${hub.url}/api/customer/transcript/${id}/${type}${query}`;

  describe('pdf', () => {
    it('streams a PDF with the header and every message the customer saw, in order, in every script', async () => {
      const res = await get(url(full.init.conversationId, 'pdf'), full.init.token);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/pdf');
      expect(res.headers.get('content-disposition')).to.equal(`attachment; filename="transcript-${full.init.conversationId}.pdf"`);
      expect(res.headers.get('cache-control')).to.contain('no-store');
      expect(res.body.subarray(0, 5).toString()).to.equal('%PDF-');
      const text = await pdfText(res.body);
      expect(text).to.contain(full.init.conversationId);
      expect(text).to.contain('Jürgen Müller');
      expect(text).to.contain('juergen@example.org');
      expect(text).to.contain('billing');
      expect(text).to.contain('Channel');
      expect(text).to.match(/^web$/m);
      expect(text).to.contain('Started');
      expect(text).to.contain('Ended');
      expectInOrder(text, [
        'Jürgen Müller joined the conversation',
        'Hello Jürgen',
        'Agent agent-t1 joined the conversation',
        'Agent agent-t2 joined the conversation',
        'Jürgen Müller (customer)',
        SCRIPTS.german,
        'Agent agent-t1 (agent)',
        SCRIPTS.chinese,
        SCRIPTS.arabic,
        'Agent agent-t2 (agent)',
        SCRIPTS.urdu,
        'Here is my receipt',
        'Attachment: receipt-0815.pdf',
        'https://files.example.org/receipt-0815.pdf',
        'Conversation ended by Jürgen Müller',
      ]);
      expect(text).to.contain('page 1');
    });

    it('never shows whispers or messages addressed to others, whoever asks', async () => {
      for (const token of [full.init.token, agent, SYSTEM_TOKEN]) {
        const res = await get(url(full.init.conversationId, 'pdf'), token);
        expect(res.status).to.equal(200);
        const text = await pdfText(res.body);
        expect(text).to.contain(SCRIPTS.german);
        expect(text).not.to.contain('WHISPER');
        expect(text).not.to.contain('refund abuser');
        expect(text).not.to.contain('PRIVATE');
      }
    });

    it('draws message text as text, never interpreting it', async () => {
      const c = await joinedCustomer(hub.url);
      const cid = c.init.conversationId;
      const me = { id: c.init.participant.id, name: c.init.participant.name };
      const hostile = '%PDF-1.7 /JavaScript (app.alert(1)) /OpenAction <script>alert(1)</script> \u001b[31m red \u0007 bell \u202e reversed';
      await send(c.socket, chat(cid, me, hostile));
      await end(c.socket, cid);
      const res = await get(url(cid, 'pdf'), c.init.token);
      expect(res.status).to.equal(200);
      const text = await pdfText(res.body);
      expect(letters(text)).to.contain(letters('/JavaScript (app.alert(1)) /OpenAction <script>alert(1)</script>'));
      expect(res.body.includes('/JavaScript')).to.equal(false);
      expect(res.body.includes('/OpenAction')).to.equal(false);
    });

    it('flows a long conversation over numbered pages, keeping order', async () => {
      const c = await joinedCustomer(hub.url);
      const cid = c.init.conversationId;
      const me = { id: c.init.participant.id, name: c.init.participant.name };
      const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
      await send(c.socket, chat(cid, me, `LONG ${long}`));
      await send(c.socket, chat(cid, me, `CJK ${'长文本没有空格也要换行'.repeat(40)}`));
      for (let i = 1; i <= 120; i += 1) await send(c.socket, chat(cid, me, `message number ${String(i).padStart(3, '0')}`));
      await end(c.socket, cid);
      const res = await get(url(cid, 'pdf'), SYSTEM_TOKEN);
      expect(res.status).to.equal(200);
      expect(await pdfPages(res.body)).to.be.greaterThanOrEqual(4);
      const text = await pdfText(res.body);
      expect(text).to.contain('page 4');
      expectInOrder(text, ['LONG', 'word0', 'word199', 'word399', 'CJK', ...Array.from({ length: 120 }, (_, i) => `message number ${String(i + 1).padStart(3, '0')}`)]);
      // Wrapped CJK text loses none of its characters.
      expect(letters(text)).to.contain(letters('长文本没有空格也要换行'.repeat(40)));
    });

    it('shows times in the zone named by ?tz=', async () => {
      const res = await get(url(full.init.conversationId, 'pdf', '?tz=Asia/Tokyo'), SYSTEM_TOKEN);
      expect(res.status).to.equal(200);
      expect(await pdfText(res.body)).to.contain('GMT+9');
    });
  });

  describe('access and errors', () => {
    it('404 while the conversation is ongoing, and for an unknown id', async () => {
      const ongoing = await initCustomer(hub.url);
      const res = await get(url(ongoing.conversationId, 'pdf'), ongoing.token);
      expect(res.status).to.equal(404);
      expect(res.json().code).to.equal('NOT_FOUND');
      expect(res.json().error).to.match(/ongoing/);
      const unknown = await get(url('7d4c2f7e-0c1b-4d3a-9e8f-1a2b3c4d5e6f', 'pdf'), SYSTEM_TOKEN);
      expect(unknown.status).to.equal(404);
      const mail = await get(url(ongoing.conversationId, 'email'), SYSTEM_TOKEN);
      expect(mail.status).to.equal(404);
    });

    it('400 for another type or a malformed id, naming the field', async () => {
      const type = await get(url(full.init.conversationId, 'docx'), SYSTEM_TOKEN);
      expect(type.status).to.equal(400);
      expect(type.json().code).to.equal('BAD_REQUEST');
      expect(type.json().details?.map((d) => d.field)).to.deep.equal(['type']);
      const id = await get(url('not-a-uuid', 'pdf'), SYSTEM_TOKEN);
      expect(id.status).to.equal(400);
      expect(id.json().details?.map((d) => d.field)).to.deep.equal(['id']);
      const tz = await get(url(full.init.conversationId, 'pdf', '?tz=Mars/Olympus'), SYSTEM_TOKEN);
      expect(tz.status).to.equal(400);
      expect(tz.json().details?.map((d) => d.field)).to.deep.equal(['tz']);
      const to = await get(url(full.init.conversationId, 'pdf', '?to=a@example.org'), SYSTEM_TOKEN);
      expect(to.status).to.equal(400);
      const twoTo = await get(url(full.init.conversationId, 'email', '?to=a@example.org&to=b@example.org'), SYSTEM_TOKEN);
      expect(twoTo.status).to.equal(400);
      const injected = await get(url(full.init.conversationId, 'email', `?to=${encodeURIComponent('a@example.org\r\nBcc: b@example.org')}`), SYSTEM_TOKEN);
      expect(injected.status).to.equal(400);
    });

    it('401 without or with a bad credential, 403 for a customer token of another conversation', async () => {
      expect((await get(url(full.init.conversationId, 'pdf'))).status).to.equal(401);
      expect((await get(url(full.init.conversationId, 'pdf'), 'not-a-token')).status).to.equal(401);
      const other = await initCustomer(hub.url);
      const foreign = await get(url(full.init.conversationId, 'pdf'), other.token);
      expect(foreign.status).to.equal(403);
      expect(foreign.json().code).to.equal('FORBIDDEN');
      const foreignMail = await get(url(full.init.conversationId, 'email'), other.token);
      expect(foreignMail.status).to.equal(403);
    });
  });

  describe('email', () => {
    async function mailed(query: string, token: string, conversationId = full.init.conversationId): Promise<ReceivedMail> {
      const before = smtp.received.length;
      const res = await get(url(conversationId, 'email', query), token);
      expect(res.status, res.body.toString()).to.equal(200);
      expect(res.body.length).to.equal(0);
      return smtp.next(before);
    }

    it("mails the PDF to the customer's address, with a plain-text and an HTML body", async () => {
      const mail = await mailed('', full.init.token);
      expect(mail.recipients).to.deep.equal(['juergen@example.org']);
      expect(mail.from).to.equal('support@hub.example');
      expect(mail.parsed.subject).to.equal('Transcript of your conversation about billing');
      expect(mail.parsed.text).to.contain(full.init.conversationId);
      expect(mail.parsed.text).to.contain('Hello Jürgen Müller');
      expect(mail.parsed.html).to.contain(full.init.conversationId);
      expect(mail.parsed.attachments).to.have.length(1);
      const [pdf] = mail.parsed.attachments;
      expect(pdf?.mimeType).to.equal('application/pdf');
      expect(pdf?.filename).to.equal(`transcript-${full.init.conversationId}.pdf`);
      const text = await pdfText(Buffer.from(pdf?.content as ArrayBuffer));
      expectInOrder(text, [SCRIPTS.german, SCRIPTS.chinese, SCRIPTS.arabic, SCRIPTS.urdu, 'receipt-0815.pdf']);
      expect(text).not.to.contain('WHISPER');
      expect(text).not.to.contain('PRIVATE');
    });

    it('mails to ?to= when an agent or the system asks; a customer may not choose the address', async () => {
      const byAgent = await mailed('?to=archive@example.org', agent);
      expect(byAgent.recipients).to.deep.equal(['archive@example.org']);
      expect(byAgent.parsed.subject).to.equal('Transcript of the conversation with Jürgen Müller about billing');
      const bySystem = await mailed('?to=records@example.org', SYSTEM_TOKEN);
      expect(bySystem.recipients).to.deep.equal(['records@example.org']);
      const byCustomer = await get(url(full.init.conversationId, 'email', '?to=someone@example.org'), full.init.token);
      expect(byCustomer.status).to.equal(403);
    });

    it('422 when no address is known', async () => {
      const c = await joinedCustomer(hub.url, { email: undefined, phone: '+49 30 1234567' });
      await end(c.socket, c.init.conversationId);
      const res = await get(url(c.init.conversationId, 'email'), c.init.token);
      expect(res.status).to.equal(422);
      expect(res.json().code).to.equal('UNPROCESSABLE');
      expect(res.json().error).to.match(/no email address/);
    });

    it('502 when the SMTP server refuses the recipient', async () => {
      const before = smtp.received.length;
      const res = await get(url(full.init.conversationId, 'email', `?to=nobody@${REFUSED_DOMAIN}`), SYSTEM_TOKEN);
      expect(res.status).to.equal(502);
      expect(res.json().code).to.equal('BAD_GATEWAY');
      expect(res.json().error).to.match(/refused/);
      expect(smtp.received.length).to.equal(before);
    });

    it('keeps CR/LF in names and subjects out of the headers', async () => {
      const c = await joinedCustomer(
        hub.url,
        {
          firstName: 'Eve\r\nBcc: victim@evil.example',
          lastName: 'Smith\nX-Injected: yes',
          email: 'eve@example.org',
          subject: 'billing\r\nX-Also-Injected: yes',
        },
        SYSTEM_AUTH,
      );
      await end(c.socket, c.init.conversationId);
      const mail = await mailed('', c.init.token, c.init.conversationId);
      expect(mail.recipients).to.deep.equal(['eve@example.org']);
      const headerBlock = mail.raw.toString('utf8').split(/\r\n\r\n/)[0] ?? '';
      expect(headerBlock).not.to.match(/^Bcc:/im);
      expect(headerBlock).not.to.match(/^X-Injected:/im);
      expect(headerBlock).not.to.match(/^X-Also-Injected:/im);
      expect(mail.parsed.bcc ?? []).to.have.length(0);
      expect(mail.parsed.subject).to.equal('Transcript of your conversation about billing X-Also-Injected: yes');
    });
  });

  describe('metrics', () => {
    it('counts transcripts by type and outcome in /metrics', async () => {
      const metrics = (await get(`${hub.url}/metrics`)).body.toString();
      const value = (labels: string): number => Number(new RegExp(`^hub_transcripts_total\\{${labels}\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? -1);
      expect(value('type="pdf",outcome="ok"')).to.be.greaterThan(3);
      expect(value('type="email",outcome="ok"')).to.be.greaterThan(2);
      expect(value('type="email",outcome="failed"')).to.be.greaterThan(0);
      expect(metrics).to.match(/^hub_transcripts_in_progress\{state="running"\} 0/m);
    });
  });

  describe('limits and an unreachable mail server', () => {
    let limited: RunningHub;
    let silent: Server;
    const held: NetSocket[] = [];

    before(async function () {
      this.timeout(60_000);
      // Accepts connections and never says a word: the SMTP greeting never comes.
      silent = createServer((socket) => held.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      limited = await startHub(store.uri('transcripts'), {
        SMTP_URL: `smtp://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        SMTP_TIMEOUT_MS: '1000',
        RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '3',
      });
    });
    after(async () => {
      await limited?.close();
      held.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('502 within a bounded time when the SMTP server never answers', async () => {
      const started = Date.now();
      const res = await get(`${limited.url}/api/customer/transcript/${full.init.conversationId}/email`, SYSTEM_TOKEN);
      expect(res.status).to.equal(502);
      expect(res.json().error).to.match(/could not be reached/);
      expect(Date.now() - started).to.be.lessThan(6000);
    });

    it('429 with Retry-After once a caller exceeds its limit; other callers are unaffected', async () => {
      const caller = await agentToken(limited.url, 'agent-limit-1');
      const other = await agentToken(limited.url, 'agent-limit-2');
      const path = `${limited.url}/api/customer/transcript/${full.init.conversationId}/pdf`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await get(path, caller)).status);
      const refused = await get(path, caller);
      expect(statuses).to.deep.equal([200, 200, 200]);
      expect(refused.status).to.equal(429);
      expect(refused.json().code).to.equal('RATE_LIMITED');
      expect(Number(refused.headers.get('retry-after'))).to.be.greaterThan(0);
      expect((await get(path, other)).status).to.equal(200);
    });

    it('503 for email on a hub without SMTP_URL', async () => {
      const bare = await startHub(store.uri('transcripts'));
      try {
        const res = await get(`${bare.url}/api/customer/transcript/${full.init.conversationId}/email`, SYSTEM_TOKEN);
        expect(res.status).to.equal(503);
        expect(res.json().error).to.match(/SMTP_URL/);
      } finally {
        await bare.close();
      }
    });
  });
});
