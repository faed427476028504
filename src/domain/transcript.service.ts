import type { Logger } from 'pino';
import type { Principal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { ConversationStore, Mailer, MailQuota, MessageStore, TranscriptData, TranscriptEntry, TranscriptRenderer } from './ports.js';
import { budgetMessage, TranscriptBudgetError, type RenderBudget } from './transcript-budget.js';
import { ByteLru } from './byte-lru.js';
import { shownUrl, toTranscriptEntry, transcriptLocale } from './transcript-entries.js';
import { composeTranscriptMail } from './transcript-mail.js';
import { isVisibleTo, type Conversation, type StoredMessage } from './types.js';
import { WorkGate } from './work-gate.js';

export interface TranscriptServiceOptions {
  /** IANA zone for times when the caller names none. */
  timeZone: string;
  /** Messages read from the store per round trip while collecting a transcript. */
  pageSize: number;
  /** Renders at once, and renders allowed to wait for a slot. */
  maxConcurrent: number;
  maxQueued: number;
  /** Largest PDF the hub will attach to a mail. */
  maxMailBytes: number;
  /** Text (message texts, names, attachment labels) a transcript may hold, in characters. */
  maxInputChars: number;
  maxPages: number;
  /** Largest PDF the hub renders for download. */
  maxPdfBytes: number;
  /** Time a render may take in its worker before it is stopped. */
  renderTimeoutMs: number;
  /** A whole request, from arrival (queue, render, delivery) to its last byte, before it is cut off. */
  responseDeadlineMs: number;
  /** Bytes of rendered PDFs kept for repeated requests, and for how long; 0 keeps none. */
  cacheMaxBytes?: number | undefined;
  cacheTtlMs?: number | undefined;
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

/** Hands a rendered PDF to its reader; resolves once the last byte is out, rejects (and gives up) when `signal` aborts. */
export type PdfDelivery = (pdf: Buffer, signal: AbortSignal) => Promise<void>;

/**
 * Transcripts of ended conversations (GET /api/customer/transcript/:id/:type): who may have one,
 * what the customer saw (never whispers or messages addressed to others), as a PDF or by mail.
 */
export class TranscriptService {
  private readonly gate: WorkGate;
  /** Rendered PDFs by conversation and zone (an ended conversation's transcript does not change). */
  private readonly rendered: ByteLru<{ pdf: Buffer; at: number }>;
  /** Renders in progress by key, with how many requests wait for each. */
  private readonly rendering = new Map<string, { promise: Promise<Buffer>; waiters: number; stop: AbortController }>();
  /** Finished requests by type and outcome, for metrics. */
  readonly stats = { pdf: { ok: 0, failed: 0 }, email: { ok: 0, failed: 0 }, renders: 0, cacheHits: 0 };

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
    const maxBytes = options.cacheMaxBytes ?? 0;
    // One PDF may take at most half of the cache, so a large one cannot push out all others.
    this.rendered = new ByteLru({ maxBytes, maxEntryBytes: Math.floor(maxBytes / 2) });
  }

  /** Bytes of rendered PDFs kept, for the metrics. */
  get cachedBytes(): number {
    return this.rendered.bytes;
  }

  /** A PDF rendered for the same conversation and zone within the cache's time, if kept. */
  private cachedPdf(key: string): Buffer | undefined {
    const entry = this.rendered.touch(key);
    if (!entry) return undefined;
    if (Date.now() - entry.at <= (this.options.cacheTtlMs ?? 0)) {
      this.stats.cacheHits += 1;
      return entry.pdf;
    }
    this.rendered.delete(key);
    return undefined;
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

  /**
   * Renders the PDF and hands it to `deliver` within one response deadline: a reader that never
   * reads is cut off at the deadline. `cancelled` aborts when the caller went away. Over a budget:
   * 422 UNPROCESSABLE. With the PDF cache on, concurrent requests of one transcript share one render
   * (stopped when all of them went away) and a kept PDF is sent outside the render slots; a PDF the
   * cache cannot keep, and every PDF with the cache off, is sent within a slot, so such buffers stay
   * as few as the slots.
   */
  async writePdf(conversation: Conversation, timeZone: string | undefined, deliver: PdfDelivery, cancelled?: AbortSignal): Promise<void> {
    const started = Date.now();
    const { signal, dispose } = this.deadline(conversation.id, cancelled);
    const key = `${conversation.id}\u0000${timeZone ?? ''}`;
    let bytes = 0;
    try {
      const kept = this.cachedPdf(key);
      if (kept) {
        bytes = kept.length;
        await deliver(kept, signal);
      } else if (this.rendered.capacity === 0) {
        await this.gate.run(async () => {
          const pdf = await this.render(conversation, timeZone, this.options.maxPdfBytes, signal, false);
          bytes = pdf.length;
          await deliver(pdf, signal);
        }, signal);
      } else {
        const pdf = await this.sharedRender(key, conversation, timeZone, signal);
        bytes = pdf.length;
        if (this.rendered.get(key)?.pdf === pdf) await deliver(pdf, signal);
        else await this.gate.run(() => deliver(pdf, signal), signal);
      }
    } catch (err) {
      this.stats.pdf.failed += 1;
      throw err;
    } finally {
      dispose();
    }
    this.stats.pdf.ok += 1;
    this.log.info({ conversationId: conversation.id, ms: Date.now() - started, bytes }, 'transcript rendered');
  }

  /**
   * The PDF of `key`, drawn once for every request that asks while it is drawn (twenty requests of
   * one transcript cost one render slot and one read of the conversation). `signal` ends this
   * caller's wait; the render itself stops at its own deadline or when no caller waits any more.
   */
  private async sharedRender(key: string, conversation: Conversation, timeZone: string | undefined, signal: AbortSignal): Promise<Buffer> {
    let render = this.rendering.get(key);
    if (!render) {
      const stop = new AbortController();
      const deadline = this.deadline(conversation.id, stop.signal);
      const started: { promise: Promise<Buffer>; waiters: number; stop: AbortController } = { promise: Promise.resolve(Buffer.alloc(0)), waiters: 0, stop };
      started.promise = this.gate
        .run(() => this.render(conversation, timeZone, this.options.maxPdfBytes, deadline.signal, false), deadline.signal)
        .then((pdf) => {
          this.rendered.set(key, { pdf, at: Date.now() }, pdf.length);
          return pdf;
        })
        .finally(() => {
          deadline.dispose();
          if (this.rendering.get(key) === started) this.rendering.delete(key);
        });
      // Callers that gave up no longer listen: the outcome must not become an unhandled rejection.
      started.promise.catch(() => undefined);
      this.rendering.set(key, started);
      render = started;
    }
    const shared = render;
    shared.waiters += 1;
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        shared.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    } finally {
      shared.waiters -= 1;
      if (shared.waiters === 0) {
        // Nobody waits: a request from now on starts afresh rather than joining a render being stopped.
        if (this.rendering.get(key) === shared) this.rendering.delete(key);
        shared.stop.abort(new HubError('UNAVAILABLE', 'every request of this transcript went away'));
      }
    }
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
    // The deadline bounds the wait for a slot and the render; the SMTP exchange has its own bounds.
    const { signal, dispose } = this.deadline(conversation.id, undefined);
    let pdf: Buffer;
    try {
      pdf = await this.gate.run(() => this.render(conversation, timeZone, this.options.maxMailBytes, signal, true), signal);
    } finally {
      dispose();
    }
    const locale = transcriptLocale(conversation.customer.language);
    const mail = composeTranscriptMail({
      conversation,
      to: address,
      toCustomer: to === undefined,
      pdf,
      locale,
      timeZone: timeZone ?? this.options.timeZone,
    });
    const sent = await mailer.send(mail);
    // The address is personal data: the log names its domain only.
    this.log.info({ conversationId: conversation.id, messageId: sent.messageId, recipientDomain: address.split('@').pop(), bytes: pdf.length }, 'transcript mailed');
    return sent;
  }

  /** Stops every render in progress and frees the render threads. */
  async close(): Promise<void> {
    await this.renderer.close();
  }

  get load(): { running: number; waiting: number } {
    return this.gate.load;
  }

  /** Collects the transcript within its character budget and has it drawn within the others. */
  private async render(conversation: Conversation, timeZone: string | undefined, maxBytes: number, signal: AbortSignal, forMail: boolean): Promise<Buffer> {
    this.stats.renders += 1;
    try {
      const transcript = await this.collect(conversation, timeZone, signal);
      const budget: RenderBudget = { timeoutMs: this.options.renderTimeoutMs, maxPages: this.options.maxPages, maxBytes };
      return await this.renderer.render(transcript, budget, signal);
    } catch (err) {
      if (!(err instanceof TranscriptBudgetError)) throw err;
      this.log.warn({ conversationId: conversation.id, budget: err.budget, limit: err.limit }, 'transcript refused: over its budget');
      throw new HubError('UNPROCESSABLE', budgetMessage(err, forMail));
    }
  }

  /**
   * A signal that aborts at the response deadline (reason: 503 UNAVAILABLE) or when `cancelled`
   * does. A timer holds it, not AbortSignal.timeout(): joined with AbortSignal.any() such a signal
   * is held only weakly and can be collected before it fires, leaving a request without deadline.
   */
  private deadline(conversationId: string, cancelled: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
    const controller = new AbortController();
    const ms = this.options.responseDeadlineMs;
    const timer = setTimeout(() => {
      this.log.warn({ conversationId, deadlineMs: ms }, 'transcript request cut off at its response deadline');
      controller.abort(new HubError('UNAVAILABLE', `the transcript could not be delivered within ${ms} ms; try again later`));
    }, ms);
    timer.unref();
    const onCancel = (): void => controller.abort(cancelled?.reason);
    if (cancelled?.aborted) onCancel();
    else cancelled?.addEventListener('abort', onCancel, { once: true });
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        cancelled?.removeEventListener('abort', onCancel);
      },
    };
  }

  /**
   * What the customer saw, as plain data for a render thread: read page by page, the next page
   * while this one is converted, refused (TranscriptBudgetError) as soon as it holds more than
   * `maxInputChars` characters, so an oversized conversation is never read to its end.
   */
  private async collect(conversation: Conversation, timeZone: string | undefined, signal: AbortSignal): Promise<TranscriptData> {
    const { maxInputChars } = this.options;
    const entries: TranscriptEntry[] = [];
    let chars = 0;
    for await (const entry of this.entries(conversation)) {
      signal.throwIfAborted();
      if (entry.kind === 'message') {
        entry.attachments = entry.attachments.map((a) => ({ name: a.name, url: shownUrl(a.url) }));
        chars += entry.sender.length + entry.text.length + entry.attachments.reduce((n, a) => n + a.name.length + a.url.length, 0);
      } else {
        chars += entry.text.length;
      }
      if (chars > maxInputChars) throw new TranscriptBudgetError('characters', maxInputChars);
      entries.push(entry);
    }
    const c = conversation;
    return {
      // Only what the header shows: customer metadata and routing state stay on this thread.
      conversation: {
        id: c.id,
        channel: c.channel,
        subject: c.subject,
        participants: c.participants.map((p) => ({ id: p.id, name: p.name, role: p.role })),
        createdAt: c.createdAt,
        endedAt: c.endedAt,
        customer: { firstName: c.customer.firstName, lastName: c.customer.lastName, email: c.customer.email, phone: c.customer.phone, refId: c.customer.refId },
      },
      entries,
      locale: transcriptLocale(c.customer.language),
      timeZone: timeZone ?? this.options.timeZone,
      generatedAt: new Date(),
    };
  }

  /**
   * What the customer could see, oldest first, read page by page as the collector pulls; the next
   * page is read while this one is converted.
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
      // The collector stopped early (over budget, caller gone): the read in flight has nobody to report to.
      next?.catch(() => undefined);
    }
  }
}
