import { expect } from 'chai';
import { PassThrough, Writable } from 'node:stream';
import { PdfTranscriptRenderer } from '../../src/adapters/pdf/transcript.pdf.js';
import type { Transcript, TranscriptEntry } from '../../src/domain/ports.js';
import type { Conversation } from '../../src/domain/types.js';
import { pdfText } from '../support/pdf-text.js';

const conversation: Conversation = {
  id: '0b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4',
  channel: 'sms',
  status: 'ended',
  subject: '',
  customer: { id: 'c1', firstName: 'Jane', phone: '+4915112345678', custom: {} },
  participants: [],
  joined: [],
  requestId: 'r',
  openKey: 'k',
  createdAt: new Date('2026-11-20T10:00:00Z'),
  endedAt: new Date('2026-11-21T10:00:00Z'),
};

/** `total` messages, counting how many the renderer has pulled. */
function source(total: number): { pulled: () => number; entries: AsyncGenerator<TranscriptEntry> } {
  let pulled = 0;
  async function* entries(): AsyncGenerator<TranscriptEntry> {
    for (let i = 0; i < total; i += 1) {
      pulled += 1;
      yield { kind: 'message', sender: 'Jane', role: 'customer', at: new Date(conversation.createdAt.getTime() + i * 60_000), text: `line ${i} ${'text '.repeat(20)}`, attachments: [] };
    }
  }
  return { pulled: () => pulled, entries: entries() };
}

const transcript = (entries: AsyncIterable<TranscriptEntry>): Transcript => ({ conversation, entries, locale: 'en', timeZone: 'UTC', generatedAt: new Date() });

describe('PDF transcript renderer', () => {
  const renderer = new PdfTranscriptRenderer();

  it('waits for a slow reader instead of buffering the whole PDF, and stops when the reader goes away', async function () {
    this.timeout(40_000);
    const { pulled, entries } = source(5000);
    // A reader that takes 64 KiB and then stops reading.
    let taken = 0;
    const stalled = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, callback) {
        taken += chunk.length;
        if (taken < 64 * 1024) callback();
      },
    });
    const rendering = renderer.render(transcript(entries), stalled);
    const outcome = rendering.then(
      () => 'finished',
      (err: Error) => err.name,
    );
    // Drawing speed depends on the machine: wait until the renderer stops pulling (it must, well
    // before the end), rather than assuming it got there within a fixed time.
    let before = -1;
    for (let waited = 0; pulled() !== before && waited < 20_000; waited += 500) {
      before = pulled();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(pulled()).to.be.lessThan(1000);
    const pulledWhileStalled = pulled();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(pulled()).to.equal(pulledWhileStalled);
    stalled.destroy();
    expect(await outcome).to.equal('OutputClosedError');
  });

  it('renders a day separator per day, an empty conversation, and the header of a phone customer', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const { entries } = source(3 * 24 * 60 + 1);
    await renderer.render({ ...transcript(entries), entries: (async function* () {
      let n = 0;
      for await (const e of entries) if (n++ % 720 === 0) yield e;
    })() }, out);
    const text = await pdfText(Buffer.concat(chunks));
    expect(text).to.contain('+4915112345678');
    expect(text).to.match(/Channel\s+sms|sms/);
    for (const day of ['Friday, November 20, 2026', 'Saturday, November 21, 2026', 'Sunday, November 22, 2026']) expect(text).to.contain(day);

    const empty = new PassThrough();
    const emptyChunks: Buffer[] = [];
    empty.on('data', (c: Buffer) => emptyChunks.push(c));
    await renderer.render(transcript((async function* () {})()), empty);
    expect(await pdfText(Buffer.concat(emptyChunks))).to.contain('The customer saw no messages in this conversation.');
  });
});
