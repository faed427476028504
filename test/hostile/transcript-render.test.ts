/**
 * Issue 13, item 8: a transcript of long messages rendered for about 50 s on the main thread
 * (/health waited 19 s, database deadlines fired), and a client that never read its PDF held a
 * render slot for ever. Transcripts now render in worker threads within a time and size budget,
 * and a PDF request has a total response deadline after which its slot goes to the next request.
 */
import { expect } from 'chai';
import { connect as tcpConnect, type Socket as NetSocket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { closeAllSockets, emitAck, joinedCustomer } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { startTestStore, type TestStore } from '../support/store.js';

setFlagsFromString('--expose-gc');
/** A full garbage collection, also when mocha runs without --expose-gc. */
const collectGarbage = runInNewContext('gc') as () => void;

/** The largest text a message may carry (MAX_TEXT). */
const MESSAGE_CHARS = 20_000;

interface Reply {
  status: number;
  body: Buffer;
  json(): { error?: string; code?: string };
}

async function get(url: string, timeoutMs = 60_000): Promise<Reply> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${SYSTEM_TOKEN}` }, signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body, json: () => JSON.parse(body.toString('utf8')) as ReturnType<Reply['json']> };
}

/** Text that is slow to lay out: every word new, so no shaping cache helps. */
function randomWords(chars: number): string {
  let text = '';
  while (text.length < chars) {
    const length = 3 + Math.floor(Math.random() * 7);
    for (let i = 0; i < length; i += 1) text += String.fromCharCode(97 + Math.floor(Math.random() * 26));
    text += ' ';
  }
  return text.slice(0, chars);
}

/** An ended conversation in which the customer sent `texts`. */
async function conversationWith(hubUrl: string, texts: string[]): Promise<string> {
  const c = await joinedCustomer(hubUrl);
  const cid = c.init.conversationId;
  const from = { id: c.init.participant.id, name: c.init.participant.name };
  for (const text of texts) {
    const ack = await emitAck(c.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, text }, 20_000);
    if (!ack.ok) throw new Error(`sendMessage failed: ${JSON.stringify(ack)}`);
  }
  const ended = await emitAck(c.socket, 'endConversation', { conversationId: cid });
  if (!ended.ok) throw new Error(`endConversation failed: ${JSON.stringify(ended)}`);
  c.socket.disconnect();
  return cid;
}

describe('Hostile: transcripts render off the event loop, within budgets and a response deadline (issue 13.8)', function () {
  this.timeout(120_000);
  let store: TestStore;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await store?.close();
  });

  describe('time and size budgets', () => {
    let hub: RunningHub;
    /** About 400,000 characters of fresh words: many seconds of drawing. */
    let large: string;
    /** Over TRANSCRIPT_MAX_INPUT_CHARS. */
    let oversized: string;
    let small: string;
    let smtp: SmtpSink;

    before(async function () {
      this.timeout(120_000);
      smtp = new SmtpSink();
      const smtpPort = await smtp.listen();
      hub = await startHub(store.uri('transcript-render'), {
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
        RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '1000',
        TRANSCRIPT_RENDER_TIMEOUT_MS: '3000',
        TRANSCRIPT_RESPONSE_DEADLINE_MS: '30000',
        TRANSCRIPT_MAX_INPUT_CHARS: '1000000',
      });
      large = await conversationWith(hub.url, Array.from({ length: 20 }, () => randomWords(MESSAGE_CHARS)));
      oversized = await conversationWith(hub.url, Array.from({ length: 55 }, (_, i) => `${i} `.padEnd(MESSAGE_CHARS, 'x ')));
      small = await conversationWith(hub.url, ['just a short question', 'and a short answer']);
    });
    after(async () => {
      await hub?.close();
      await smtp?.close();
    });

    const pdfUrl = (id: string): string => `${hub.url}/api/customer/transcript/${id}/pdf`;

    it('/health answers within a second or two while a large transcript renders, and the render is stopped at its time budget with 422', async () => {
      const started = Date.now();
      let finished = false;
      const rendering = get(pdfUrl(large)).finally(() => {
        finished = true;
      });
      // Give the hub time to read the conversation and start drawing.
      await sleep(500);
      const waits: number[] = [];
      const failures: string[] = [];
      while (!finished) {
        const asked = Date.now();
        try {
          const health = await fetch(`${hub.url}/health`, { signal: AbortSignal.timeout(60_000) });
          if (health.status !== 200) failures.push(`status ${health.status}`);
        } catch (err) {
          // A hub whose event loop is stuck drops its idle keep-alive connections late: a failed probe.
          failures.push(String((err as Error).cause ?? err));
        }
        waits.push(Date.now() - asked);
        await sleep(100);
      }
      const res = await rendering;
      expect(waits.length, 'probes made while the transcript rendered').to.be.greaterThan(5);
      expect(failures, 'failed /health probes').to.deep.equal([]);
      expect(Math.max(...waits), `/health waits (ms): ${waits.join(', ')}`).to.be.lessThan(1500);
      expect(res.status).to.equal(422);
      expect(res.json().code).to.equal('UNPROCESSABLE');
      expect(res.json().error).to.match(/longer than 3000 ms to render/);
      expect(Date.now() - started).to.be.lessThan(15_000);
    });

    it('renders the next transcript normally after a render was stopped', async () => {
      const res = await get(pdfUrl(small));
      expect(res.status, res.body.subarray(0, 300).toString()).to.equal(200);
      expect(res.body.subarray(0, 5).toString()).to.equal('%PDF-');
    });

    it('refuses a conversation over the character budget with 422 before drawing anything', async () => {
      const started = Date.now();
      const res = await get(pdfUrl(oversized));
      expect(res.status).to.equal(422);
      expect(res.json().code).to.equal('UNPROCESSABLE');
      expect(res.json().error).to.match(/more than 1000000 characters/);
      expect(Date.now() - started).to.be.lessThan(5000);
      const mailsBefore = smtp.received.length;
      const mail = await get(`${hub.url}/api/customer/transcript/${oversized}/email?to=archive@example.org`);
      expect(mail.status).to.equal(422);
      expect(mail.json().error).to.match(/more than 1000000 characters/);
      expect(smtp.received.length).to.equal(mailsBefore);
    });
  });

  describe('a client that never reads its PDF', () => {
    let hub: RunningHub;
    let heavy: string;
    let small: string;
    const DEADLINE_MS = 35_000;

    before(async function () {
      this.timeout(120_000);
      hub = await startHub(store.uri('transcript-render'), {
        RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
        RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '1000',
        TRANSCRIPT_MAX_CONCURRENT: '1',
        TRANSCRIPT_MAX_QUEUED: '5',
        TRANSCRIPT_RENDER_TIMEOUT_MS: String(DEADLINE_MS - 5000),
        TRANSCRIPT_RESPONSE_DEADLINE_MS: String(DEADLINE_MS),
        // Not kept: a PDF too large for the cache is sent within its render slot (the case here).
        TRANSCRIPT_CACHE_MAX_BYTES: '0',
      });
      // 27,500 distinct ideographs: few characters, but a PDF of about 6 MB (the CJK font's glyphs),
      // more than the kernel's socket buffers take in for a client that does not read.
      let ideographs = '';
      for (let i = 0; i < 27_500; i += 1) ideographs += String.fromCodePoint(0x3400 + i);
      heavy = await conversationWith(hub.url, [ideographs.slice(0, 19_000), ideographs.slice(19_000)]);
      small = await conversationWith(hub.url, ['a short conversation']);
    });
    after(async () => {
      await hub?.close();
    });

    it('is cut off at the response deadline, and its render slot serves the next request', async () => {
      const started = Date.now();
      // Asks for the PDF, takes the first bytes (the status line), then never reads again.
      const hostile: NetSocket = tcpConnect(hub.port, '127.0.0.1');
      hostile.on('error', () => undefined);
      const head = new Promise<Buffer>((resolve) => hostile.once('data', resolve));
      hostile.write(`GET /api/customer/transcript/${heavy}/pdf HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${SYSTEM_TOKEN}\r\n\r\n`);
      const first = await head;
      hostile.pause();
      const answered = Date.now();
      expect(first.subarray(0, 12).toString('latin1')).to.equal('HTTP/1.1 200');

      // The only render slot is held by the hostile request; this one waits for it. Full garbage
      // collections meanwhile: a deadline held only weakly (AbortSignal.any of AbortSignal.timeout) would vanish.
      const collecting = setInterval(collectGarbage, 500);
      const res = await get(`${hub.url}/api/customer/transcript/${small}/pdf`, DEADLINE_MS + 30_000).finally(() => clearInterval(collecting));
      const servedAt = Date.now();
      expect(res.status).to.equal(200);
      expect(res.body.subarray(0, 5).toString()).to.equal('%PDF-');
      // Served only once the deadline freed the slot, not before.
      expect(servedAt - started).to.be.greaterThan(DEADLINE_MS - 1000);
      expect(servedAt - answered, 'it waited for the hostile request').to.be.greaterThan(500);

      // The hostile connection was cut off: reading now yields a broken transfer, never the whole file.
      const headerEnd = first.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(first.subarray(0, headerEnd).toString('latin1'))?.[1]);
      expect(length, 'PDF size').to.be.greaterThan(5_000_000);
      let received = first.length - headerEnd - 4;
      hostile.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      const ended = new Promise<void>((resolve) => hostile.once('close', () => resolve()));
      hostile.resume();
      await Promise.race([ended, sleep(15_000)]);
      expect(hostile.destroyed || hostile.readableEnded, 'the hub closed the connection').to.equal(true);
      expect(received).to.be.lessThan(length);
      hostile.destroy();
    });
  });
  describe('a client that never reads a PDF the hub keeps', () => {
    let hub: RunningHub;
    let heavy: string;
    const DEADLINE_MS = 20_000;

    before(async function () {
      this.timeout(120_000);
      hub = await startHub(store.uri('transcript-render-kept'), {
        RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
        RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '1000',
        TRANSCRIPT_MAX_CONCURRENT: '1',
        TRANSCRIPT_MAX_QUEUED: '5',
        TRANSCRIPT_RENDER_TIMEOUT_MS: String(DEADLINE_MS - 5000),
        TRANSCRIPT_RESPONSE_DEADLINE_MS: String(DEADLINE_MS),
      });
      let ideographs = '';
      for (let i = 0; i < 27_500; i += 1) ideographs += String.fromCodePoint(0x3400 + i);
      heavy = await conversationWith(hub.url, [ideographs.slice(0, 19_000), ideographs.slice(19_000)]);
    });
    after(async () => {
      await hub?.close();
    });

    it('holds no render slot: the same transcript is served to others at once, and the reader is still cut off at the deadline', async () => {
      const started = Date.now();
      const hostile: NetSocket = tcpConnect(hub.port, '127.0.0.1');
      hostile.on('error', () => undefined);
      const head = new Promise<Buffer>((resolve) => hostile.once('data', resolve));
      hostile.write(`GET /api/customer/transcript/${heavy}/pdf HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${SYSTEM_TOKEN}\r\n\r\n`);
      const first = await head;
      hostile.pause();
      expect(first.subarray(0, 12).toString('latin1')).to.equal('HTTP/1.1 200');
      // The only render slot is free again: two more requests of it are answered long before the deadline.
      const again = await Promise.all([get(`${hub.url}/api/customer/transcript/${heavy}/pdf`), get(`${hub.url}/api/customer/transcript/${heavy}/pdf`)]);
      for (const res of again) {
        expect(res.status).to.equal(200);
        expect(res.body.subarray(0, 5).toString()).to.equal('%PDF-');
      }
      expect(Date.now() - started, 'served without waiting for the deadline').to.be.lessThan(DEADLINE_MS - 5000);
      // The reader that never reads is still cut off at its deadline: reading after it yields a broken transfer.
      await sleep(Math.max(0, started + DEADLINE_MS + 2000 - Date.now()));
      const headerEnd = first.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(first.subarray(0, headerEnd).toString('latin1'))?.[1]);
      expect(length, 'PDF size').to.be.greaterThan(5_000_000);
      let received = first.length - headerEnd - 4;
      hostile.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      const ended = new Promise<void>((resolve) => hostile.once('close', () => resolve()));
      hostile.resume();
      await Promise.race([ended, sleep(15_000)]);
      expect(hostile.destroyed || hostile.readableEnded, 'the hub closed the connection').to.equal(true);
      expect(received).to.be.lessThan(length);
      hostile.destroy();
    });
  });
});
