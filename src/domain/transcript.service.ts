import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Principal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { ConversationStore, Mailer, MailQuota, MessageStore, Transcript, TranscriptEntry, TranscriptRenderer } from './ports.js';
import { toTranscriptEntry, transcriptLocale } from './transcript-entries.js';
import { composeTranscriptMail } from './transcript-mail.js';
import { isVisibleTo, type Conversation, type StoredMessage } from './types.js';
import { WorkGate } from './work-gate.js';

export interface TranscriptServiceOptions {
  /** IANA zone for times when the caller names none. */
  timeZone: string;
  /** Messages read from the store per round trip while rendering. */
  pageSize: number;
  /** Renders at once, and renders allowed to wait for a slot. */
  maxConcurrent: number;
  maxQueued: number;
  /** Largest PDF the hub will attach to a mail. */
  maxMailBytes: number;
}

/** Where a transcript mail may go for `principal`: ?to= for staff, else the customer's address (a trusted one for a customer). */
function recipientFor(principal: Principal, conversation: Conversation, to: string | undefined): string {
  if (to !== undefined) return to;
  const { email } = conversation.customer;
  if (principal.kind !== 'customer') {
    if (email) return email;
    throw new HubError('UNPROCESSABLE', 'no email address is known for this customer; an agent or the system token can name one with ?to=');
  }
  if (conversation.trustedEmail) return conversation.trustedEmail;
  if (!email) throw new HubError('UNPROCESSABLE', 'no email address is known for this customer; an agent or the system token can name one with ?to=');
  throw new HubError(
    'FORBIDDEN',
    'this address was given by the customer, not set by a trusted party (system-token init, contacts.identify); an agent or the system token can mail the transcript',
  );
}

/** Collects a rendered PDF for a mail, refusing to grow past a bound. */
class BoundedSink extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(new HubError('UNPROCESSABLE', `the transcript is larger than ${Math.round(this.maxBytes / 1_048_576)} MB, too large to mail; download it as a PDF instead`));
      return;
    }
    this.chunks.push(chunk);
    callback();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

/**
 * Transcripts of ended conversations (GET /api/customer/transcript/:id/:type): who may have one,
 * what the customer saw (never whispers or messages addressed to others), as a PDF or by mail.
 */
export class TranscriptService {
  private readonly gate: WorkGate;
  /** Finished requests by type and outcome, for metrics. */
  readonly stats = { pdf: { ok: 0, failed: 0 }, email: { ok: 0, failed: 0 } };

  constructor(
    private readonly conversations: ConversationStore,
    private readonly messages: MessageStore,
    private readonly renderer: TranscriptRenderer,
    private readonly mailer: Mailer | undefined,
    private readonly quota: MailQuota,
    private readonly options: TranscriptServiceOptions,
    private readonly log: Logger,
  ) {
    this.gate = new WorkGate(options.maxConcurrent, options.maxQueued, 'transcripts');
  }

  /** The ended conversation `principal` may have the transcript of: FORBIDDEN or NOT_FOUND otherwise. */
  async find(principal: Principal, conversationId: string): Promise<Conversation> {
    if (principal.kind === 'customer' && principal.conversationId !== conversationId) {
      throw new HubError('FORBIDDEN', "a customer token opens only its own conversation's transcript");
    }
    const conversation = await this.conversations.findById(conversationId);
    if (!conversation) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    if (conversation.status !== 'ended') {
      throw new HubError('NOT_FOUND', 'the conversation is still ongoing; its transcript is available once it has ended');
    }
    return conversation;
  }

  /** Streams the PDF to `out` (left open for the caller to end). */
  async writePdf(conversation: Conversation, out: Writable, timeZone?: string): Promise<void> {
    const started = Date.now();
    try {
      await this.gate.run(() => this.renderer.render(this.transcript(conversation, timeZone), out));
    } catch (err) {
      this.stats.pdf.failed += 1;
      throw err;
    }
    this.stats.pdf.ok += 1;
    this.log.info({ conversationId: conversation.id, ms: Date.now() - started }, 'transcript rendered');
  }

  /**
   * Mails the PDF to the customer, or to `to` when an agent or the system asks. A customer token
   * may only have it sent to the address a trusted party set (system init, contacts.identify):
   * otherwise anyone could have the hub mail text of their choosing to any address.
   */
  async email(principal: Principal, conversation: Conversation, to: string | undefined, timeZone?: string): Promise<{ messageId: string }> {
    try {
      const sent = await this.mail(principal, conversation, to, timeZone);
      this.stats.email.ok += 1;
      return sent;
    } catch (err) {
      this.stats.email.failed += 1;
      throw err;
    }
  }

  private async mail(principal: Principal, conversation: Conversation, to: string | undefined, timeZone?: string): Promise<{ messageId: string }> {
    if (to !== undefined && principal.kind === 'customer') {
      throw new HubError('FORBIDDEN', 'only an agent or the system token may send a transcript to another address (?to=)');
    }
    const mailer = this.mailer;
    if (!mailer) throw new HubError('UNAVAILABLE', 'this hub cannot send mail: SMTP_URL is not configured');
    const address = recipientFor(principal, conversation, to);
    await this.quota.take(address);
    const transcript = this.transcript(conversation, timeZone);
    const pdf = await this.gate.run(async () => {
      const sink = new BoundedSink(this.options.maxMailBytes);
      await this.renderer.render(transcript, sink);
      return sink.bytes;
    });
    const mail = composeTranscriptMail({
      conversation,
      to: address,
      toCustomer: to === undefined,
      pdf,
      locale: transcript.locale,
      timeZone: transcript.timeZone,
    });
    const sent = await mailer.send(mail);
    // The address is personal data: the log names its domain only.
    this.log.info({ conversationId: conversation.id, messageId: sent.messageId, recipientDomain: address.split('@').pop(), bytes: pdf.length }, 'transcript mailed');
    return sent;
  }

  get load(): { running: number; waiting: number } {
    return this.gate.load;
  }

  private transcript(conversation: Conversation, timeZone: string | undefined): Transcript {
    return {
      conversation,
      entries: this.entries(conversation),
      locale: transcriptLocale(conversation.customer.language),
      timeZone: timeZone ?? this.options.timeZone,
      generatedAt: new Date(),
    };
  }

  /**
   * What the customer could see, oldest first, read page by page as the renderer pulls; the next
   * page is read while this one is drawn, so the database and the drawing overlap.
   */
  private async *entries(conversation: Conversation): AsyncGenerator<TranscriptEntry> {
    const viewer = conversation.customer.id;
    const { pageSize } = this.options;
    const read = (after: number): Promise<StoredMessage[]> => this.messages.visibleAfter(conversation.id, viewer, false, after, pageSize);
    let next: Promise<StoredMessage[]> | undefined = read(0);
    try {
      while (next) {
        const page: StoredMessage[] = await next;
        const last = page[page.length - 1];
        next = last && page.length === pageSize ? read(last.seq) : undefined;
        for (const message of page) {
          // The store filters already; checked again because a leaked whisper is not recoverable.
          if (!isVisibleTo(message, viewer, false)) continue;
          const entry = toTranscriptEntry(message);
          if (entry) yield entry;
        }
      }
    } finally {
      // The reader stopped early (client gone): the read in flight has nobody to report to.
      next?.catch(() => undefined);
    }
  }
}
