import type { AttachmentRef } from '@chat-hub/connector-sdk/protocol';
import type { Logger } from 'pino';
import { FbSendError, classifyGraphError } from './fb-send-error.js';
import { splitText } from './fb-text-split.js';

/** The part of a hub message the Send API needs (a HubMessage fits). */
export interface FbOutboundMessage {
  id: string;
  refId: string;
  text?: string;
  attachments?: AttachmentRef[];
}

export interface FbSendOptions {
  graphBase: string;
  graphVersion: string;
  pageAccessToken: string;
  timeoutMs: number;
  logger?: Logger;
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** How many partly sent messages to remember for a resumed retry (see `send`). */
  rememberPartial?: number;
}

/** One Send API `message` object: a text or a single attachment by URL. */
export type FbSendMessage = { text: string } | { attachment: { type: FbAttachmentType; payload: { url: string; is_reusable: false } } };
export type FbAttachmentType = 'image' | 'video' | 'audio' | 'file';

/** The Send API attachment type for a MIME type. */
export function attachmentTypeFor(mime: string): FbAttachmentType {
  const kind = mime.split('/')[0]?.toLowerCase();
  return kind === 'image' || kind === 'video' || kind === 'audio' ? kind : 'file';
}

function isHttpUrl(value: string): boolean {
  try {
    const scheme = new URL(value).protocol;
    return scheme === 'https:' || scheme === 'http:';
  } catch {
    return false;
  }
}

/**
 * The Send API requests one hub message becomes, in order: its text in parts of at most 2000
 * characters, then each http(s) attachment on its own (the Send API takes one attachment per call;
 * data: URLs would need the upload API and are left out).
 */
export function buildSendMessages(message: FbOutboundMessage): { messages: FbSendMessage[]; skipped: AttachmentRef[] } {
  const messages: FbSendMessage[] = splitText(message.text ?? '').map((text) => ({ text }));
  const skipped: AttachmentRef[] = [];
  for (const a of message.attachments ?? []) {
    if (!isHttpUrl(a.contentUrl)) {
      skipped.push(a);
      continue;
    }
    messages.push({ attachment: { type: attachmentTypeFor(a.type), payload: { url: a.contentUrl, is_reusable: false } } });
  }
  return { messages, skipped };
}

/** Sends hub messages to Messenger users through the Graph API Send API (`POST /me/messages`). */
export class FbSendProvider {
  private readonly fetch: typeof fetch;
  private readonly endpoint: string;
  /** hub message id → parts already sent, so a retry in this process does not repeat them. */
  private readonly partial = new Map<string, { done: number; lastId: string | undefined }>();

  constructor(private readonly options: FbSendOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.endpoint = `${options.graphBase.replace(/\/+$/, '')}/${options.graphVersion}/me/messages`;
  }

  /**
   * Sends every part of `message` to `message.refId` (a PSID) and resolves with the last part's
   * `message_id`. Throws FbSendError: `retryable` for 5xx, network errors, time-outs and Graph's
   * transient/throttling codes, otherwise permanent with the Graph error `code`. The Send API has
   * no idempotency key, so a part whose answer was lost may be sent twice (at-least-once).
   */
  async send(message: FbOutboundMessage): Promise<{ externalId?: string }> {
    const { messages, skipped } = buildSendMessages(message);
    if (skipped.length > 0) {
      this.options.logger?.warn({ messageId: message.id, skipped: skipped.length }, 'attachments without an http(s) URL not sent');
    }
    if (messages.length === 0) {
      throw new FbSendError('nothing Messenger can deliver: no text and no http(s) attachment', { retryable: false });
    }
    const progress = this.partial.get(message.id) ?? { done: 0, lastId: undefined };
    for (let i = progress.done; i < messages.length; i += 1) {
      try {
        progress.lastId = (await this.post(message.refId, messages[i]!)) ?? progress.lastId;
        progress.done = i + 1;
      } finally {
        if (progress.done > 0 && progress.done < messages.length) this.remember(message.id, progress);
      }
    }
    this.partial.delete(message.id);
    return progress.lastId === undefined ? {} : { externalId: progress.lastId };
  }

  private remember(id: string, progress: { done: number; lastId: string | undefined }): void {
    this.partial.delete(id);
    this.partial.set(id, progress);
    const cap = this.options.rememberPartial ?? 1000;
    while (this.partial.size > cap) {
      const oldest = this.partial.keys().next().value;
      if (oldest === undefined) break;
      this.partial.delete(oldest);
    }
  }

  /** One Send API call; resolves with its message_id. Never puts the URL (it holds the token) in an error. */
  private async post(recipientId: string, body: FbSendMessage): Promise<string | undefined> {
    const url = `${this.endpoint}?access_token=${encodeURIComponent(this.options.pageAccessToken)}`;
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ recipient: { id: recipientId }, messaging_type: 'RESPONSE', message: body }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw networkError(err, this.options.timeoutMs);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) {
      const messageId = (json as { message_id?: unknown } | undefined)?.message_id;
      if (typeof messageId === 'string') return messageId;
      // Sent, but without an id: retrying would send it again.
      this.options.logger?.warn({ status: res.status }, 'Send API answered without message_id');
      return undefined;
    }
    const error = classifyGraphError(res.status, json);
    this.options.logger?.warn(
      { status: res.status, code: error.code, subcode: error.subcode, fbtraceId: error.fbtraceId, retryable: error.retryable },
      'Send API refused a message',
    );
    throw error;
  }
}

function networkError(err: unknown, timeoutMs: number): FbSendError {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new FbSendError(`Send API did not answer within ${timeoutMs} ms`, { retryable: true });
  }
  // undici hides the reason in `cause` (ECONNREFUSED, ECONNRESET…); the message never holds the URL.
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const reason = typeof cause?.code === 'string' ? cause.code : err instanceof Error ? err.message : 'unknown error';
  return new FbSendError(`Send API unreachable: ${reason}`, { retryable: true });
}
