import type { Writable } from 'node:stream';
import type { Transcript, TranscriptEntry } from '../../domain/ports.js';
import { customerContact, customerName, formatDate, formatDateTime, formatTime, shownUrl } from '../../domain/transcript-entries.js';
import { loadFontChains, type FontChains } from './font-faces.js';
import { PdfCanvas } from './pdf-canvas.js';
import { sanitizeText } from './text-layout.js';

const ROLE_COLORS: Record<string, string> = { customer: '#0b5394', agent: '#38761d', bot: '#7f6000' };
const QUIET = '#777777';
const LABEL_WIDTH = 88;
/** Entries drawn between checks for backpressure and turns for other work. */
const ENTRIES_PER_SETTLE = 10;
export interface DrawOptions {
  /** Pages after which drawing stops with TranscriptBudgetError('pages'). */
  maxPages?: number;
}

/**
 * Draws transcripts with pdfkit, in Noto fonts that cover most of the world's scripts. It runs on
 * the thread that calls it: the hub calls it only inside a render worker (transcript.worker.ts).
 */
export class PdfTranscriptRenderer {
  private fonts: FontChains | undefined;

  /** Writes the transcript as a PDF to `out` and leaves `out` open; waits whenever `out` is full. */
  async render(transcript: Transcript, out: Writable, options: DrawOptions = {}): Promise<void> {
    // Loaded on first use: a hub that never renders keeps the 13 MB of fonts out of memory.
    this.fonts ??= loadFontChains();
    const c = transcript.conversation;
    const canvas = new PdfCanvas(out, this.fonts, {
      title: `Conversation transcript ${c.id}`,
      subject: c.subject ? `Transcript: ${c.subject}` : 'Conversation transcript',
      footer: (page) => `Conversation ${c.id} · page ${page}`,
      maxPages: options.maxPages ?? Number.POSITIVE_INFINITY,
    });
    this.header(canvas, transcript);
    let count = 0;
    let day = '';
    for await (const entry of transcript.entries) {
      const entryDay = formatDate(entry.at, transcript.locale, transcript.timeZone);
      if (entryDay !== day) {
        day = entryDay;
        canvas.ensure(40);
        canvas.space(4);
        canvas.text(day, { style: 'bold', size: 9, color: QUIET });
        canvas.space(2);
      }
      this.entry(canvas, entry, transcript);
      count += 1;
      if (count % ENTRIES_PER_SETTLE === 0) await canvas.settle();
    }
    if (count === 0) canvas.text('The customer saw no messages in this conversation.', { style: 'italic', size: 10, color: QUIET });
    canvas.space(10);
    canvas.rule();
    canvas.text(`${count} ${count === 1 ? 'entry' : 'entries'} · generated ${formatDateTime(transcript.generatedAt, transcript.locale, transcript.timeZone)}`, {
      style: 'italic',
      size: 8,
      color: QUIET,
    });
    await canvas.settle();
    await canvas.finish();
  }

  private header(canvas: PdfCanvas, t: Transcript): void {
    const c = t.conversation;
    canvas.text('Conversation transcript', { style: 'bold', size: 18, leading: 1.3 });
    canvas.space(6);
    const staff = c.participants.filter((p) => p.role === 'agent').map((p) => p.name || p.id);
    const fields: Array<[string, string]> = [
      ['Conversation', c.id],
      ['Channel', c.channel],
      ['Customer', customerName(c)],
      ['Contact', customerContact(c)],
      ['Subject', c.subject],
      ['Agents', staff.join(', ')],
      ['Started', formatDateTime(c.createdAt, t.locale, t.timeZone)],
      ['Ended', c.endedAt ? formatDateTime(c.endedAt, t.locale, t.timeZone) : ''],
    ];
    for (const [label, value] of fields) {
      if (!value) continue;
      canvas.labelled(label, sanitizeText(value), LABEL_WIDTH);
    }
    canvas.space(6);
    canvas.rule();
  }

  private entry(canvas: PdfCanvas, entry: TranscriptEntry, t: Transcript): void {
    const time = formatTime(entry.at, t.locale, t.timeZone);
    if (entry.kind === 'activity') {
      canvas.text(`${time}  ·  ${sanitizeText(entry.text)}`, { style: 'italic', size: 8.5, color: QUIET, indent: 10 });
      canvas.space(3);
      return;
    }
    // Keep the sender line with the first line of the message.
    canvas.ensure(34);
    canvas.text(`${sanitizeText(entry.sender)} (${entry.role})  ·  ${time}`, { style: 'bold', size: 9, color: ROLE_COLORS[entry.role] ?? QUIET });
    if (entry.text !== '') canvas.text(sanitizeText(entry.text), { size: 10.5, indent: 10, leading: 1.45 });
    for (const a of entry.attachments) {
      canvas.text(`Attachment: ${sanitizeText(a.name)} — ${sanitizeText(shownUrl(a.url))}`, { size: 9, indent: 10, color: '#1f4e79' });
    }
    canvas.space(6);
  }
}
