import type { Server } from 'node:http';
import { createConnectorLogger, HubConnector, loadConfigOrExit, runConnector } from '@chat-hub/connector-sdk';
import { loadConfig } from './config.js';
import { createSmsApp } from './sms.app.js';
import { createOutboundHandler } from './sms.connector.js';
import { SmsProvider } from './sms.provider.js';

const config = loadConfigOrExit(() => loadConfig(process.env));
const logger = createConnectorLogger({ level: config.logLevel, connector: config.connectorId });
const hub = HubConnector.fromConfig(config, { logger });

const provider = new SmsProvider({
  apiBase: config.apiBase,
  accountSid: config.accountSid,
  authToken: config.authToken,
  from: config.from,
  messagingServiceSid: config.messagingServiceSid,
  publicUrl: config.publicUrl,
  timeoutMs: config.apiTimeoutMs,
});

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

runConnector({ hub, server, logger });
