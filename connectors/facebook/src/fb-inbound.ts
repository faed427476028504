import type { AttachmentRef } from '@chat-hub/connector-sdk/protocol';
import type { FbAttachment, FbMessagingEvent, FbWebhookBody } from './fb-events.schema.js';

/** A customer's Messenger message translated for the hub (the shape `hub.sendInbound` takes). */
export interface FbInboundMessage {
  /** The sender's page-scoped id (PSID): the customer's address on the `fb` channel. */
  refId: string;
  text?: string;
  attachments: AttachmentRef[];
  /** The Messenger `mid`: a redelivered webhook carries the same one, so the hub stores it once. */
  clientMessageId: string;
  metadata: { pageId: string };
}

/** A messaging event that is not forwarded, and why (logged at debug). */
export interface FbSkippedEvent {
  kind: 'echo' | 'delivery' | 'read' | 'postback' | 'reaction' | 'empty' | 'other';
  senderId: string;
  mid?: string;
}

export interface FbBatch {
  messages: FbInboundMessage[];
  skipped: FbSkippedEvent[];
}

// The exact type is unknown from the webhook; the file extension, when there is one, is the best hint.
const MIME_BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  ogg: 'audio/ogg',
  wav: 'audio/wav',
  pdf: 'application/pdf',
  txt: 'text/plain',
  csv: 'text/csv',
  zip: 'application/zip',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

const DEFAULT_MIME: Record<string, string> = {
  image: 'image/jpeg',
  video: 'video/mp4',
  audio: 'audio/mp4', // Messenger voice clips are AAC in an .mp4 container
  file: 'application/octet-stream',
  fallback: 'text/html', // a shared link
};

function extensionOf(url: string): string | undefined {
  try {
    const last = new URL(url).pathname.split('/').pop() ?? '';
    const dot = last.lastIndexOf('.');
    return dot > 0 ? last.slice(dot + 1).toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** The MIME type for a Messenger attachment type, refined by the URL's extension within that kind. */
export function mimeFor(fbType: string, url: string): string {
  const ext = extensionOf(url);
  const byExt = ext ? MIME_BY_EXTENSION[ext] : undefined;
  if (fbType === 'audio' && ext === 'mp4') return 'audio/mp4';
  if (byExt && (fbType === 'file' || byExt.startsWith(`${fbType}/`))) return byExt;
  return DEFAULT_MIME[fbType] ?? 'application/octet-stream';
}

function isHttpUrl(value: string | undefined): value is string {
  if (!value) return false;
  try {
    const scheme = new URL(value).protocol;
    return scheme === 'https:' || scheme === 'http:';
  } catch {
    return false;
  }
}

/** Hub attachment refs for the attachments that carry a URL (templates and locations have none). */
export function toAttachmentRefs(attachments: FbAttachment[] | undefined): AttachmentRef[] {
  const refs: AttachmentRef[] = [];
  (attachments ?? []).forEach((a, index) => {
    const url = a.payload?.url ?? a.url;
    if (!isHttpUrl(url)) return;
    const ext = extensionOf(url);
    const name = `${a.type}-${index + 1}${ext && ext.length <= 5 ? `.${ext}` : ''}`;
    refs.push({ type: mimeFor(a.type, url), name, contentUrl: url });
  });
  return refs;
}

function skipKind(event: FbMessagingEvent): FbSkippedEvent['kind'] {
  if (event.delivery !== undefined) return 'delivery';
  if (event.read !== undefined) return 'read';
  if (event.postback !== undefined) return 'postback';
  if (event.reaction !== undefined) return 'reaction';
  return 'other';
}

/** Splits a verified `object: "page"` webhook body into hub messages and ignored events, in arrival order. */
export function extractInbound(body: FbWebhookBody): FbBatch {
  const batch: FbBatch = { messages: [], skipped: [] };
  for (const entry of body.entry) {
    for (const event of entry.messaging ?? []) {
      const senderId = event.sender.id;
      const message = event.message;
      if (!message) {
        batch.skipped.push({ kind: skipKind(event), senderId });
        continue;
      }
      if (message.is_echo) {
        batch.skipped.push({ kind: 'echo', senderId, mid: message.mid });
        continue;
      }
      const attachments = toAttachmentRefs(message.attachments);
      const text = message.text;
      if (!text && attachments.length === 0) {
        batch.skipped.push({ kind: 'empty', senderId, mid: message.mid });
        continue;
      }
      const inbound: FbInboundMessage = {
        refId: senderId,
        attachments,
        clientMessageId: message.mid,
        metadata: { pageId: event.recipient.id },
      };
      if (text) inbound.text = text;
      batch.messages.push(inbound);
    }
  }
  return batch;
}
