import { expect } from 'chai';
import { loadFontChains } from '../../src/adapters/pdf/font-faces.js';
import { sanitizeText, TextLayout, type LaidLine } from '../../src/adapters/pdf/text-layout.js';

const fonts = loadFontChains();
const layout = new TextLayout(fonts.regular);
const faceKeys = (line: LaidLine | undefined): string[] => (line?.runs ?? []).filter((r) => r.face).map((r) => r.face?.key ?? '');
/** A line's drawn runs in visual order, left to right. */
const texts = (line: LaidLine | undefined): string[] => (line?.runs ?? []).filter((r) => r.face).map((r) => r.text);
const drawn = (lines: LaidLine[]): string => lines.map((l) => texts(l).join('')).join('');

describe('PDF text layout', () => {
  it('sanitizes untrusted text: one line break kind, no control characters, no lone surrogates', () => {
    expect(sanitizeText('a\r\nb\rc\u2028d')).to.equal('a\nb\nc\nd');
    expect(sanitizeText('x\u0000y\u001b[31mz\u0085w')).to.equal('x y [31mz\nw');
    expect(sanitizeText('tab\there')).to.equal('tab    here');
    expect(sanitizeText('bad \ud800 pair')).to.equal('bad \ufffd pair');
    expect(sanitizeText('ok 😀')).to.equal('ok 😀');
  });

  it('draws each character in the first face that has it', () => {
    const [line] = layout.lines('Grüße 你好 مرحبا 😀', 10, 500);
    expect(faceKeys(line)).to.deep.equal(['sans', 'cjk', 'arabic', 'emoji']);
  });

  it('keeps combining marks and emoji sequences with their base character', () => {
    const family = '👨\u200d👩\u200d👧';
    const [line] = layout.lines(`e\u0301 ${family}`, 10, 500);
    expect(texts(line)).to.deep.equal(['e\u0301', family]);
    expect(faceKeys(line)).to.deep.equal(['sans', 'emoji']);
  });

  it('orders a right-to-left run inside a left-to-right line by the bidi algorithm', () => {
    const [line] = layout.lines('order 42 مرحبا بك today', 10, 500);
    // Visual order: the Arabic words swap places (fontkit reverses the letters of each).
    expect(texts(line)).to.deep.equal(['order', '42', 'بك', 'مرحبا', 'today']);
    expect(line?.runs[0]?.x).to.equal(0);
  });

  it('right-aligns a right-to-left paragraph and puts its Latin words in visual order', () => {
    const [line] = layout.lines('مرحبا abc def', 10, 500);
    expect(texts(line)).to.deep.equal(['abc', 'def', 'مرحبا']);
    const last = line?.runs[line.runs.length - 1];
    expect((last?.x ?? 0) + (last?.width ?? 0)).to.be.closeTo(500, 0.01);
  });

  it('wraps at break opportunities within the width, losing no character', () => {
    const text = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const lines = layout.lines(text, 10, 150);
    expect(lines.length).to.be.greaterThan(5);
    for (const line of lines) expect(line.width).to.be.at.most(150.01);
    expect(drawn(lines)).to.equal(text.replace(/ /g, ''));
  });

  it('breaks Chinese between characters and an overlong word between graphemes', () => {
    const chinese = '长文本没有空格也要换行'.repeat(10);
    const cjk = layout.lines(chinese, 10, 120);
    expect(cjk.length).to.be.greaterThan(5);
    for (const line of cjk) expect(line.width).to.be.at.most(120.01);
    expect(drawn(cjk)).to.equal(chinese);
    const url = `https://example.org/${'a'.repeat(300)}`;
    const split = layout.lines(url, 10, 100);
    expect(split.length).to.be.greaterThan(3);
    for (const line of split) expect(line.width).to.be.at.most(100.01);
    expect(drawn(split)).to.equal(url);
  });

  it('keeps empty lines and draws nothing for invisible characters', () => {
    const lines = layout.lines('one\n\nthree\u200e', 10, 500);
    expect(lines.map(texts)).to.deep.equal([['one'], [], ['three']]);
  });
});
