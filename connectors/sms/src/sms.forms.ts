import { z } from 'zod';
import type { FormParams } from './twilio-signature.js';

/** An attachment as the hub takes it (AttachmentRef of the connector protocol). */
export interface InboundAttachment {
  type: string;
  name: string;
  contentUrl: string;
}

/** What an inbound SMS becomes for hub.sendInbound(). */
export interface InboundSms {
  refId: string;
  text: string;
  attachments: InboundAttachment[];
  clientMessageId: string;
  metadata: { to: string };
}

/** A delivery report for hub.reportStatus(). */
export interface StatusReport {
  messageId: string;
  state: 'DELIVERED' | 'FAILED';
  externalId: string;
  error?: { message: string };
}

/** A status callback either settles the message or is an intermediate step we ignore. */
export type StatusOutcome = { kind: 'report'; report: StatusReport } | { kind: 'ignore'; status: string };

export type FormResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** The first value of a parameter; a form parser yields an array for a repeated name. */
const single = (value: unknown): unknown => (Array.isArray(value) ? value[0] : value);
const param = z.preprocess(single, z.string());
const requiredParam = z.preprocess(single, z.string().min(1));

const inboundSchema = z.object({
  MessageSid: requiredParam,
  From: requiredParam,
  To: param.default(''),
  Body: param.default(''),
  NumMedia: z.preprocess(single, z.coerce.number().int().min(0).max(10)).default(0),
});

const statusSchema = z.object({
  MessageSid: requiredParam,
  MessageStatus: requiredParam,
  ErrorCode: param.optional(),
  ErrorMessage: param.optional(),
});

/** File extensions for the content types MMS commonly carries; others fall back to the subtype. */
const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/heic': 'heic',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'video/quicktime': 'mov',
  'audio/mpeg': 'mp3',
  'audio/amr': 'amr',
  'audio/ogg': 'ogg',
  'audio/mp4': 'm4a',
  'text/vcard': 'vcf',
  'text/x-vcard': 'vcf',
  'text/plain': 'txt',
  'application/pdf': 'pdf',
};

/** A file name for the n-th (0-based) media of an MMS, derived from its content type: image/jpeg → image-1.jpg. */
export function mediaName(contentType: string, index: number): string {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const [major, minor] = type.split('/');
  const kind = major && /^[a-z]+$/.test(major) ? major : 'file';
  const ext = EXTENSIONS[type] ?? (minor ? minor.replace(/^(x-|vnd\.)/, '').replace(/[^a-z0-9]+/g, '').slice(0, 8) : '');
  return ext ? `${kind}-${index + 1}.${ext}` : `${kind}-${index + 1}`;
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** Maps an inbound-message webhook (MessageSid, From, To, Body, NumMedia, MediaUrlN, MediaContentTypeN). */
export function inboundFromForm(params: FormParams): FormResult<InboundSms> {
  const parsed = inboundSchema.safeParse(params);
  if (!parsed.success) return { ok: false, error: describe(parsed.error) };
  const { MessageSid, From, To, Body, NumMedia } = parsed.data;
  const attachments: InboundAttachment[] = [];
  for (let i = 0; i < NumMedia; i += 1) {
    const url = single(params[`MediaUrl${i}`]);
    if (typeof url !== 'string' || url === '') return { ok: false, error: `MediaUrl${i}: missing although NumMedia is ${NumMedia}` };
    const typeParam = single(params[`MediaContentType${i}`]);
    const type = typeof typeParam === 'string' && typeParam !== '' ? typeParam : 'application/octet-stream';
    attachments.push({ type, name: mediaName(type, i), contentUrl: url });
  }
  return { ok: true, value: { refId: From, text: Body, attachments, clientMessageId: MessageSid, metadata: { to: To } } };
}

/** Final statuses that mean the handset got it ('read' only exists on channels with read receipts). */
const DELIVERED = new Set(['delivered', 'read']);
/** Final statuses that mean it will never arrive. */
const FAILED = new Set(['undelivered', 'failed', 'canceled']);

/**
 * Maps a status callback. Only final statuses settle the message: `sent` means the carrier took
 * it, not that the handset got it, so it is ignored like queued/sending.
 */
export function statusFromForm(messageId: string, params: FormParams): FormResult<StatusOutcome> {
  const parsed = statusSchema.safeParse(params);
  if (!parsed.success) return { ok: false, error: describe(parsed.error) };
  const { MessageSid, MessageStatus, ErrorCode, ErrorMessage } = parsed.data;
  const status = MessageStatus.toLowerCase();
  if (DELIVERED.has(status)) return { ok: true, value: { kind: 'report', report: { messageId, state: 'DELIVERED', externalId: MessageSid } } };
  if (FAILED.has(status)) {
    const code = ErrorCode ? ` (error ${ErrorCode})` : '';
    const detail = ErrorMessage ? `: ${ErrorMessage}` : '';
    return {
      ok: true,
      value: { kind: 'report', report: { messageId, state: 'FAILED', externalId: MessageSid, error: { message: `provider status ${status}${code}${detail}` } } },
    };
  }
  return { ok: true, value: { kind: 'ignore', status } };
}
