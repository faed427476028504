import type { OutgoingWebhook, WebhookSender, WebhookSendResult } from '../../domain/webhook.ports.js';
import { signWebhookBody } from './webhook-signature.js';

export interface HttpWebhookSenderOptions {
  url: string;
  secret: string;
  /** Bound on one attempt: connecting, sending and the response's status line. */
  timeoutMs: number;
}

/** The body of one attempt: the event plus this attempt's time and number, so the signature covers both. */
export function webhookBody(event: OutgoingWebhook, sentAt: Date): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    created_at: event.createdAt.toISOString(),
    timestamp: sentAt.toISOString(),
    attempt: event.attempt,
    payload: event.payload,
  });
}

/** Why an attempt got no answer, without the URL (it may carry credentials) or any body. */
function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e.name === 'AbortError') return 'aborted: the hub is shutting down';
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `request failed: ${cause}` : `request failed: ${e.message ?? String(err)}`;
}

/** POSTs signed webhook attempts with fetch; each attempt is signed afresh with its own timestamp. */
export class HttpWebhookSender implements WebhookSender {
  constructor(private readonly options: HttpWebhookSenderOptions) {}

  async send(event: OutgoingWebhook, signal: AbortSignal): Promise<WebhookSendResult> {
    const sentAt = new Date();
    const body = webhookBody(event, sentAt);
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'chat-hub-webhooks/1',
          'x-hub-signature-256': signWebhookBody(this.options.secret, body),
          'x-hub-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'x-hub-event-id': event.id,
          'x-hub-event-type': event.type,
        },
        body,
        // A redirect is not a delivery, and following it would hand a signed event to another address.
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      // Only the status matters; the answer's body is not read (nor logged).
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return { ok: false, error: `HTTP ${res.status}${res.statusText ? ` ${res.statusText.slice(0, 100)}` : ''}` };
    } catch (err) {
      return { ok: false, error: describe(err, this.options.timeoutMs) };
    }
  }
}
