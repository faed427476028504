import type { Logger } from 'pino';
import { conversationEndedPayload, messageEventPayload } from './webhook-payloads.js';
import type { Conversation, StoredMessage } from './types.js';
import type { EmitOptions, EventMarkerStore, WebhookEventType } from './webhook.ports.js';

/** The webhook service as this class needs it. */
export interface MarkedEventSink {
  emit(type: WebhookEventType, payload: Record<string, unknown>, options: EmitOptions): void;
  /** Which event ids the outbox or its archive holds. */
  known(ids: string[]): Promise<Set<string>>;
  /** Emitted here, not yet in the outbox. */
  isUnsettled(id: string): boolean;
}

export interface DurableEventsOptions {
  /** Between two sweeps for markers left behind (by a crash, or a process that stopped). */
  sweepMs: number;
  /** Markers younger than this are left to the process writing them (periodic sweeps only). */
  graceMs: number;
}

const SWEEP_BATCH = 200;
/** Until the first sweep succeeds (the database may still be connecting), it is retried this often. */
const FIRST_SWEEP_RETRY_MS = 1000;

type Marked = { kind: 'message'; message: StoredMessage; eventId: string } | { kind: 'conversation'; conversation: Conversation; eventId: string };

/**
 * message.created and conversation.ended as durable as their cause. The event's id is written in
 * the same database write as the message (MessageWriter, `pendingWebhook`) or the end
 * (ConversationStore.end); once the webhook outbox holds the event, the marker is removed. A sweep
 * at start and every `sweepMs` emits the events of markers left behind (a crash between the ack
 * and the outbox insert) under their original id, skipping those the outbox already holds, so a
 * restart delivers them and never under a second id.
 */
export class DurableEvents {
  private readonly lookups = new Set<Promise<void>>();
  private readonly toClear = { message: new Set<string>(), conversation: new Set<string>() };
  private clearing: Promise<void> | undefined;
  private clearScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private swept = false;
  private closed = false;
  /** Events emitted again from markers found by a sweep (for logs and tests). */
  recovered = 0;

  constructor(
    private readonly sink: MarkedEventSink,
    private readonly store: EventMarkerStore,
    private readonly conversationOf: (id: string) => Promise<Conversation | null>,
    private readonly options: DurableEventsOptions,
    private readonly log: Logger,
  ) {}

  /** A message was stored: emits its message.created if it carries a marker. */
  messageStored(message: StoredMessage): void {
    const eventId = message.pendingWebhook;
    if (!eventId || message.type !== 'ChatMessage' || this.closed) return;
    // A lookup that fails (database down, nothing cached) must not lose the event.
    const lookup = this.conversationOf(message.conversationId)
      .then(
        (conversation) => conversation ?? undefined,
        () => undefined,
      )
      .then((conversation) => {
        this.sink.emit('message.created', messageEventPayload(message, conversation), {
          id: eventId,
          createdAt: message.timestamp,
          settled: () => this.clear('message', message.id),
        });
      })
      .catch((err: unknown) => this.log.error({ err, messageId: message.id }, 'could not emit message.created'));
    this.lookups.add(lookup);
    void lookup.then(() => this.lookups.delete(lookup));
  }

  /** A conversation's end was stored: emits its conversation.ended if it carries a marker. */
  conversationEnded(conversation: Conversation): void {
    const marker = conversation.pendingWebhook;
    if (!marker || this.closed) return;
    this.sink.emit('conversation.ended', conversationEndedPayload(conversation, marker.endedBy), {
      id: marker.id,
      createdAt: conversation.endedAt ?? undefined,
      settled: () => this.clear('conversation', conversation.id),
    });
  }

  /** Sweeps now (retrying until the database answers), then every `sweepMs`. */
  start(): void {
    this.schedule(0);
  }

  /** Resolves once every event of a stored message has been handed to the webhook service. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.lookups]);
  }

  /** Stops sweeping and removes the markers of events already in the outbox; call after the webhook service closed. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.sweeping;
    await this.idle();
    await this.flushClears();
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweeping = this.sweep()
        .then(
          (more) => {
            this.swept = true;
            this.schedule(more ? 0 : this.options.sweepMs);
          },
          (err: unknown) => {
            this.log.warn({ err: (err as Error).message }, 'could not look for webhook events left behind; trying again');
            this.schedule(this.swept ? this.options.sweepMs : FIRST_SWEEP_RETRY_MS);
          },
        )
        .finally(() => {
          this.sweeping = undefined;
        });
    }, delayMs);
    this.timer.unref();
  }

  /** One sweep; true when a batch was full and acted on, so more may wait. */
  private async sweep(): Promise<boolean> {
    // The first sweep after a start takes every marker: none can belong to this process yet.
    const before = new Date(Date.now() - (this.swept ? this.options.graceMs : 0));
    const [messages, conversations] = await Promise.all([this.store.markedMessages(before, SWEEP_BATCH), this.store.markedConversations(before, SWEEP_BATCH)]);
    const marked: Marked[] = [
      ...messages.flatMap((message): Marked[] => (message.pendingWebhook ? [{ kind: 'message', message, eventId: message.pendingWebhook }] : [])),
      ...conversations.flatMap((conversation): Marked[] =>
        conversation.pendingWebhook ? [{ kind: 'conversation', conversation, eventId: conversation.pendingWebhook.id }] : [],
      ),
    ].filter((m) => !this.sink.isUnsettled(m.eventId));
    if (marked.length === 0 || this.closed) return false;
    const known = await this.sink.known(marked.map((m) => m.eventId));
    let emitted = 0;
    for (const m of marked) {
      if (known.has(m.eventId)) {
        // In the outbox already (maybe delivered): only the marker was left.
        this.clear(m.kind, m.kind === 'message' ? m.message.id : m.conversation.id);
      } else if (m.kind === 'message') {
        this.messageStored(m.message);
        emitted += 1;
      } else {
        this.conversationEnded(m.conversation);
        emitted += 1;
      }
    }
    this.recovered += emitted;
    if (emitted > 0) this.log.info({ events: emitted }, 'webhook events left behind by an earlier process are sent now');
    return messages.length >= SWEEP_BATCH || conversations.length >= SWEEP_BATCH;
  }

  private clear(kind: 'message' | 'conversation', id: string): void {
    this.toClear[kind].add(id);
    if (this.clearScheduled) return;
    this.clearScheduled = true;
    // One update per tick for all markers settled in it.
    setImmediate(() => {
      this.clearScheduled = false;
      void this.flushClears();
    });
  }

  private async flushClears(): Promise<void> {
    while (this.clearing) await this.clearing;
    const messages = [...this.toClear.message];
    const conversations = [...this.toClear.conversation];
    if (messages.length === 0 && conversations.length === 0) return;
    this.toClear.message.clear();
    this.toClear.conversation.clear();
    this.clearing = Promise.all([this.store.clearMessages(messages), this.store.clearConversations(conversations)])
      .then(() => undefined)
      // A marker left in place only costs the next sweep a lookup: the outbox has the event.
      .catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'could not remove webhook markers; the next sweep will'))
      .finally(() => {
        this.clearing = undefined;
      });
    await this.clearing;
  }
}
