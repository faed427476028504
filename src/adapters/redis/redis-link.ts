import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisLinkOptions {
  url: string;
  /** A command that gets no answer within this long fails (the hub carries on without Redis). */
  commandTimeoutMs: number;
}

export type RedisState = 'connecting' | 'up' | 'down';

/**
 * The hub's connection to Redis (REDIS_URL), shared by the Socket.IO adapter and the rate limits.
 *
 * Redis is never on the path to storing a message: commands fail fast while it is away (no
 * offline queue, a command timeout), so nothing piles up in memory and every caller falls back
 * (local delivery, in-memory rate limits). The clients the adapter duplicates for reading
 * (blocking XREAD, SUBSCRIBE) keep a queue of their one pending command instead, so they wait
 * for Redis rather than spin. ioredis reconnects by itself, with a capped backoff.
 */
export class RedisLink {
  /** For single commands: fails at once while disconnected. */
  readonly client: Redis;
  private current: RedisState = 'connecting';
  private downSince: number | undefined = Date.now();
  private readonly listeners: Array<(state: RedisState) => void> = [];
  private lastErrorLog = 0;
  private closing = false;

  constructor(
    private readonly options: RedisLinkOptions,
    private readonly log: Logger,
  ) {
    this.client = new Redis(options.url, this.clientOptions(false));
    this.client.on('ready', () => this.set('up'));
    this.client.on('end', () => this.set('down'));
    this.client.on('close', () => this.set('down'));
    this.client.on('error', (err: Error) => {
      // ioredis reports every failed reconnect; one line per 10 s is enough.
      if (Date.now() - this.lastErrorLog < 10_000) return;
      this.lastErrorLog = Date.now();
      this.log.warn({ err: err.message }, 'redis unreachable; delivery across processes waits for it, messages are still stored');
    });
  }

  get state(): RedisState {
    return this.current;
  }

  /** Milliseconds since Redis became unreachable (undefined while it is up). */
  get downForMs(): number | undefined {
    return this.downSince === undefined ? undefined : Date.now() - this.downSince;
  }

  onChange(listener: (state: RedisState) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The client to give the Socket.IO adapter: its own commands fail fast (a broadcast waits for
   * its XADD before delivering locally), but the clients it duplicates for reading wait for Redis.
   * Its publishes and session writes never reject unobserved (the adapter does not await them).
   */
  adapterClient(): Redis {
    const readerOptions = this.clientOptions(true);
    const url = this.options.url;
    return new Proxy(this.client, {
      get(target, property, receiver) {
        if (property === 'duplicate') return () => new Redis(url, readerOptions);
        // Pub/sub publishes and session writes (persistSession) are not awaited by the adapter.
        if (property === 'publish' || property === 'spublish' || property === 'set') {
          return (...args: unknown[]) => (target[property] as (...a: unknown[]) => Promise<number>).apply(target, args).catch(() => 0);
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client.disconnect();
  }

  private clientOptions(reader: boolean): RedisOptions {
    return {
      lazyConnect: false,
      enableOfflineQueue: reader,
      commandTimeout: reader ? undefined : this.options.commandTimeoutMs,
      maxRetriesPerRequest: reader ? null : 1,
      retryStrategy: (times) => Math.min(2000, 100 * times),
      connectTimeout: 5000,
      // Never log the URL: it may carry a password.
      connectionName: reader ? 'chat-hub-reader' : 'chat-hub',
    };
  }

  private set(state: RedisState): void {
    if (state === this.current || this.closing) return;
    const wasDownFor = this.downForMs;
    this.current = state;
    if (state === 'up') {
      this.downSince = undefined;
      this.log.info({ downMs: wasDownFor }, 'redis connected');
    } else {
      this.downSince ??= Date.now();
      this.log.warn('redis connection lost; messages are still stored and acked, delivery across processes resumes when it returns');
    }
    for (const listener of this.listeners) listener(state);
  }
}
