import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpStandIn } from './http-stand-in.js';

/** One SMS the stand-in accepted (a replayed Idempotency-Key adds none). */
export interface SentSms {
  sid: string;
  to: string;
  from: string | null;
  body: string;
  mediaUrls: string[];
  statusCallback: string | null;
  idempotencyKey: string | null;
  /** The path prefix of the connector process that sent it (each process gets its own SMS_API_BASE). */
  via: string;
}

/** Every request to the Messages endpoint, with the answer given. */
export interface ProviderCall {
  via: string;
  to: string | null;
  body: string | null;
  idempotencyKey: string | null;
  status: number;
  replayed: boolean;
}

export type TwilioAnswer = { status: number; body: Record<string, unknown> };

/** Twilio's error JSON with its HTTP status. */
export const twilioError = (status: number, code: number, message: string): TwilioAnswer => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

/** Twilio's webhook signature (X-Twilio-Signature), computed here independently of the connector's code. */
export function twilioSignature(url: string, params: Record<string, string>, authToken: string): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * A stand-in Messages API: POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json with Basic
 * auth and a form body, answering 201 with a Message resource or Twilio's error JSON. Like
 * providers that honour Idempotency-Key, a key it accepted before is answered with the first
 * response and sends nothing; a key whose earlier attempt failed may be tried again.
 */
export class TwilioStandIn extends HttpStandIn {
  readonly sent: SentSms[] = [];
  readonly calls: ProviderCall[] = [];
  /** Answers for the next valid requests, in order; afterwards every valid request is accepted. */
  readonly script: TwilioAnswer[] = [];
  /** Refuses matching requests (checked before the script). */
  refuse: ((form: URLSearchParams) => TwilioAnswer | undefined) | undefined;
  /** Called after an SMS is recorded and before the answer goes out. */
  onAccepted: ((sms: SentSms) => void) | undefined;
  latencyMs = 0;
  private readonly accepted = new Map<string, TwilioAnswer>();

  constructor(
    private readonly accountSid: string,
    private readonly authToken: string,
  ) {
    super();
  }

  /** The SMS sent to `to`, oldest first. */
  to(to: string): SentSms[] {
    return this.sent.filter((s) => s.to === to);
  }

  protected handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    const send = (a: TwilioAnswer, replayed = false): void => {
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(a.status, { 'content-type': 'application/json', ...(replayed ? { 'idempotent-replayed': 'true' } : {}) }).end(JSON.stringify(a.body));
      }, this.latencyMs);
    };
    const match = /^(\/[a-z0-9]+)?\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method !== 'POST' || !match) return send(twilioError(404, 20404, 'The requested resource was not found'));
    const via = match[1]?.slice(1) ?? '';
    const expectedAuth = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (match[2] !== this.accountSid || req.headers.authorization !== expectedAuth) return send(twilioError(401, 20003, 'Authenticate'));
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return send(twilioError(400, 20001, 'Unsupported content type'));
    const form = new URLSearchParams(raw.toString('utf8'));
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
    const call: ProviderCall = { via, to: form.get('To'), body: form.get('Body'), idempotencyKey: key, status: 0, replayed: false };
    this.calls.push(call);
    const previous = key ? this.accepted.get(key) : undefined;
    if (previous) {
      Object.assign(call, { status: previous.status, replayed: true });
      return send(previous, true);
    }
    let answer: TwilioAnswer | undefined;
    if (!form.get('To')) answer = twilioError(400, 21604, "A 'To' phone number is required.");
    else if (!form.get('From') && !form.get('MessagingServiceSid')) answer = twilioError(400, 21603, "A 'From' phone number is required.");
    else if (!form.get('Body') && !form.has('MediaUrl')) answer = twilioError(400, 21602, 'Message body is required.');
    answer ??= this.refuse?.(form) ?? this.script.shift();
    if (!answer) {
      const sms: SentSms = {
        sid: `SM${randomBytes(16).toString('hex')}`,
        to: form.get('To') ?? '',
        from: form.get('From'),
        body: form.get('Body') ?? '',
        mediaUrls: form.getAll('MediaUrl'),
        statusCallback: form.get('StatusCallback'),
        idempotencyKey: key,
        via,
      };
      this.sent.push(sms);
      answer = {
        status: 201,
        body: { sid: sms.sid, account_sid: this.accountSid, to: sms.to, from: sms.from, body: sms.body, status: 'queued', num_media: String(sms.mediaUrls.length), error_code: null, error_message: null },
      };
      if (key) this.accepted.set(key, answer);
      this.onAccepted?.(sms);
    }
    call.status = answer.status;
    send(answer);
  }
}
