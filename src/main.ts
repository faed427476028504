import { loadConfig } from './config.js';
import { startLocalDocstore, type LocalDocstore } from './devstore/local-docstore.js';
import { createHub } from './hub.js';
import { createLogger } from './logger.js';
import { Database } from './storage/database.js';

/** How long a clean shutdown (drain and close) may take before the process exits anyway (docs/operations.md). */
const SHUTDOWN_GRACE_MS = 10_000;

/** The only place that wires concrete parts: config, database, hub, listen, signals. */
async function main(): Promise<void> {
  const { config, devSecretsFile } = loadConfig();
  const log = createLogger(config.logLevel);
  // A stray rejection is a bug to log, not a reason to drop every connected client.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  if (devSecretsFile) {
    log.warn({ file: devSecretsFile }, 'HUB_SECRET/SYSTEM_TOKEN not set: using development secrets kept in this file (set both in production)');
  }

  let docstore: LocalDocstore | undefined;
  let uri = config.mongodbUri;
  if (!uri) {
    docstore = await startLocalDocstore({ dataDir: config.dataDir, progress: (line) => log.info(line) });
    uri = docstore.uri;
    // Never leave the store running behind a hub that died without a clean shutdown.
    const storePid = docstore.pid;
    process.once('exit', () => {
      if (storePid) {
        try {
          process.kill(storePid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    });
    log.info(
      { kind: docstore.kind, uri, dataDir: docstore.dataDir },
      `no MONGODB_URI: started a local document store (${docstore.kind === 'mongod' ? 'mongod' : 'FerretDB on PostgreSQL'}); data lives in ${docstore.dataDir}`,
    );
  }

  const db = new Database(
    { uri, opTimeoutMs: config.dbTimeoutMs, serverSelectionTimeoutMs: config.dbServerSelectionTimeoutMs },
    log.child({ module: 'database' }),
  );
  const connected = db.connect();
  const hub = createHub(config, { db, log });
  await new Promise<void>((resolve) => hub.http.listen(config.port, config.host, resolve));
  const address = hub.http.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info({ port, host: config.host }, `hub listening on http://localhost:${port}`);
  void connected;

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // A database that stopped answering must not keep the process from stopping.
    setTimeout(() => {
      log.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    // Drain first (503 on /ready, no new connections, connector lanes handed back, clients sent
    // elsewhere), then settle what was acked (queued writes, delivery states, webhook events).
    await hub.drain();
    await hub.close();
    await db.close();
    await docstore?.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`chat-hub failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
