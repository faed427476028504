import { expect } from 'chai';
import { FB_TEXT_LIMIT, splitText } from '../src/fb-text-split.js';

describe('splitText (unit)', () => {
  it('keeps a text within the limit whole, and sends nothing for an empty one', () => {
    expect(splitText('hello')).to.deep.equal(['hello']);
    expect(splitText('x'.repeat(FB_TEXT_LIMIT))).to.deep.equal(['x'.repeat(FB_TEXT_LIMIT)]);
    expect(splitText('')).to.deep.equal([]);
    expect(splitText('   ')).to.deep.equal([]);
  });

  it('cuts a text without spaces hard at 2000 characters', () => {
    const text = 'a'.repeat(4500);
    const parts = splitText(text);
    expect(parts.map((p) => p.length)).to.deep.equal([2000, 2000, 500]);
    expect(parts.join('')).to.equal(text);
  });

  it('prefers to end a part after a line break, else after a space, in its second half', () => {
    const words = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
    const parts = splitText(words);
    expect(parts.length).to.be.greaterThan(1);
    for (const p of parts) expect(p.length).to.be.at.most(FB_TEXT_LIMIT);
    for (const p of parts.slice(0, -1)) expect(p.endsWith(' ')).to.equal(true, 'cut after a space');
    expect(parts.join('')).to.equal(words);

    const lines = `${'x'.repeat(1500)}\n${'y'.repeat(300)} ${'z'.repeat(400)}`;
    const byLine = splitText(lines);
    expect(byLine[0]).to.equal(`${'x'.repeat(1500)}\n`);
    expect(byLine.join('')).to.equal(lines);
  });

  it('never splits a surrogate pair and counts UTF-16 units', () => {
    const text = `${'a'.repeat(1999)}😀${'b'.repeat(10)}`;
    const parts = splitText(text);
    expect(parts[0]).to.equal('a'.repeat(1999));
    expect(parts[1]).to.equal(`😀${'b'.repeat(10)}`);
    const emojis = '😀'.repeat(1500); // 3000 UTF-16 units
    const ep = splitText(emojis);
    for (const p of ep) {
      expect(p.length).to.be.at.most(FB_TEXT_LIMIT);
      expect(p).to.not.match(/^[\udc00-\udfff]|[\ud800-\udbff]$/);
    }
    expect(ep.join('')).to.equal(emojis);
  });

  it('drops a whitespace-only remainder', () => {
    const parts = splitText(`${'x'.repeat(1999)}    `);
    expect(parts).to.deep.equal([`${'x'.repeat(1999)} `]);
  });
});
