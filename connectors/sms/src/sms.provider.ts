import { z } from 'zod';

/** One SMS to send: the hub message it comes from, already reduced to what an SMS can carry. */
export interface OutboundSms {
  /** The hub message id: the Idempotency-Key and the StatusCallback's messageId. */
  messageId: string;
  /** The customer's number (E.164). */
  to: string;
  text?: string | undefined;
  attachments?: Array<{ type: string; name: string; contentUrl: string }> | undefined;
}

/** What the provider's answer means for the hub: DELIVERED now, or PENDING until a status callback settles it. */
export interface SendOutcome {
  externalId: string;
  state?: 'PENDING';
}

/** A refused or failed send. `retryable` says whether trying the same SMS again later can succeed. */
export class SmsSendError extends Error {
  readonly retryable: boolean;
  readonly httpStatus: number | undefined;
  readonly providerCode: number | undefined;

  constructor(message: string, options: { retryable: boolean; httpStatus?: number; providerCode?: number }) {
    super(message);
    this.name = 'SmsSendError';
    this.retryable = options.retryable;
    this.httpStatus = options.httpStatus;
    this.providerCode = options.providerCode;
  }
}

export interface SmsProviderOptions {
  apiBase: string;
  accountSid: string;
  authToken: string;
  from?: string | undefined;
  messagingServiceSid?: string | undefined;
  /** Set when the provider can reach our status webhook; then sends are PENDING until it reports. */
  publicUrl?: string | undefined;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** Twilio's Message resource, only the fields we read. */
const messageResource = z.looseObject({
  sid: z.string().min(1),
  status: z.string().optional(),
  error_code: z.union([z.number(), z.string()]).nullish(),
  error_message: z.string().nullish(),
});

/** Twilio's REST error body. */
const errorBody = z.looseObject({
  code: z.union([z.number(), z.string()]).nullish(),
  message: z.string().nullish(),
  more_info: z.string().nullish(),
  status: z.number().nullish(),
});

/** Statuses in a create response that already mean the SMS will not go out. */
const FAILED_ON_CREATE = new Set(['failed', 'undelivered', 'canceled']);

const isHttpUrl = (url: string): boolean => /^https?:\/\//i.test(url);

/** The text an SMS carries: the message text plus, by name, attachments that cannot travel as MediaUrl. */
export function smsBody(sms: OutboundSms): string {
  const inline = (sms.attachments ?? []).filter((a) => !isHttpUrl(a.contentUrl)).map((a) => `[attachment: ${a.name}]`);
  return [sms.text ?? '', ...inline].filter((part) => part !== '').join('\n');
}

/** The form body of POST /2010-04-01/Accounts/{sid}/Messages.json. */
export function buildSendForm(sms: OutboundSms, options: Pick<SmsProviderOptions, 'from' | 'messagingServiceSid' | 'publicUrl'>): URLSearchParams {
  const form = new URLSearchParams();
  form.set('To', sms.to);
  if (options.from) form.set('From', options.from);
  // With both set, Twilio sends from `From` and still applies the service's features.
  if (options.messagingServiceSid) form.set('MessagingServiceSid', options.messagingServiceSid);
  const body = smsBody(sms);
  if (body !== '') form.set('Body', body);
  for (const a of sms.attachments ?? []) if (isHttpUrl(a.contentUrl)) form.append('MediaUrl', a.contentUrl);
  if (options.publicUrl) form.set('StatusCallback', `${options.publicUrl}/sms/status?messageId=${encodeURIComponent(sms.messageId)}`);
  return form;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Maps the provider's HTTP answer to an outcome, or throws SmsSendError (retryable for 429 and 5xx). */
export function interpretSendResponse(httpStatus: number, text: string, statusCallbacks: boolean): SendOutcome {
  const json = parseJson(text);
  if (httpStatus >= 200 && httpStatus < 300) {
    const parsed = messageResource.safeParse(json);
    // Accepted but unreadable: a retry carries the same Idempotency-Key, so it cannot send twice where keys are honoured.
    if (!parsed.success) throw new SmsSendError(`provider answered ${httpStatus} without a message sid`, { retryable: true, httpStatus });
    const { sid, status, error_code: code, error_message: message } = parsed.data;
    if (status && FAILED_ON_CREATE.has(status)) {
      const providerCode = code === null || code === undefined ? undefined : Number(code);
      throw new SmsSendError(`provider status ${status}${code ? ` (error ${code})` : ''}${message ? `: ${message}` : ''}`, {
        retryable: false,
        httpStatus,
        ...(providerCode !== undefined && Number.isFinite(providerCode) ? { providerCode } : {}),
      });
    }
    return statusCallbacks ? { externalId: sid, state: 'PENDING' } : { externalId: sid };
  }
  const parsed = errorBody.safeParse(json);
  const code = parsed.success && parsed.data.code !== null && parsed.data.code !== undefined ? Number(parsed.data.code) : undefined;
  const detail = parsed.success && parsed.data.message ? parsed.data.message : text.slice(0, 200) || 'no body';
  const message = `provider answered ${httpStatus}${code !== undefined && Number.isFinite(code) ? ` (error ${code})` : ''}: ${detail}`;
  const retryable = httpStatus === 429 || httpStatus >= 500;
  throw new SmsSendError(message, {
    retryable,
    httpStatus,
    ...(code !== undefined && Number.isFinite(code) ? { providerCode: code } : {}),
  });
}

/** The send half of a Twilio-style Programmable Messaging API. */
export class SmsProvider {
  private readonly fetchImpl: typeof fetch;
  private readonly url: string;
  private readonly authorization: string;

  constructor(private readonly options: SmsProviderOptions) {
    this.fetchImpl = options.fetch ?? fetch;
    this.url = `${options.apiBase}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
    this.authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;
  }

  /** Sends one SMS; resolves with the provider's sid, or throws SmsSendError. */
  async send(sms: OutboundSms): Promise<SendOutcome> {
    const form = buildSendForm(sms, this.options);
    if (!form.has('Body') && !form.has('MediaUrl')) throw new SmsSendError('nothing to send: the message has no text and no attachment', { retryable: false });
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          // Providers such as Telnyx answer a repeated key with the first result instead of sending again.
          'idempotency-key': sms.messageId,
        },
        body: form.toString(),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const reason = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? `no answer within ${this.options.timeoutMs} ms` : describeNetworkError(err);
      throw new SmsSendError(`provider unreachable: ${reason}`, { retryable: true });
    }
    return interpretSendResponse(res.status, text, this.options.publicUrl !== undefined);
  }
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  const code = cause && typeof cause === 'object' && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
  return code ? `${err.message} (${code})` : err.message;
}
