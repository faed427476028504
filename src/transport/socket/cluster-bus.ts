import type { Logger } from 'pino';
import type { InterServerEvents } from '../../contracts/events.js';
import type { HubServer } from './socket.gateway.js';

type Handler<E extends keyof InterServerEvents> = (...args: Parameters<InterServerEvents[E]>) => void | Promise<void>;

/**
 * Hints between hub processes (Socket.IO's serverSideEmit over the Redis adapter): a
 * conversation changed, an agent was assigned, a connector has mail. They only make things
 * faster: each has a database-backed fallback (cache expiry, the routing sweep, the outbox
 * poll), so a hint lost while Redis is away delays, never loses. Alone, a process sends none.
 */
export class ClusterBus {
  constructor(
    private readonly io: HubServer | undefined,
    private readonly log: Logger,
  ) {}

  publish<E extends keyof InterServerEvents>(event: E, ...args: Parameters<InterServerEvents[E]>): void {
    if (!this.io) return;
    try {
      (this.io.serverSideEmit as (ev: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.log.debug({ event, err: (err as Error).message }, 'cluster hint not sent');
    }
  }

  on<E extends keyof InterServerEvents>(event: E, handler: Handler<E>): void {
    if (!this.io) return;
    (this.io.on as (ev: string, fn: (...a: unknown[]) => void) => void)(event, (...args: unknown[]) => {
      try {
        const done = (handler as (...a: unknown[]) => void | Promise<void>)(...args);
        if (done) done.catch((err: unknown) => this.log.warn({ event, err: (err as Error).message }, 'cluster hint failed'));
      } catch (err) {
        this.log.warn({ event, err: (err as Error).message }, 'cluster hint failed');
      }
    });
  }
}
