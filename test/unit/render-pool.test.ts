import { expect } from 'chai';
import { WorkerTranscriptRenderer } from '../../src/adapters/pdf/render-pool.js';
import type { TranscriptData, TranscriptEntry } from '../../src/domain/ports.js';
import { TranscriptBudgetError, type RenderBudget } from '../../src/domain/transcript-budget.js';
import { WorkGate } from '../../src/domain/work-gate.js';
import { createLogger } from '../../src/logger.js';
import { pdfText } from '../support/pdf-text.js';

const at = new Date('2026-11-20T10:00:00Z');

function transcript(messages: number, text = 'a line of a conversation'): TranscriptData {
  const entries: TranscriptEntry[] = Array.from({ length: messages }, (_, i) => ({
    kind: 'message',
    sender: 'Jane',
    role: 'customer',
    at,
    text: `${i} ${text}`,
    attachments: [],
  }));
  return {
    conversation: { id: '0b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4', channel: 'web', subject: 'billing', participants: [], createdAt: at, endedAt: at, customer: { firstName: 'Jane' } },
    entries,
    locale: 'en',
    timeZone: 'UTC',
    generatedAt: at,
  };
}

const generous: RenderBudget = { timeoutMs: 60_000, maxPages: 1000, maxBytes: 50_000_000 };

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return expect.fail('the render was not refused');
}

describe('Transcript render pool (worker threads)', function () {
  this.timeout(60_000);
  const pool = new WorkerTranscriptRenderer({ size: 1, heapMb: 512, idleMs: 60_000 }, createLogger('silent'));
  after(() => pool.close());

  it('draws in a worker and hands back the PDF bytes; the worker is kept for the next render', async () => {
    const pdf = await pool.render(transcript(3), generous);
    expect(pdf.subarray(0, 5).toString()).to.equal('%PDF-');
    expect(await pdfText(pdf)).to.contain('2 a line of a conversation');
    expect(pool.load).to.deep.equal({ busy: 0, idle: 1 });
  });

  it('stops at the page and byte budgets', async () => {
    const pages = await refusal(pool.render(transcript(400), { ...generous, maxPages: 2 }));
    expect(pages).to.be.instanceOf(TranscriptBudgetError);
    expect(pages).to.include({ budget: 'pages', limit: 2 });
    const bytes = await refusal(pool.render(transcript(400), { ...generous, maxBytes: 20_000 }));
    expect(bytes).to.include({ budget: 'bytes', limit: 20_000 });
    // Budget refusals keep the worker.
    expect(pool.load).to.deep.equal({ busy: 0, idle: 1 });
  });

  it('terminates a worker over its time budget, or when the caller aborts, and starts afresh', async () => {
    const slow = transcript(200, 'word '.repeat(3000));
    const time = await refusal(pool.render(slow, { ...generous, timeoutMs: 200 }));
    expect(time).to.include({ budget: 'time', limit: 200 });
    expect(pool.load).to.deep.equal({ busy: 0, idle: 0 });
    const controller = new AbortController();
    const rendering = pool.render(slow, generous, controller.signal);
    setTimeout(() => controller.abort(new Error('caller gone')), 100);
    expect(((await refusal(rendering)) as Error).message).to.equal('caller gone');
    expect(pool.load).to.deep.equal({ busy: 0, idle: 0 });
    const pdf = await pool.render(transcript(1), generous);
    expect(pdf.subarray(0, 5).toString()).to.equal('%PDF-');
  });

  it('lets a job waiting for a gate slot leave the queue when its signal aborts', async () => {
    const gate = new WorkGate(1, 5, 'transcripts');
    let release = (): void => undefined;
    const holding = gate.run(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    const waiting = gate.run(async () => 'ran', controller.signal);
    await new Promise((r) => setImmediate(r));
    expect(gate.load).to.deep.equal({ running: 1, waiting: 1 });
    controller.abort(new Error('deadline'));
    expect(((await refusal(waiting)) as Error).message).to.equal('deadline');
    expect(gate.load).to.deep.equal({ running: 1, waiting: 0 });
    release();
    await holding;
    expect(gate.load).to.deep.equal({ running: 0, waiting: 0 });
  });
});
