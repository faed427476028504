/** Messenger refuses a text message longer than this (Send API, `message.text`). */
export const FB_TEXT_LIMIT = 2000;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Splits `text` into parts of at most `limit` UTF-16 code units (counting code units is the strict
 * reading of the limit, so an emoji never pushes a part over it). A part ends after the last line
 * break, else the last whitespace, in its second half; otherwise it is cut hard, but never inside a
 * surrogate pair. The parts concatenate to the original text, except that whitespace-only parts are
 * dropped (Messenger would refuse them as empty).
 */
export function splitText(text: string, limit = FB_TEXT_LIMIT): string[] {
  if (limit < 2) throw new RangeError('limit must be at least 2');
  const parts: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    let cut = limit;
    if (isHighSurrogate(rest.charCodeAt(cut - 1))) cut -= 1;
    const window = rest.slice(0, cut);
    const newline = window.lastIndexOf('\n');
    const space = lastWhitespace(window);
    const half = Math.floor(cut / 2);
    if (newline >= half) cut = newline + 1;
    else if (space >= half) cut = space + 1;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) parts.push(rest);
  return parts.filter((p) => p.trim().length > 0);
}

function lastWhitespace(s: string): number {
  for (let i = s.length - 1; i >= 0; i -= 1) {
    if (/\s/.test(s[i]!)) return i;
  }
  return -1;
}
