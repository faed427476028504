import type { Server } from 'node:http';
import { createConnectorLogger, HubConnector, loadConfigOrExit, runConnector } from '@chat-hub/connector-sdk';
import { loadConfig } from './config.js';
import { createWebApp } from './web.app.js';
import { deliveryBudgetMs, WebCallbackClient } from './web.callback.js';

const config = loadConfigOrExit(() => loadConfig(process.env));
const logger = createConnectorLogger({ level: config.logLevel, connector: config.connectorId });

const hub = HubConnector.fromConfig(config, {
  logger,
  // Long enough for every in-handler attempt, so a slow receiver is retried here before the hub retries it.
  handlerTimeoutMs: deliveryBudgetMs({ timeoutMs: config.callbackTimeoutMs, retries: config.callbackRetries }),
});
const callbacks = new WebCallbackClient({
  url: config.callbackUrl,
  secret: config.callbackSecret,
  timeoutMs: config.callbackTimeoutMs,
  retries: config.callbackRetries,
  logger,
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

// A key revoked while running ends the process: nothing can be relayed any more, and the supervisor reports the exit.
runConnector({ hub, server, logger, exitOnAuthFailed: true });
