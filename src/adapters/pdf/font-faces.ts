import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ByteLru } from '../../domain/byte-lru.js';
import * as fontkit from 'fontkit';

const require = createRequire(import.meta.url);

/** A glyph of a shaped run and the characters it stands for. */
export interface GlyphIdentity {
  id: number;
  codePoints: string;
}

/** What shaping a text in one face yields: its advance (font units) and glyph identities. */
interface Shaped {
  advance: number;
  glyphs: GlyphIdentity[];
}

/** Texts whose shaping each face remembers (chat repeats its words a lot), by approximate bytes: long runs (one 20,000-character word) would otherwise hold megabytes each. */
const SHAPED_CACHE = { maxBytes: 8 * 1024 * 1024, maxEntryBytes: 64 * 1024 };
/** Rough heap of one shaped glyph ({id, codePoints}). */
const GLYPH_BYTES = 96;

/**
 * One font file: its bytes (handed to pdfkit) and a fontkit view used to measure text and to
 * learn which characters each shaped glyph stands for.
 */
export class FontFace {
  private readonly font: fontkit.Font;
  private readonly variants: Buffer[] = [];
  private readonly shaped = new ByteLru<Shaped>(SHAPED_CACHE);
  readonly spaceWidthPerPoint: number;

  constructor(
    /** A short, unique name (pdfkit registers fonts by name). */
    readonly key: string,
    readonly bytes: Buffer,
  ) {
    const font = fontkit.create(bytes);
    if (!('layout' in font)) throw new Error(`${key}: a font collection, not a single font`);
    this.font = font;
    freshGlyphs(this.font);
    this.spaceWidthPerPoint = this.font.glyphForCodePoint(0x20).advanceWidth / this.font.unitsPerEm;
  }

  hasGlyph(codePoint: number): boolean {
    return this.font.hasGlyphForCodePoint(codePoint);
  }

  /** Width of `text` shaped in this face at `size` points. */
  measure(text: string, size: number): number {
    return (this.shape(text).advance * size) / this.font.unitsPerEm;
  }

  /** The glyphs shaping produces for `text`, each with the characters it was made from. */
  glyphs(text: string): GlyphIdentity[] {
    return this.shape(text).glyphs;
  }

  /**
   * The font's bytes, made distinct for variant `n` > 0 by a different head.checkSumAdjustment:
   * pdfkit embeds two registrations of one file as one font unless they differ there.
   */
  variant(n: number): Buffer {
    if (n === 0) return this.bytes;
    let bytes = this.variants[n - 1];
    if (!bytes) {
      bytes = Buffer.from(this.bytes);
      const head = tableOffset(bytes, 'head');
      if (head === undefined) throw new Error(`${this.key}: no head table`);
      bytes.writeUInt32BE((bytes.readUInt32BE(head + 8) ^ n) >>> 0, head + 8);
      this.variants[n - 1] = bytes;
    }
    return bytes;
  }

  private shape(text: string): Shaped {
    let shaped = this.shaped.touch(text);
    if (shaped) return shaped;
    const run = this.font.layout(text);
    shaped = { advance: run.advanceWidth, glyphs: run.glyphs.map((g) => ({ id: g.id, codePoints: g.codePoints.join(',') })) };
    this.shaped.set(text, shaped, 2 * text.length + GLYPH_BYTES * shaped.glyphs.length);
    return shaped;
  }
}

/**
 * Makes a fontkit font keep its glyph objects per glyph id *and* characters. fontkit keeps one
 * object per glyph id, carrying the characters it was first made for, so a glyph shared by two
 * characters (Arabic kaf and Urdu keheh, Naskh's hah and jeem bodies) would name the wrong one
 * in the PDF's text map. Applied to our own font objects and to pdfkit's embeddings (PdfCanvas).
 */
export function freshGlyphs(font: unknown): void {
  const f = font as { getGlyph?: (id: number, codePoints?: number[]) => unknown; _glyphs?: Record<number, unknown>; freshGlyphs?: true };
  if (f.freshGlyphs) return;
  const getGlyph = f.getGlyph?.bind(font);
  const cache = f._glyphs;
  if (!getGlyph || !cache || typeof cache !== 'object') throw new Error('fontkit changed: getGlyph or its glyph cache is missing');
  const made = new Map<string, unknown>();
  f.getGlyph = (id: number, codePoints: number[] = []) => {
    const key = `${id}:${codePoints.join(',')}`;
    let glyph = made.get(key);
    if (glyph === undefined) {
      delete cache[id];
      glyph = getGlyph(id, codePoints);
      made.set(key, glyph);
    }
    return glyph;
  };
  f.freshGlyphs = true;
}

/** Offset of an sfnt table, from the table directory. */
function tableOffset(bytes: Buffer, tag: string): number | undefined {
  const tables = bytes.readUInt16BE(4);
  for (let i = 0; i < tables; i += 1) {
    const record = 12 + 16 * i;
    if (bytes.toString('latin1', record, record + 4) === tag) return bytes.readUInt32BE(record + 8);
  }
  return undefined;
}

export type FontStyle = 'regular' | 'bold' | 'italic';

/** Fallback chains by style: the first face with a glyph for a character draws it. */
export interface FontChains {
  regular: FontFace[];
  bold: FontFace[];
  italic: FontFace[];
}

/** A font file of an @expo-google-fonts package, e.g. noto-sans/400Regular/NotoSans_400Regular.ttf. */
const file = (pkg: string, family: string, weight: string): Buffer =>
  readFileSync(require.resolve(`@expo-google-fonts/${pkg}/${weight}/${family}_${weight}.ttf`));

let loaded: FontChains | undefined;

/**
 * The Noto families shipped from npm: Latin, Greek and Cyrillic (Noto Sans), Arabic, Persian and
 * Urdu (Noto Naskh Arabic), Hebrew, Chinese with Japanese kana (Noto Sans SC), and emoji
 * (monochrome Noto Emoji). Loaded once per process (about 13 MB, mostly the CJK face).
 */
export function loadFontChains(): FontChains {
  if (loaded) return loaded;
  const face = (key: string, pkg: string, family: string, weight: string): FontFace => new FontFace(key, file(pkg, family, weight));
  const sans = face('sans', 'noto-sans', 'NotoSans', '400Regular');
  const sansBold = face('sans-bold', 'noto-sans', 'NotoSans', '700Bold');
  const sansItalic = face('sans-italic', 'noto-sans', 'NotoSans', '400Regular_Italic');
  const arabic = face('arabic', 'noto-naskh-arabic', 'NotoNaskhArabic', '400Regular');
  const arabicBold = face('arabic-bold', 'noto-naskh-arabic', 'NotoNaskhArabic', '700Bold');
  const hebrew = face('hebrew', 'noto-sans-hebrew', 'NotoSansHebrew', '400Regular');
  const hebrewBold = face('hebrew-bold', 'noto-sans-hebrew', 'NotoSansHebrew', '700Bold');
  const cjk = face('cjk', 'noto-sans-sc', 'NotoSansSC', '400Regular');
  const emoji = face('emoji', 'noto-emoji', 'NotoEmoji', '400Regular');
  loaded = {
    regular: [sans, arabic, hebrew, cjk, emoji],
    bold: [sansBold, arabicBold, hebrewBold, cjk, emoji],
    italic: [sansItalic, arabic, hebrew, cjk, emoji],
  };
  return loaded;
}
