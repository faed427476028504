import type { Logger } from 'pino';
import { ackForError, ackForResult, HandlerTimeoutError, type DeliveryResult, type MessageHandler } from './delivery.js';
import type { DeliveryAck, HubMessage } from './protocol.js';

/**
 * Runs the connector's handler for each `messageArrived` and answers the hub exactly once:
 * with the handler's result, its error, or a retryable timeout. Handlers run concurrently;
 * the hub already keeps one message per conversation in flight.
 */
export class OutboundDispatcher {
  private handler: MessageHandler | undefined;
  private stopping = false;
  /** Handler runs by message id: a message the hub re-sends while it is still being delivered joins the running attempt instead of being sent twice. */
  private readonly runs = new Map<string, Promise<DeliveryResult | void>>();
  /** Everything close() waits for: each arrival until its ack is sent, and each handler until it settles. */
  private readonly work = new Set<Promise<unknown>>();

  constructor(
    private readonly log: Logger,
    private readonly handlerTimeoutMs: number,
  ) {}

  setHandler(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** Handlers still running (including those whose ack already went out as a timeout). */
  get running(): number {
    return this.runs.size;
  }

  /** Handles one `messageArrived`; resolves once the ack has been given. */
  handle(message: HubMessage, ack: unknown): Promise<void> {
    const task = this.dispatch(message, typeof ack === 'function' ? (ack as (a: DeliveryAck) => void) : undefined);
    this.track(task);
    return task;
  }

  /** From now on every new message is answered retryable, so the hub hands it to another pool member. */
  stop(): void {
    this.stopping = true;
  }

  /** Waits until running handlers and their acks are done, or `timeoutMs` passes; true when all finished. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.work.size > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)));
      await Promise.race([Promise.allSettled([...this.work]), expired]);
      clearTimeout(timer);
    }
    return true;
  }

  private track(promise: Promise<unknown>): void {
    const entry = promise.then(
      () => undefined,
      () => undefined,
    );
    this.work.add(entry);
    void entry.then(() => this.work.delete(entry));
  }

  private async dispatch(message: HubMessage, ack: ((a: DeliveryAck) => void) | undefined): Promise<void> {
    const messageId = typeof message?.id === 'string' ? message.id : undefined;
    const log = this.log.child({ messageId, conversationId: message?.conversationId });
    let answered = false;
    const answer = (reply: DeliveryAck, durationMs?: number): void => {
      if (answered) return;
      answered = true;
      if (reply.ok) log.info({ event: 'delivery_acked', outcome: reply.state ?? 'DELIVERED', externalId: reply.externalId, durationMs }, 'message delivered');
      else log.warn({ event: 'delivery_acked', outcome: reply.error.retryable ? 'retryable' : 'failed', error: reply.error.message, durationMs }, 'message not delivered');
      if (!ack) {
        log.warn({ event: 'delivery_no_ack' }, 'messageArrived came without an ack callback');
        return;
      }
      try {
        ack(reply);
      } catch (err) {
        log.warn({ event: 'delivery_ack_failed', err: (err as Error).message }, 'could not send the ack');
      }
    };

    if (this.stopping) return answer({ ok: false, error: { message: 'connector shutting down', retryable: true } });
    const handler = this.handler;
    if (!handler) return answer({ ok: false, error: { message: 'connector has no message handler', retryable: true } });
    if (!messageId) return answer({ ok: false, error: { message: 'messageArrived without a message id' } });

    const startedAt = Date.now();
    let run = this.runs.get(messageId);
    if (run) {
      log.info({ event: 'delivery_duplicate' }, 'message re-sent while still being delivered; awaiting the running attempt');
    } else {
      log.debug({ event: 'delivery_started' }, 'delivering message');
      run = Promise.resolve().then(() => handler(message));
      this.runs.set(messageId, run);
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      void settled.then(() => this.runs.delete(messageId));
      this.track(settled);
    }

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HandlerTimeoutError(this.handlerTimeoutMs)), this.handlerTimeoutMs);
    });
    try {
      answer(ackForResult(await Promise.race([run, timeout])), Date.now() - startedAt);
    } catch (err) {
      answer(ackForError(err), Date.now() - startedAt);
      if (err instanceof HandlerTimeoutError) {
        // The handler keeps running; say how it ended so a late delivery is visible in the logs.
        run.then(
          () => log.warn({ event: 'delivery_late', durationMs: Date.now() - startedAt }, 'handler finished after its ack had timed out'),
          (late: unknown) => log.warn({ event: 'delivery_late', error: (late as Error)?.message, durationMs: Date.now() - startedAt }, 'handler failed after its ack had timed out'),
        );
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
