import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs a poppler-utils tool on a PDF held in memory and returns its output. */
async function poppler(tool: 'pdftotext' | 'pdfinfo', pdf: Buffer, args: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pdf-'));
  try {
    const file = join(dir, 'doc.pdf');
    writeFileSync(file, pdf);
    const { stdout } = await run(tool, [...args, file, ...(tool === 'pdftotext' ? ['-'] : [])], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The text of a PDF as Debian's pdftotext reads it back. */
export function pdfText(pdf: Buffer): Promise<string> {
  return poppler('pdftotext', pdf, ['-enc', 'UTF-8']);
}

export async function pdfPages(pdf: Buffer): Promise<number> {
  const info = await poppler('pdfinfo', pdf, []);
  return Number(/^Pages:\s+(\d+)/m.exec(info)?.[1] ?? 0);
}

/**
 * Text reduced to its letters and digits: pdftotext marks right-to-left runs with bidi controls
 * and places spaces and punctuation next to them by its own rules, so comparisons ignore those.
 */
export function letters(text: string): string {
  return text.normalize('NFC').replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069\s\p{P}\p{S}]/gu, '');
}
