import type { AddressInfo } from 'node:net';
import PostalMime, { type Email } from 'postal-mime';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  /** RCPT TO addresses: who the server was asked to deliver to. */
  recipients: string[];
  raw: Buffer;
  parsed: Email;
}

/** Recipient domains the sink refuses at RCPT TO with 550, like a real mail server would. */
export const REFUSED_DOMAIN = 'refused.example';

/**
 * A real SMTP server (the smtp-server package) in the test process: it accepts mail over the
 * wire, keeps what it received, and refuses recipients at REFUSED_DOMAIN.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  private readonly waiters: Array<(mail: ReceivedMail) => void> = [];
  private readonly server: SMTPServer;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      size: 30 * 1024 * 1024,
      onRcptTo(address: SMTPServerAddress, _session, callback) {
        if (address.address.toLowerCase().endsWith(`@${REFUSED_DOMAIN}`)) {
          callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
          return;
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          PostalMime.parse(raw)
            .then((parsed) => {
              const mail: ReceivedMail = {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                recipients: session.envelope.rcptTo.map((r) => r.address),
                raw,
                parsed,
              };
              this.received.push(mail);
              this.waiters.splice(0).forEach((w) => w(mail));
              callback();
            })
            .catch((err: Error) => callback(err));
        });
      },
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.server.address() as AddressInfo).port;
  }

  /** The next mail to arrive (or one that arrived since `since` mails were counted). */
  next(since: number, ms = 10_000): Promise<ReceivedMail> {
    const already = this.received[since];
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mail within ${ms} ms`)), ms);
      this.waiters.push((mail) => {
        clearTimeout(timer);
        resolve(mail);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
