import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { HubError, toHubError } from '../contracts/errors.js';
import type { CampaignSendRequest } from '../contracts/schemas.js';
import type { ConnectorService } from './connector.service.js';
import type { ConversationStore, DeferredSend, DeferredSendStore } from './ports.js';
import type { WireMessage } from './types.js';
import type { WebhookPort } from './webhook.ports.js';

export interface DeferredSendOptions {
  /** How long the hub looks for the conversation before the send fails. */
  graceMs: number;
  pollMs: number;
}

export type SendOutcome = { status: 'sent'; message: WireMessage } | { status: 'deferred'; messageId: string };

/**
 * messages.send's 202 (seed 002): a conversation the hub does not know yet is looked for again
 * until the grace period ends; then the message is sent, or its failure is reported as a
 * `message.updated` webhook. Kept in the database, so a restart loses no accepted send.
 */
export class DeferredSends {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;
  /** Sends answered 202, later sent to their conversation, and given up. */
  readonly stats = { deferred: 0, sent: 0, failed: 0 };

  constructor(
    private readonly store: DeferredSendStore,
    private readonly conversations: ConversationStore,
    private readonly connectors: ConnectorService,
    private readonly webhooks: WebhookPort,
    private readonly options: DeferredSendOptions,
    private readonly log: Logger,
  ) {}

  /** Starts looking at deferred sends every pollMs (also those an earlier run of the hub left). */
  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.options.pollMs);
    this.timer.unref();
  }

  /** Sends to a known conversation, or defers the send when the conversation is not known (yet). */
  async sendOrDefer(conversationId: string, content: CampaignSendRequest['message'], idempotencyKey: string | undefined): Promise<SendOutcome> {
    try {
      const { message } = await this.connectors.sendTo(conversationId, content, idempotencyKey);
      return { status: 'sent', message };
    } catch (err) {
      if (!(err instanceof HubError && err.code === 'NOT_FOUND')) throw err;
    }
    const now = new Date();
    const send: DeferredSend = {
      id: randomUUID(),
      conversationId,
      message: content,
      idempotencyKey: idempotencyKey ?? null,
      createdAt: now,
      giveUpAt: new Date(now.getTime() + this.options.graceMs),
    };
    await this.store.add(send);
    this.stats.deferred += 1;
    this.log.info({ messageId: send.id, conversationId }, 'messages.send deferred: conversation not known yet');
    return { status: 'deferred', messageId: send.id };
  }

  /** One pass over the due sends; overlapping calls share it. */
  sweep(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.sweeping ??= this.sweepOnce()
      .catch((err: unknown) => {
        if (!this.closed) this.log.warn({ err: toHubError(err).message }, 'deferred sends could not be looked at');
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const now = new Date();
    const due = await this.store.claimDue(now, new Date(now.getTime() + this.options.pollMs), 50);
    for (const send of due) {
      if (this.closed) return;
      const conversation = await this.conversations.findById(send.conversationId);
      if (!conversation && now < send.giveUpAt) continue;
      if (conversation) {
        try {
          await this.connectors.sendTo(send.conversationId, send.message, send.idempotencyKey ?? `deferred:${send.id}`, send.id);
          this.stats.sent += 1;
          this.log.info({ messageId: send.id, conversationId: send.conversationId }, 'deferred send delivered to its conversation');
        } catch (err) {
          this.fail(send, toHubError(err).message);
        }
      } else {
        this.fail(send, `conversation ${send.conversationId} not found`);
      }
      await this.store.remove(send.id);
    }
  }

  /** Reports a failed deferred send the way seed 002 describes: a message.updated webhook with the error. */
  private fail(send: DeferredSend, error: string): void {
    this.stats.failed += 1;
    this.log.warn({ messageId: send.id, conversationId: send.conversationId, error }, 'deferred send failed');
    this.webhooks.emit('message.updated', {
      conversation_id: send.conversationId,
      channel_id: null,
      message: {
        id: send.id,
        conversation_id: send.conversationId,
        content: send.message.attachments.length > 0 ? { text: send.message.text, attachments: send.message.attachments } : { text: send.message.text },
        state: 'failed',
        delivery_state: 'failed',
        from_contact: false,
        sent_at: send.createdAt.toISOString(),
        source: null,
        metadata: { ...send.message.metadata, error },
        sender: { id: 'system', name: 'System' },
      },
    });
  }

  /** Stops the sweeps and waits for a running one. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }
}
