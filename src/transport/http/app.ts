import type { RateLimits } from '../../adapters/rate-limits/rate-limits.js';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { TokenService } from '../../auth/token.service.js';
import type { ConnectorService } from '../../domain/connector.service.js';
import type { ConversationService } from '../../domain/conversation.service.js';
import type { CredentialService } from '../../domain/credentials.service.js';
import type { DatabaseProbe } from '../../domain/ports.js';
import { agentsRouter } from './agents.router.js';
import { connectorsRouter } from './connectors.router.js';
import { conversationsRouter } from './conversations.router.js';
import { customerRouter } from './customer.router.js';
import { errorHandler, notFound } from './errors.middleware.js';
import { opsRouter, type Readiness } from './ops.router.js';
import { transcriptsRouter } from './transcripts.router.js';
import type { TranscriptService } from '../../domain/transcript.service.js';
import type { RoutingService } from '../../domain/routing.service.js';
import type { OriginPolicy } from '../origin-policy.js';
import type { ChatPluginService } from '../../domain/chat-plugin.service.js';
import type { ContactsService } from '../../domain/contacts.service.js';
import type { DeferredSends } from '../../domain/deferred-sends.js';
import type { MessagesApiService } from '../../domain/messages-api.service.js';
import { chatPluginRouter } from './chatplugin.router.js';
import { contactsRouter } from './contacts.router.js';
import { seedMessagesRouter } from './seed-messages.router.js';
import { webRouter } from './web.router.js';

export interface HttpDeps {
  conversations: ConversationService;
  connectors: ConnectorService;
  transcripts: TranscriptService;
  routing: RoutingService;
  chatPlugin: ChatPluginService;
  messagesApi: MessagesApiService;
  contacts: ContactsService;
  deferredSends: DeferredSends;
  tokens: TokenService;
  /** Every bearer token is resolved here: signature, expiry and revocation. */
  credentials: CredentialService;
  db: DatabaseProbe;
  registry: Registry;
  log: Logger;
  origins: OriginPolicy;
  jsonBodyLimit: string;
  /** Where rate limits count: in memory, or across processes in Redis. */
  limits: RateLimits;
  /** Draining and Redis, for /ready. */
  readiness: Readiness;
  initPerMinutePerIp: number;
  chatPluginAuthPerMinutePerIp: number;
  /** chatplugin.send requests per second and visitor. */
  chatPluginSendsPerSecond: number;
  transcriptsPerMinutePerCaller: number;
  /** Express 'trust proxy' setting: which proxies may set X-Forwarded-For. */
  trustProxy: string;
}

/** Builds the Express app; thin routers that parse, delegate and map errors. */
export function createHttpApp(deps: HttpDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy === 'true' ? true : deps.trustProxy === 'false' ? false : deps.trustProxy);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Path only: query strings and headers may carry credentials.
      deps.log.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http request');
    });
    next();
  });
  app.use((req, res, next) => {
    const origin = req.get('origin');
    // req.protocol and req.host honour X-Forwarded-Proto/Host only through 'trust proxy'.
    const allowed = deps.origins.allows(origin, `${req.protocol}://${req.host}`);
    if (origin && allowed) {
      res.set('Access-Control-Allow-Origin', origin);
      res.set('Vary', 'Origin');
      // Idempotency-Key too: chatplugin.send takes it, and browsers are its callers.
      res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Idempotency-Key');
      res.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    }
    if (req.method === 'OPTIONS') {
      res.status(allowed ? 204 : 403).end();
      return;
    }
    next();
  });
  app.use(express.json({ limit: deps.jsonBodyLimit, strict: true }));
  app.use(opsRouter(deps.db, deps.registry, deps.readiness));
  app.use('/api/customer/transcript', transcriptsRouter(deps.transcripts, deps.credentials, deps.transcriptsPerMinutePerCaller, deps.log, deps.limits));
  app.use('/api/customer', customerRouter(deps.conversations, deps.credentials, deps.initPerMinutePerIp, deps.limits));
  app.use('/api/agents', agentsRouter(deps.tokens, deps.credentials, deps.routing));
  app.use('/api/conversations', conversationsRouter(deps.conversations, deps.credentials));
  app.use(connectorsRouter(deps.connectors, deps.deferredSends, deps.credentials));
  app.use(chatPluginRouter(deps.chatPlugin, deps.credentials, deps.chatPluginAuthPerMinutePerIp, deps.chatPluginSendsPerSecond, deps.limits));
  app.use(seedMessagesRouter(deps.messagesApi, deps.credentials));
  app.use(contactsRouter(deps.contacts, deps.credentials));
  app.use(webRouter());
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
