import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import PDFDocument from 'pdfkit';
import { TranscriptBudgetError } from '../../domain/transcript-budget.js';
import { freshGlyphs, type FontChains, type FontFace, type FontStyle } from './font-faces.js';
import { TextLayout, type LaidLine } from './text-layout.js';

/** Raised when the reader of the PDF went away; rendering stops without error output. */
export class OutputClosedError extends Error {
  constructor() {
    super('the PDF reader went away');
    this.name = 'OutputClosedError';
  }
}

export interface CanvasOptions {
  title: string;
  subject: string;
  /** The footer line of page `n` (page numbers start at 1). */
  footer: (page: number) => string;
  /** Starting a page past this stops drawing with TranscriptBudgetError('pages'). */
  maxPages: number;
}

export interface TextStyle {
  style?: FontStyle;
  size?: number;
  color?: string;
  /** Points from the left margin. */
  indent?: number;
  /** Line height as a multiple of the size. */
  leading?: number;
}

/** pdfkit's view of an embedded font: its fontkit object and its per-word shaping cache. */
interface PdfKitFont {
  font: unknown;
  layoutCache?: Record<string, unknown>;
}

/** Pages after which pdfkit's per-word shaping caches are emptied, so memory stays flat. */
const PAGES_PER_CACHE = 8;

/** One embedding of a face and the characters each of its glyphs stands for in the PDF. */
interface Embedding {
  name: string;
  glyphs: Map<number, string>;
}

const MARGIN = { top: 56, bottom: 64, left: 56, right: 56 };
/** Enough embeddings of one face for any real transcript; beyond it a shared glyph may copy out as its twin. */
const MAX_EMBEDDINGS = 8;

/**
 * A paged PDF written as it is drawn: text goes through TextLayout, pages break by themselves and
 * carry a footer, and bytes stream to `out` with its backpressure respected (see settle()).
 */
export class PdfCanvas {
  private readonly doc: PDFKit.PDFDocument;
  private readonly layouts: Record<FontStyle, TextLayout>;
  private readonly embeddings = new Map<string, Embedding[]>();
  private readonly pdfFonts = new Set<PdfKitFont>();
  private y = MARGIN.top;
  private page = 1;
  private blocked = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly out: Writable,
    chains: FontChains,
    private readonly options: CanvasOptions,
  ) {
    this.doc = new PDFDocument({
      size: 'A4',
      margins: MARGIN,
      bufferPages: false,
      compress: true,
      pdfVersion: '1.7',
      displayTitle: true,
      info: { Title: options.title, Subject: options.subject, Creator: 'chat-connector-hub', Producer: 'chat-connector-hub (pdfkit)' },
    });
    this.layouts = { regular: new TextLayout(chains.regular), bold: new TextLayout(chains.bold), italic: new TextLayout(chains.italic) };
    this.doc.on('data', (chunk: Buffer) => {
      if (!this.out.destroyed && !this.out.write(chunk)) this.blocked = true;
    });
    this.done = new Promise((resolve, reject) => {
      this.doc.once('end', resolve);
      this.doc.once('error', reject);
    });
    this.footer();
  }

  get width(): number {
    return this.doc.page.width - MARGIN.left - MARGIN.right;
  }

  /** Lays out and draws text, breaking pages between lines. */
  text(text: string, style: TextStyle = {}): void {
    const size = style.size ?? 10;
    const indent = style.indent ?? 0;
    const lines = this.layouts[style.style ?? 'regular'].lines(text, size, this.width - indent);
    this.lines(lines, size, style.color ?? '#111111', indent, size * (style.leading ?? 1.5));
  }

  /** A label in the left column and its value wrapped in the right one; starts where three of its lines fit. */
  labelled(label: string, value: string, labelWidth: number, size = 10): void {
    const lineHeight = size * 1.45;
    const labelLine = this.layouts.bold.lines(label, size - 1, labelWidth - 6)[0];
    const valueLines = this.layouts.regular.lines(value, size, this.width - labelWidth);
    this.ensure(Math.min(valueLines.length, 3) * lineHeight);
    if (labelLine) this.draw(labelLine, MARGIN.left, this.y + size * 1.1, size - 1, '#555555');
    this.lines(valueLines, size, '#111111', labelWidth, lineHeight);
  }

  private lines(lines: LaidLine[], size: number, color: string, indent: number, lineHeight: number): void {
    for (const line of lines) {
      this.ensure(lineHeight);
      this.draw(line, MARGIN.left + indent, this.y + size * 1.1, size, color);
      this.y += lineHeight;
    }
  }

  /** Starts a new page unless `height` points still fit on this one. */
  ensure(height: number): void {
    if (this.y + height <= this.doc.page.height - MARGIN.bottom) return;
    if (this.page >= this.options.maxPages) throw new TranscriptBudgetError('pages', this.options.maxPages);
    this.doc.addPage();
    this.page += 1;
    // pdfkit remembers the shaping of every distinct word for the whole document; that speeds
    // up drawing a lot but would grow with the transcript, so it is dropped every few pages.
    if (this.page % PAGES_PER_CACHE === 0) for (const font of this.pdfFonts) if (font.layoutCache) font.layoutCache = Object.create(null) as Record<string, unknown>;
    this.y = MARGIN.top;
    this.footer();
  }

  space(points: number): void {
    this.y += points;
  }

  /** A thin horizontal rule across the text width. */
  rule(color = '#cccccc'): void {
    this.ensure(8);
    this.doc
      .moveTo(MARGIN.left, this.y + 3)
      .lineTo(MARGIN.left + this.width, this.y + 3)
      .lineWidth(0.5)
      .strokeColor(color)
      .stroke();
    this.y += 8;
  }

  /** Waits while the reader is behind, and lets other work run between chunks of drawing. */
  async settle(): Promise<void> {
    if (this.out.destroyed || this.out.writableEnded) throw new OutputClosedError();
    if (this.blocked) {
      await new Promise<void>((resolve, reject) => {
        const cleanup = (): void => {
          this.out.off('drain', onDrain);
          this.out.off('close', onClose);
        };
        const onDrain = (): void => {
          cleanup();
          resolve();
        };
        const onClose = (): void => {
          cleanup();
          reject(new OutputClosedError());
        };
        this.out.on('drain', onDrain);
        this.out.on('close', onClose);
      });
      this.blocked = false;
    } else {
      await yieldToLoop();
    }
  }

  /** Ends the document and waits until its last byte was handed to `out` (which stays open). */
  async finish(): Promise<void> {
    this.doc.end();
    await this.done;
  }

  private footer(): void {
    const size = 8;
    const line = this.layouts.regular.lines(this.options.footer(this.page), size, this.width)[0];
    if (line) this.draw(line, MARGIN.left + (this.width - line.width) / 2, this.doc.page.height - MARGIN.bottom + 30, size, '#777777');
  }

  private draw(line: LaidLine, left: number, baseline: number, size: number, color: string): void {
    for (const run of line.runs) {
      if (!run.face || run.text === '') continue;
      this.doc.font(this.embeddingFor(run.face, run.text)).fontSize(size).fillColor(color);
      // pdfkit shapes with its own fontkit object per embedding; see freshGlyphs for why.
      const current = (this.doc as unknown as { _font: PdfKitFont })._font;
      if (!this.pdfFonts.has(current)) {
        freshGlyphs(current.font);
        this.pdfFonts.add(current);
      }
      this.doc.text(run.text, left + run.x, baseline, { lineBreak: false, baseline: 'alphabetic' });
    }
  }

  /**
   * The embedding of `face` to draw `text` with. A PDF maps each glyph of an embedded font to one
   * text, but shaping reuses glyphs across characters (Arabic kaf and Urdu keheh share forms), so
   * a run whose glyphs already stand for other characters goes to another embedding of the face.
   * That keeps copy-and-paste and text extraction exact.
   */
  private embeddingFor(face: FontFace, text: string): string {
    const glyphs = face.glyphs(text);
    let list = this.embeddings.get(face.key);
    if (!list) {
      list = [];
      this.embeddings.set(face.key, list);
    }
    let chosen = list.find((e) => glyphs.every((g) => (e.glyphs.get(g.id) ?? g.codePoints) === g.codePoints));
    if (!chosen && list.length >= MAX_EMBEDDINGS) chosen = list[list.length - 1];
    if (!chosen) {
      chosen = { name: `${face.key}#${list.length}`, glyphs: new Map() };
      this.doc.registerFont(chosen.name, face.variant(list.length));
      list.push(chosen);
    }
    for (const g of glyphs) if (!chosen.glyphs.has(g.id)) chosen.glyphs.set(g.id, g.codePoints);
    return chosen.name;
  }
}
