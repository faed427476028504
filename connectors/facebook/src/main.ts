import { ConnectorAuthError, HubConnector, RetryableError } from '@chat-hub/connector-sdk';
import type { Server } from 'node:http';
import { ConfigError, loadConfig, type FbConfig } from './config.js';
import { FbSendError } from './fb-send-error.js';
import { FbSendProvider } from './fb-send.provider.js';
import { createFbApp } from './fb.app.js';
import { hubInbound } from './hub-inbound.js';
import { createFbLogger } from './logger.js';

/** The only place that wires the parts: config, logger, Send API client, hub link, HTTP server, signals. */
async function main(): Promise<void> {
  let config: FbConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createFbLogger(config.logLevel, config.connectorId);

  const provider = new FbSendProvider({
    graphBase: config.graphBase,
    graphVersion: config.graphVersion,
    pageAccessToken: config.pageAccessToken,
    timeoutMs: config.apiTimeoutMs,
    logger: logger.child({ module: 'fb-send' }),
  });

  const hub = new HubConnector({ hubUrl: config.hubUrl, id: config.connectorId, name: config.connectorName, key: config.connectorKey, logger });
  hub.onMessage(async (message) => {
    try {
      return await provider.send(message);
    } catch (err) {
      // The SDK knows only RetryableError vs. any other error; the provider's classification decides.
      if (err instanceof FbSendError && err.retryable) throw new RetryableError(err.message, { cause: err });
      throw err;
    }
  });

  const app = createFbApp({
    appSecret: config.appSecret,
    verifyToken: config.verifyToken,
    deliver: hubInbound(hub),
    logger: logger.child({ module: 'fb-webhook' }),
    isRegistered: () => hub.registered,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  logger.info({ event: 'listening', port: typeof address === 'object' && address ? address.port : config.port }, 'webhook server listening');

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal }, 'shutting down');
    // Stop taking webhooks first (Meta retries them), give the ones in flight a moment to get their
    // hub acks, then close the hub link (which lets running outbound sends finish).
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await hub.close();
    server.closeAllConnections();
    await closed;
    logger.info({ event: 'stopped' }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  try {
    await hub.start();
  } catch (err) {
    if (err instanceof ConnectorAuthError) {
      logger.fatal({ event: 'unauthorized' }, 'the hub refused CONNECTOR_KEY; exiting');
      server.close();
      process.exit(1);
    }
    if (!stopping) throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`facebook connector failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
