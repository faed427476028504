import { ConnectorConfigError, HubConnector, RetryableError, runConnector } from '@chat-hub/connector-sdk';
import type { Server } from 'node:http';
import { loadConfig, type FbConfig } from './config.js';
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
    if (err instanceof ConnectorConfigError) {
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

  const hub = HubConnector.fromConfig(config, { logger });
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

  // On a signal, webhooks in flight get 5 s to collect their hub acks (Meta redelivers the rest); the
  // hub link then waits up to its handler timeout (20 s) for running sends, so the stop may take 30 s.
  runConnector({ hub, server, logger, drainTimeoutMs: 5_000, shutdownTimeoutMs: 30_000 });
}

main().catch((err: unknown) => {
  process.stderr.write(`facebook connector failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
