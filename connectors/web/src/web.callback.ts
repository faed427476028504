import { RetryableError, type DeliveryResult } from '@chat-hub/connector-sdk';
import type { HubMessage } from '@chat-hub/connector-sdk/protocol';
import type { Logger } from 'pino';
import { toCallbackPayload } from './web.payload.js';
import { signWebPayload, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './web-signature.js';

export interface CallbackOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** Extra attempts after the first, for transient failures, before answering the hub retryable. */
  retries: number;
  /** First backoff delay; doubles per attempt up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
  /** Injected by tests. */
  fetch?: typeof fetch;
}

/** How one callback response is treated. */
export type CallbackOutcome = 'delivered' | 'permanent' | 'transient';

/**
 * 2xx delivered; 408, 429 and 5xx transient (the receiver may recover); every other status,
 * redirects included (a POST must not be silently turned into a GET), refused for good.
 */
export function classifyStatus(status: number): CallbackOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'permanent';
}

/** The handler's budget: every attempt at its timeout plus the backoffs, so the SDK never cuts a delivery short. */
export function deliveryBudgetMs(options: Pick<CallbackOptions, 'timeoutMs' | 'retries' | 'backoffMs' | 'maxBackoffMs'>): number {
  let total = options.timeoutMs * (options.retries + 1);
  for (let i = 0; i < options.retries; i += 1) total += backoffDelay(i, options.backoffMs ?? 200, options.maxBackoffMs ?? 2000) * 1.5;
  return Math.ceil(total + 1000);
}

function backoffDelay(attempt: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** attempt);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A short, single-line excerpt of a response body for error messages (receivers' bodies can be large or HTML). */
export function excerpt(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The receiver's id for the message: `id` of a JSON answer, if any. */
export function externalIdOf(text: string): string | undefined {
  if (!text) return undefined;
  try {
    const body = JSON.parse(text) as unknown;
    const id = body && typeof body === 'object' ? (body as { id?: unknown }).id : undefined;
    if (typeof id === 'string' && id.length > 0 && id.length <= 200) return id;
    if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  } catch {
    // A non-JSON 2xx body still means delivered; it just carries no id.
  }
  return undefined;
}

/** Retry-After in seconds (the date form is ignored), capped so in-handler waits stay short. */
function retryAfterMs(header: string | null, max: number): number | undefined {
  if (!header || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(max, Number(header.trim()) * 1000);
}

/** Delivers outbound messages to the website's callback URL, signed, with in-handler retries. */
export class WebCallbackClient {
  private readonly fetch: typeof fetch;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: CallbackOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
  }

  /**
   * POSTs one message. Resolves `{externalId}` on 2xx; throws Error on a permanent refusal
   * (the hub marks it FAILED); throws RetryableError when every attempt failed transiently.
   */
  async deliver(message: HubMessage): Promise<DeliveryResult> {
    const body = JSON.stringify(toCallbackPayload(message));
    const log = this.options.logger.child({ messageId: message.id, conversationId: message.conversationId });
    const attempts = this.options.retries + 1;
    let lastProblem = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      let waitMs = backoffDelay(attempt - 1, this.backoffMs, this.maxBackoffMs);
      const result = await this.post(message.id, body);
      if (result.kind === 'response') {
        const outcome = classifyStatus(result.status);
        if (outcome === 'delivered') {
          const externalId = externalIdOf(result.text);
          log.info({ event: 'callback_delivered', status: result.status, attempt, externalId }, 'callback accepted the message');
          return externalId === undefined ? {} : { externalId };
        }
        lastProblem = `callback answered ${result.status}${result.text ? `: ${excerpt(result.text)}` : ''}`;
        if (outcome === 'permanent') {
          log.warn({ event: 'callback_refused', status: result.status, attempt }, 'callback refused the message');
          throw new Error(lastProblem);
        }
        waitMs = retryAfterMs(result.retryAfter, this.maxBackoffMs) ?? waitMs;
      } else {
        lastProblem = `callback request failed: ${result.error}`;
      }
      log.warn({ event: 'callback_transient', attempt, attempts, problem: lastProblem }, 'callback failed; retrying');
      if (attempt < attempts) await sleep(waitMs * (0.75 + Math.random() * 0.5));
    }
    throw new RetryableError(`${lastProblem} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`);
  }

  /** One signed POST; a timeout or network error is returned, not thrown. */
  private async post(
    messageId: string,
    body: string,
  ): Promise<{ kind: 'response'; status: number; text: string; retryAfter: string | null } | { kind: 'error'; error: string }> {
    // Signed per attempt: a retry carries a fresh timestamp, so it passes receivers' replay windows.
    const timestamp = Math.floor(Date.now() / 1000);
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const res = await this.fetch(this.options.url, {
        method: 'POST',
        redirect: 'manual',
        signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'chat-hub-connector-web/0.1.0',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebPayload(this.options.secret, timestamp, body),
          'idempotency-key': messageId,
        },
        body,
      });
      const text = await res.text();
      return { kind: 'response', status: res.status, text, retryAfter: res.headers.get('retry-after') };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || signal.aborted) return { kind: 'error', error: `no answer within ${this.options.timeoutMs} ms` };
      return { kind: 'error', error: e.cause?.code ?? e.cause?.message ?? e.message };
    }
  }
}
