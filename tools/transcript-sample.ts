/**
 * Renders a sample transcript (no database needed) and keeps its first page as
 * docs/transcript-sample.png, so README readers see what a transcript looks like.
 * Needs pdftoppm (Debian's poppler-utils). Usage: npm run docs:transcript-sample
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { PdfTranscriptRenderer } from '../src/adapters/pdf/transcript.pdf.js';
import { PROJECT_ROOT } from '../src/config.js';
import type { Transcript, TranscriptEntry } from '../src/domain/ports.js';
import type { Conversation } from '../src/domain/types.js';

const start = new Date('2026-11-20T09:58:00.000Z');
const at = (seconds: number): Date => new Date(start.getTime() + seconds * 1000);

const conversation: Conversation = {
  id: '3f2c9a4e-7b1d-4c6e-9a8f-2d5e6b7c8d9e',
  channel: 'web',
  status: 'ended',
  subject: 'billing',
  customer: { id: 'c-1', firstName: 'Jürgen', lastName: 'Müller', email: 'juergen.mueller@example.org', phone: '+49 151 12345678', custom: {} },
  participants: [
    { id: 'c-1', name: 'Jürgen Müller', role: 'customer' },
    { id: 'a-1', name: 'Amira Haddad', role: 'agent' },
  ],
  joined: ['c-1', 'a-1'],
  requestId: 'sample',
  openKey: '3f2c9a4e-7b1d-4c6e-9a8f-2d5e6b7c8d9e',
  createdAt: start,
  endedAt: at(420),
};

const entries: TranscriptEntry[] = [
  { kind: 'activity', at: at(0), text: 'Hello Jürgen, thanks for reaching out. An agent will be with you shortly.' },
  { kind: 'activity', at: at(2), text: 'Jürgen Müller joined the conversation' },
  { kind: 'message', sender: 'Jürgen Müller', role: 'customer', at: at(15), text: 'Guten Tag! Meine Rechnung für Oktober ist doppelt abgebucht worden. Können Sie das prüfen?', attachments: [] },
  { kind: 'activity', at: at(40), text: 'Amira Haddad joined the conversation' },
  { kind: 'message', sender: 'Amira Haddad', role: 'agent', at: at(52), text: 'Guten Tag Herr Müller, ich sehe mir das sofort an. Einen Moment bitte.', attachments: [] },
  { kind: 'message', sender: 'Jürgen Müller', role: 'customer', at: at(80), text: 'Hier ist der Kontoauszug.', attachments: [{ name: 'kontoauszug-oktober.pdf', url: 'https://files.example.org/u/42/kontoauszug-oktober.pdf' }] },
  { kind: 'message', sender: 'Amira Haddad', role: 'agent', at: at(140), text: 'Danke! Die doppelte Abbuchung über 49,90 € wird innerhalb von 3–5 Werktagen erstattet. 🙂', attachments: [] },
  { kind: 'message', sender: 'Jürgen Müller', role: 'customer', at: at(200), text: 'Meine Frau schreibt lieber auf Arabisch: شكراً جزيلاً على المساعدة السريعة!\nUnd mein Kollege auf Urdu: آپ کا بہت شکریہ۔\n还有一句中文：谢谢你们的帮助！', attachments: [] },
  { kind: 'message', sender: 'Amira Haddad', role: 'agent', at: at(260), text: 'عفواً! Gern geschehen — 不客气！ Is there anything else I can do for you?', attachments: [] },
  { kind: 'message', sender: 'Jürgen Müller', role: 'customer', at: at(400), text: 'Nein, das war alles. Vielen Dank und schönes Wochenende!', attachments: [] },
  { kind: 'activity', at: at(420), text: 'Conversation ended by Jürgen Müller' },
];

async function* iterate(): AsyncGenerator<TranscriptEntry> {
  yield* entries;
}

const transcript: Transcript = { conversation, entries: iterate(), locale: 'de', timeZone: 'Europe/Berlin', generatedAt: at(600) };
const dir = mkdtempSync(join(tmpdir(), 'transcript-sample-'));
try {
  const pdf = join(dir, 'sample.pdf');
  const out = createWriteStream(pdf);
  await new PdfTranscriptRenderer().render(transcript, out);
  out.end();
  await finished(out);
  const target = join(PROJECT_ROOT, 'docs', 'transcript-sample');
  execFileSync('pdftoppm', ['-png', '-r', '80', '-f', '1', '-l', '1', '-singlefile', pdf, target]);
  console.log(`wrote ${target}.png`);
  if (process.env['KEEP_PDF']) execFileSync('cp', [pdf, `${target}.pdf`]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
