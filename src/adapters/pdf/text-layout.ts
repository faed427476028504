import { createRequire } from 'node:module';
import type { Bidi } from 'bidi-js';
import LineBreaker from 'linebreak';
import type { FontFace } from './font-faces.js';

// bidi-js is a UMD bundle whose module.exports is its factory; its types describe an ES default export.
const bidi = (createRequire(import.meta.url)('bidi-js') as () => Bidi)();
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** A piece of a line in one face and one direction, placed at `x` from the line box's left edge. */
export interface PlacedRun {
  text: string;
  /** undefined for white space, which is advanced over but not drawn. */
  face: FontFace | undefined;
  x: number;
  width: number;
}

export interface LaidLine {
  runs: PlacedRun[];
  width: number;
}

/** Characters that continue the previous character's cluster, so they must share its face. */
const CLUSTER_CONTINUES = /[\p{M}\u200c\u200d\ufe00-\ufe0f\u{1f3fb}-\u{1f3ff}\u{e0020}-\u{e007f}\u{e0100}-\u{e01ef}]/u;
/** Bidi controls and other format characters: they steer the layout but draw nothing. */
const INVISIBLE = /[\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;
/** Scripts fontkit lays out right to left by itself. */
const RTL_SCRIPT = /[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;
const SPACE = /\s/u;

/**
 * Makes untrusted text safe to lay out: one kind of line break, tabs as spaces, no other control
 * characters, no lone surrogates. The text is only ever drawn, never interpreted.
 */
export function sanitizeText(text: string): string {
  return text
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/\r\n?|[\u2028\u2029\u000b\u000c\u0085]/g, '\n')
    .replace(/\t/g, '    ')
    .replace(/[\u0000-\u0009\u000e-\u001f\u007f-\u009f]/g, ' ');
}

/**
 * Lays out text in a face fallback chain: each character in the first face that has it, the
 * Unicode bidi algorithm for direction (a right-to-left paragraph is right-aligned), UAX #14
 * line breaks, and words longer than a line broken between graphemes.
 */
export class TextLayout {
  private readonly spaceFace: FontFace;

  constructor(private readonly chain: FontFace[]) {
    const first = chain[0];
    if (!first) throw new Error('a font chain needs at least one face');
    this.spaceFace = first;
  }

  /** Lines of `text` (already sanitized) at `size` points within `width`. */
  lines(text: string, size: number, width: number): LaidLine[] {
    return text.split('\n').flatMap((paragraph) => this.paragraph(paragraph, size, width));
  }

  private paragraph(text: string, size: number, maxWidth: number): LaidLine[] {
    if (text.trim() === '') return [{ runs: [], width: 0 }];
    const { levels, paragraphs } = bidi.getEmbeddingLevels(text);
    const rtl = (paragraphs[0]?.level ?? 0) % 2 === 1;
    const faces = this.faces(text);

    const lines: Array<[number, number]> = [];
    let lineStart = 0;
    let lineEnd = 0;
    let used = 0;
    for (const { start, end, body, tail } of this.segments(text, faces, size, maxWidth)) {
      if (lineEnd > lineStart && used + body > maxWidth) {
        lines.push([lineStart, lineEnd]);
        lineStart = start;
        used = 0;
      }
      used += body + tail;
      lineEnd = end;
    }
    if (lineEnd > lineStart) lines.push([lineStart, lineEnd]);
    return lines.map(([start, end]) => this.line(text, faces, levels, start, trimEnd(text, start, end), size, rtl ? maxWidth : 0));
  }

  /**
   * Break opportunities (UAX #14), each with its width without trailing spaces (`body`) and of
   * those spaces (`tail`); a piece wider than the line is split between graphemes.
   */
  private *segments(text: string, faces: Array<FontFace | null | undefined>, size: number, maxWidth: number): Generator<Segment> {
    const measured = (start: number, end: number): Segment => {
      const bodyEnd = trimEnd(text, start, end);
      return { start, end, body: this.measure(text, faces, start, bodyEnd, size), tail: this.measure(text, faces, bodyEnd, end, size) };
    };
    const breaker = new LineBreaker(text);
    let last = 0;
    for (let brk = breaker.nextBreak(); brk; brk = breaker.nextBreak()) {
      const end = brk.position;
      if (end <= last) continue;
      const whole = measured(last, end);
      if (whole.body <= maxWidth) {
        yield whole;
      } else {
        let chunkStart = last;
        let chunkWidth = 0;
        for (const g of graphemes.segment(text.slice(last, end))) {
          const gStart = last + g.index;
          const gWidth = this.measure(text, faces, gStart, gStart + g.segment.length, size);
          if (gStart > chunkStart && chunkWidth + gWidth > maxWidth) {
            yield measured(chunkStart, gStart);
            chunkStart = gStart;
            chunkWidth = 0;
          }
          chunkWidth += gWidth;
        }
        yield measured(chunkStart, end);
      }
      last = end;
    }
  }

  /** Per UTF-16 index: the face drawing the character there, undefined for white space, null for invisible. */
  private faces(text: string): Array<FontFace | null | undefined> {
    const faces: Array<FontFace | null | undefined> = new Array<FontFace | null | undefined>(text.length);
    let previous: FontFace | undefined;
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i) ?? 0x20;
      const ch = String.fromCodePoint(cp);
      let face: FontFace | null | undefined;
      if (INVISIBLE.test(ch)) face = null;
      else if (SPACE.test(ch)) face = undefined;
      else if (previous && CLUSTER_CONTINUES.test(ch)) face = previous;
      else face = this.chain.find((f) => f.hasGlyph(cp)) ?? this.spaceFace;
      faces[i] = face;
      if (ch.length === 2) faces[i + 1] = null;
      if (face) previous = face;
      i += ch.length;
    }
    return faces;
  }

  /** Width of text[start, end): runs of one face shaped together, spaces at the chain's space width. */
  private measure(text: string, faces: Array<FontFace | null | undefined>, start: number, end: number, size: number): number {
    let width = 0;
    for (const piece of pieces(text, faces, start, end, () => 0)) {
      width += piece.face ? piece.face.measure(piece.text, size) : this.spaceWidth(piece.text, size);
    }
    return width;
  }

  private spaceWidth(spaces: string, size: number): number {
    return spaces.length * this.spaceFace.spaceWidthPerPoint * size;
  }

  /** One line: runs by face and bidi level, put in visual order (UAX #9 rule L2), placed left to right. */
  private line(
    text: string,
    faces: Array<FontFace | null | undefined>,
    levels: Uint8Array,
    start: number,
    end: number,
    size: number,
    alignRightWithin: number,
  ): LaidLine {
    const runs = pieces(text, faces, start, end, (i) => levels[i] ?? 0);
    const highest = Math.max(0, ...runs.map((r) => r.level));
    const lowestOdd = Math.min(...runs.map((r) => (r.level % 2 === 1 ? r.level : Number.POSITIVE_INFINITY)));
    for (let level = highest; level >= lowestOdd; level -= 1) {
      for (let i = 0; i < runs.length; i += 1) {
        if ((runs[i]?.level ?? 0) < level) continue;
        let j = i;
        while (j + 1 < runs.length && (runs[j + 1]?.level ?? 0) >= level) j += 1;
        runs.splice(i, j - i + 1, ...runs.slice(i, j + 1).reverse());
        i = j;
      }
    }
    const placed: PlacedRun[] = [];
    let x = 0;
    for (const run of runs) {
      let visual = run.text;
      if (run.level % 2 === 1) {
        visual = Array.from(visual, (c) => bidi.getMirroredCharacter(c) ?? c).join('');
        // fontkit reverses right-to-left scripts itself; anything else in a right-to-left run
        // (punctuation, symbols) is put in visual order here.
        if (!RTL_SCRIPT.test(visual)) visual = Array.from(graphemes.segment(visual), (g) => g.segment).reverse().join('');
      }
      const width = run.face ? run.face.measure(visual, size) : this.spaceWidth(visual, size);
      placed.push({ text: visual, face: run.face, x, width });
      x += width;
    }
    const shift = alignRightWithin > 0 ? Math.max(0, alignRightWithin - x) : 0;
    if (shift > 0) for (const run of placed) run.x += shift;
    return { runs: placed, width: x };
  }
}

/** A stretch between two break opportunities and its widths. */
interface Segment {
  start: number;
  end: number;
  body: number;
  tail: number;
}

interface Piece {
  text: string;
  face: FontFace | undefined;
  level: number;
}

/** Splits text[start, end) where the face or the level changes; invisible characters are dropped. */
function pieces(text: string, faces: Array<FontFace | null | undefined>, start: number, end: number, levelAt: (i: number) => number): Piece[] {
  const out: Piece[] = [];
  for (let i = start; i < end; i += 1) {
    const face = faces[i];
    if (face === null) continue;
    const cp = text.codePointAt(i) ?? 0x20;
    const ch = cp > 0xffff ? text.slice(i, i + 2) : text.charAt(i);
    const level = levelAt(i);
    const last = out[out.length - 1];
    if (last && last.face === face && last.level === level) last.text += ch;
    else out.push({ text: ch, face, level });
  }
  return out;
}

function trimEnd(text: string, start: number, end: number): number {
  let e = end;
  while (e > start && SPACE.test(text.charAt(e - 1))) e -= 1;
  return e;
}
