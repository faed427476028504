import type { MailAddress, OutgoingMail } from './ports.js';
import type { Conversation } from './types.js';
import { customerName, formatDateTime } from './transcript-entries.js';

/** Text that may go into a mail header: one line, no control characters, bounded. */
export function headerSafe(text: string, max = 200): string {
  return text
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface TranscriptMailInput {
  conversation: Conversation;
  /** The customer's own address, or the one an agent or the system chose. */
  to: string;
  toCustomer: boolean;
  pdf: Buffer;
  locale: string;
  timeZone: string;
}

/** The transcript mail: a short plain-text and HTML note with the PDF attached. */
export function composeTranscriptMail(input: TranscriptMailInput): OutgoingMail {
  const { conversation: c, locale, timeZone } = input;
  const name = headerSafe(customerName(c));
  const to: MailAddress = { name: input.toCustomer ? name : '', address: input.to };
  const topic = headerSafe(c.subject, 100);
  const started = formatDateTime(c.createdAt, locale, timeZone);
  const ended = c.endedAt ? formatDateTime(c.endedAt, locale, timeZone) : '';
  const subject = headerSafe(input.toCustomer ? `Transcript of your conversation${topic ? ` about ${topic}` : ''}` : `Transcript of the conversation with ${name}${topic ? ` about ${topic}` : ''}`);
  const greeting = input.toCustomer && name ? `Hello ${name},` : 'Hello,';
  const lines = [
    greeting,
    '',
    input.toCustomer ? 'attached is the transcript of your conversation with us.' : `attached is the transcript of the conversation with ${name}.`,
    '',
    `Started: ${started}`,
    `Ended: ${ended}`,
    `Conversation: ${c.id}`,
    '',
    'This message was sent automatically.',
  ];
  const html = [
    `<p>${escapeHtml(greeting)}</p>`,
    `<p>${escapeHtml(lines[2] ?? '')}</p>`,
    '<table>',
    `<tr><td>Started</td><td>${escapeHtml(started)}</td></tr>`,
    `<tr><td>Ended</td><td>${escapeHtml(ended)}</td></tr>`,
    `<tr><td>Conversation</td><td>${escapeHtml(c.id)}</td></tr>`,
    '</table>',
    '<p style="color:#777">This message was sent automatically.</p>',
  ].join('\n');
  return {
    to,
    subject,
    text: lines.join('\n'),
    html,
    attachment: { filename: `transcript-${c.id}.pdf`, contentType: 'application/pdf', content: input.pdf },
  };
}
