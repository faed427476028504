import type { Server } from 'node:http';
import { ConnectorAuthError, createConnectorLogger, HubConnector } from '@chat-hub/connector-sdk';
import { loadConfig, type WebConfig } from './config.js';
import { createWebApp } from './web.app.js';
import { deliveryBudgetMs, WebCallbackClient } from './web.callback.js';

/** How long a graceful stop may take before the process gives up and exits. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

function readConfig(): WebConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    // No logger yet: the level itself comes from the configuration.
    process.stderr.write(`${JSON.stringify({ level: 60, service: 'chat-hub-connector', msg: err instanceof Error ? err.message : String(err) })}\n`);
    process.exit(1);
  }
}

const config = readConfig();
const logger = createConnectorLogger({ level: config.logLevel, connector: config.connectorId });

const callbacks = new WebCallbackClient({
  url: config.callbackUrl,
  secret: config.callbackSecret,
  timeoutMs: config.callbackTimeoutMs,
  retries: config.callbackRetries,
  logger,
});

const hub = new HubConnector({
  hubUrl: config.hubUrl,
  id: config.connectorId,
  name: config.connectorName,
  key: config.connectorKey,
  logger,
  // Long enough for every in-handler attempt, so a slow receiver is retried here before the hub retries it.
  handlerTimeoutMs: deliveryBudgetMs({ timeoutMs: config.callbackTimeoutMs, retries: config.callbackRetries }),
});
hub.onMessage((message) => callbacks.deliver(message));

const app = createWebApp({
  inboundToken: config.inboundToken,
  sendInbound: (input) => hub.sendInbound(input),
  registered: () => hub.registered,
  logger,
});

const server: Server = await new Promise((resolve, reject) => {
  const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
});
const address = server.address();
logger.info(
  { port: typeof address === 'object' && address ? address.port : config.port, callbackUrl: new URL(config.callbackUrl).origin },
  'web connector listening',
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const timer = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS);
  timer.unref();
  // Stop taking inbound requests first (running ones finish), then let running deliveries finish.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
  await hub.close();
  logger.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

hub.start().then(
  () => logger.info({ hubUrl: config.hubUrl }, 'registered with the hub'),
  (err: unknown) => {
    // A signal during start() closes the connector, which ends start() too: shutdown() owns the exit then.
    if (stopping) return;
    if (err instanceof ConnectorAuthError) {
      logger.fatal({ event: 'unauthorized' }, `the hub refused CONNECTOR_KEY for connector "${config.connectorId}"; check the hub's CONNECTOR_KEYS entry`);
    } else logger.fatal({ err }, 'could not start the hub connection');
    server.close();
    process.exit(1);
  },
);
// A key revoked while running: nothing can be relayed any more, so exit and let the supervisor report it.
hub.on('authFailed', () => {
  if (stopping) return;
  logger.fatal({ event: 'unauthorized' }, 'the hub no longer accepts CONNECTOR_KEY; exiting');
  process.exit(1);
});
