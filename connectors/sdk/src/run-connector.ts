import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { ConnectorAuthError } from './errors.js';

/** What runConnector() needs of the hub link: a HubConnector. */
export interface RunnableHub {
  readonly id: string;
  readonly hubUrl: string;
  start(): Promise<void>;
  close(): Promise<void>;
  on(event: 'authFailed', listener: (err: ConnectorAuthError) => void): unknown;
}

export interface RunConnectorOptions {
  /** The hub link, not started yet: runConnector() starts it. */
  hub: RunnableHub;
  /** The connector's HTTP server (provider webhooks, /health), already listening. */
  server: Server;
  logger: Logger;
  /** How long a graceful stop may take in all before the process gives up and exits 1 (default 15000). */
  shutdownTimeoutMs?: number;
  /**
   * How long requests still running when the server stops accepting may take before the hub link
   * is closed; those still open then are cut. Unset (the default): wait for all of them.
   */
  drainTimeoutMs?: number;
  /** Exit 1 when the hub stops accepting the key while running (a revoked key); otherwise stay up, unregistered. */
  exitOnAuthFailed?: boolean;
  /** The signals that start a graceful stop (default SIGTERM and SIGINT); a second one is not caught. */
  signals?: readonly NodeJS.Signals[];
  /** Ends the process (default process.exit); tests replace it. */
  exit?: (code: number) => void;
}

/** A running connector, as runConnector() returns it. */
export interface RunningConnector {
  /** Resolves once registered with the hub; rejects when start() failed (the process is exiting then). */
  readonly started: Promise<void>;
  /** What a signal does: the graceful stop, then exit 0 (1 if it took too long). Idempotent. */
  shutdown(reason: string): Promise<void>;
}

/**
 * Owns a connector process's life once its server listens: starts the hub link and logs
 * `{"event":"ready","msg":"connector ready"}` once registered (after the SDK's "registered with the hub");
 * a refused key or any other start failure is logged fatal and exits 1. SIGTERM/SIGINT stop the
 * server taking requests, let running ones finish, close the hub link (which lets running
 * deliveries finish), log "stopped" and exit 0, or exit 1 after `shutdownTimeoutMs`.
 */
export function runConnector(options: RunConnectorOptions): RunningConnector {
  const { hub, server, logger } = options;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 15_000;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const onSignal = new Map<NodeJS.Signals, () => void>(signals.map((signal) => [signal, () => void shutdown(signal)]));
  let stopping: Promise<void> | undefined;

  const exit = (code: number): void => {
    for (const [signal, listener] of onSignal) process.removeListener(signal, listener);
    (options.exit ?? process.exit)(code);
  };

  async function stop(reason: string): Promise<void> {
    logger.info({ event: 'stopping', signal: reason }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ event: 'shutdown_timeout', timeoutMs: shutdownTimeoutMs }, 'shutdown took too long; exiting');
      exit(1);
    }, shutdownTimeoutMs);
    timer.unref();
    // Stop taking requests first, so nothing new arrives while running deliveries finish.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (options.drainTimeoutMs === undefined) await closed;
    else await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, options.drainTimeoutMs).unref())]);
    await hub.close();
    server.closeAllConnections();
    await closed;
    clearTimeout(timer);
    logger.info({ event: 'stopped' }, 'stopped');
    exit(0);
  }

  function shutdown(reason: string): Promise<void> {
    stopping ??= stop(reason);
    return stopping;
  }

  for (const [signal, listener] of onSignal) process.once(signal, listener);

  const started = hub.start();
  started.then(
    () => logger.info({ event: 'ready', hubUrl: hub.hubUrl }, 'connector ready'),
    (err: unknown) => {
      // A signal during start() closes the hub link, which ends start() too: shutdown() owns the exit then.
      if (stopping) return;
      if (err instanceof ConnectorAuthError) {
        logger.fatal({ event: 'unauthorized' }, `the hub refused CONNECTOR_KEY for connector "${hub.id}"; check the hub's CONNECTOR_KEYS entry`);
      } else logger.fatal({ err }, 'could not start the hub connection');
      server.close();
      exit(1);
    },
  );
  if (options.exitOnAuthFailed) {
    // A key revoked while running: nothing can be relayed any more, so exit and let the supervisor report it.
    hub.on('authFailed', () => {
      if (stopping) return;
      logger.fatal({ event: 'unauthorized' }, 'the hub no longer accepts CONNECTOR_KEY; exiting');
      exit(1);
    });
  }
  return { started, shutdown };
}
