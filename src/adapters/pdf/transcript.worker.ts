/**
 * A render worker: draws one transcript at a time with pdfkit on its own thread, so a long
 * transcript costs the hub's event loop nothing. It receives plain data (RenderJob), loads its own
 * fonts on the first job, and answers with the PDF bytes (transferred, not copied) or why not.
 */
import { Writable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import type { TranscriptData } from '../../domain/ports.js';
import { TranscriptBudgetError, type BudgetKind } from '../../domain/transcript-budget.js';
import { PdfTranscriptRenderer } from './transcript.pdf.js';

export interface RenderJob {
  transcript: TranscriptData;
  maxPages: number;
  maxBytes: number;
}

export type RenderReply = { ok: true; pdf: Uint8Array } | { ok: false; budget: BudgetKind; limit: number } | { ok: false; error: string };

/** Collects the PDF, stopping the drawing (by closing) once it would grow past `maxBytes`. */
class BoundedSink extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  overflowed = false;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.overflowed = true;
      this.destroy();
      callback();
      return;
    }
    this.chunks.push(chunk);
    callback();
  }

  /** The bytes in a buffer of their own, so it can be transferred without taking Buffer's shared pool along. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

const port = parentPort;
if (!port) throw new Error('transcript.worker.js runs only as a worker thread');
const renderer = new PdfTranscriptRenderer();

port.on('message', (job: RenderJob) => {
  void draw(job).then((reply) => {
    if (reply.ok) port.postMessage(reply, [reply.pdf.buffer as ArrayBuffer]);
    else port.postMessage(reply);
  });
});

async function draw(job: RenderJob): Promise<RenderReply> {
  const sink = new BoundedSink(job.maxBytes);
  try {
    await renderer.render(job.transcript, sink, { maxPages: job.maxPages });
    if (sink.overflowed) return { ok: false, budget: 'bytes', limit: job.maxBytes };
    return { ok: true, pdf: sink.bytes() };
  } catch (err) {
    if (sink.overflowed) return { ok: false, budget: 'bytes', limit: job.maxBytes };
    if (err instanceof TranscriptBudgetError) return { ok: false, budget: err.budget, limit: err.limit };
    return { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}
