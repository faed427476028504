import type { Server } from 'node:http';
import { ConnectorAuthError, createConnectorLogger, HubConnector } from '@chat-hub/connector-sdk';
import { loadConfig, type SmsConfig } from './config.js';
import { createSmsApp } from './sms.app.js';
import { createOutboundHandler } from './sms.connector.js';
import { SmsProvider } from './sms.provider.js';

/** How long a graceful stop may take before the process gives up and exits. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

function readConfig(): SmsConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    // No logger yet: the level itself comes from the configuration.
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: err instanceof Error ? err.message : String(err) })}\n`);
    process.exit(1);
  }
}

const config = readConfig();
const logger = createConnectorLogger({ level: config.logLevel, connector: config.connectorId });

const provider = new SmsProvider({
  apiBase: config.apiBase,
  accountSid: config.accountSid,
  authToken: config.authToken,
  from: config.from,
  messagingServiceSid: config.messagingServiceSid,
  publicUrl: config.publicUrl,
  timeoutMs: config.apiTimeoutMs,
});

const hub = new HubConnector({ hubUrl: config.hubUrl, id: config.connectorId, name: config.connectorName, key: config.connectorKey, logger });
hub.onMessage(createOutboundHandler(provider, logger));

const app = createSmsApp({ authToken: config.authToken, publicUrl: config.publicUrl, hub, logger, registered: () => hub.registered });

const server: Server = await new Promise((resolve, reject) => {
  const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
});
const address = server.address();
logger.info(
  {
    port: typeof address === 'object' && address ? address.port : config.port,
    publicUrl: config.publicUrl,
    statusCallbacks: config.publicUrl !== undefined,
    apiBase: config.apiBase,
  },
  'webhook server listening',
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
  // Stop taking webhooks first, so nothing new arrives while running deliveries finish.
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
  () => logger.info({ event: 'ready', hubUrl: config.hubUrl }, 'connector ready'),
  (err: unknown) => {
    // A signal during start() closes the connector, which ends start() too: shutdown() owns the exit then.
    if (stopping) return;
    if (err instanceof ConnectorAuthError) logger.fatal("the hub refused CONNECTOR_KEY; check the hub's CONNECTOR_KEYS entry for this connector id");
    else logger.fatal({ err }, 'could not start the hub connection');
    server.close();
    process.exit(1);
  },
);
