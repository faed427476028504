import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import { HubError } from '../../contracts/errors.js';
import type { Mailer, OutgoingMail } from '../../domain/ports.js';

export interface SmtpMailerOptions {
  /** smtp://user:pass@host:port or smtps://…; credentials never reach a log line. */
  url: string;
  /** The From header, e.g. "Chat Hub <no-reply@example.org>". */
  from: string;
  /** Bound on connecting, the greeting, and each silence of the server; the whole send gets four times it. */
  timeoutMs: number;
}

interface SmtpFailure {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** Sends mail over SMTP with nodemailer; refusals and unreachable servers become BAD_GATEWAY. */
export class SmtpMailer implements Mailer {
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(
    private readonly options: SmtpMailerOptions,
    private readonly log: Logger,
  ) {
    this.transport = nodemailer.createTransport({
      url: options.url,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      // Mail content comes from conversations: never let it name a file or URL for nodemailer to read.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(mail: OutgoingMail): Promise<{ messageId: string }> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('deadline'), { code: 'ETIMEDOUT' })), 4 * this.options.timeoutMs);
    });
    try {
      const info = await Promise.race([
        this.transport.sendMail({
          from: this.options.from,
          // Structured addresses: nodemailer encodes the name, so nothing in it can start a header.
          to: { name: mail.to.name, address: mail.to.address },
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          attachments: [{ filename: mail.attachment.filename, contentType: mail.attachment.contentType, content: mail.attachment.content }],
          disableFileAccess: true,
          disableUrlAccess: true,
        }),
        deadline,
      ]);
      if (info.rejected.length > 0) throw new HubError('BAD_GATEWAY', 'the mail server refused the recipient');
      return { messageId: info.messageId };
    } catch (err) {
      throw this.failure(err);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.transport.close();
  }

  private failure(err: unknown): HubError {
    if (err instanceof HubError) return err;
    const e = err as SmtpFailure;
    if (typeof e.responseCode === 'number') {
      // The server's reply is its own text, not a secret; it tells the operator why.
      const reply = (e.response ?? '').replace(/[\r\n]+/g, ' ').slice(0, 200);
      this.log.warn({ responseCode: e.responseCode, command: e.command, reply }, 'mail server refused the transcript');
      return new HubError('BAD_GATEWAY', `the mail server refused the message (${e.responseCode}${reply ? `: ${reply}` : ''})`);
    }
    const code = typeof e.code === 'string' ? e.code : 'unknown error';
    this.log.warn({ code }, 'mail server unreachable');
    return new HubError('BAD_GATEWAY', `the mail server could not be reached (${code})`);
  }
}
