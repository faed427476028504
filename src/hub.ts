import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Server } from 'socket.io';
import { TokenService } from './auth/token.service.js';
import type { Config } from './config.js';
import { ConnectorConversations } from './domain/connector-conversations.js';
import { ConnectorService } from './domain/connector.service.js';
import { ConversationCache } from './domain/conversation-cache.js';
import { DeliveryStateWriter } from './domain/delivery-state.writer.js';
import { OutboxService } from './domain/outbox.service.js';
import { HistoryCache } from './domain/history-cache.js';
import { ConversationService } from './domain/conversation.service.js';
import { MessageService } from './domain/message.service.js';
import { MessageWriter } from './domain/message-writer.js';
import { createMetrics } from './metrics.js';
import { MongoChannelStore } from './storage/channel.store.js';
import { MongoConversationStore } from './storage/conversation.store.js';
import type { Database } from './storage/database.js';
import { MongoMessageStore } from './storage/message.store.js';
import { createHttpApp } from './transport/http/app.js';
import { OriginPolicy, requestOrigin } from './transport/origin-policy.js';
import { attachGateway, type HubServer } from './transport/socket/socket.gateway.js';
import { SocketRealtime } from './transport/socket/realtime.adapter.js';
import { toWireMessage } from './domain/types.js';
import { TranscriptService } from './domain/transcript.service.js';
import { WorkerTranscriptRenderer } from './adapters/pdf/render-pool.js';
import { RateLimitedMailQuota } from './adapters/mail/mail-quota.js';
import { RedisLink } from './adapters/redis/redis-link.js';
import { RateLimits } from './adapters/rate-limits/rate-limits.js';
import { MongoLeaseStore } from './storage/lease.store.js';
import { ClusterBus } from './transport/socket/cluster-bus.js';
import { recoverableSessions } from './transport/socket/session-recovery.js';
import { SmtpMailer } from './adapters/mail/smtp.mailer.js';
import { RoutingService } from './domain/routing.service.js';
import { AgentActions } from './domain/agent-actions.js';
import { MongoAgentStore } from './storage/agent.store.js';
import { ClusteredAgentSessions, SocketAgentSessions } from './transport/socket/agent-sessions.js';
import { ChatPluginService } from './domain/chat-plugin.service.js';
import { ContactsService } from './domain/contacts.service.js';
import { DeferredSends } from './domain/deferred-sends.js';
import { MessagesApiService } from './domain/messages-api.service.js';
import { VisitorConversations } from './domain/visitor-conversations.js';
import { MongoContactStore } from './storage/contact.store.js';
import { MongoDeferredSendStore } from './storage/deferred-send.store.js';
import { attachChatPlugin } from './transport/socket/chatplugin.namespace.js';
import { clientAddress, type TrustProxy } from './transport/client-address.js';
import { ConnectionCaps } from './transport/socket/connection-caps.js';
import type { SocketAdmission } from './transport/socket/socket-admission.js';
import { BacklogGuard } from './transport/socket/write-backlog.js';
import { NO_WEBHOOKS, type WebhookPort } from './domain/webhook.ports.js';
import { WebhookService } from './domain/webhook.service.js';
import { MessageEvents } from './domain/webhook-payloads.js';
import { DurableEvents } from './domain/durable-events.js';
import { MongoEventMarkerStore } from './storage/event-marker.store.js';
import { MongoWebhookStore } from './storage/webhook.store.js';
import { HttpWebhookSender } from './adapters/webhooks/http.sender.js';
import { CredentialService } from './domain/credentials.service.js';
import { MongoAgentCredentialStore } from './storage/agent-credential.store.js';
import { SocketCredentialSessions } from './transport/socket/credential-sessions.js';

/**
 * Broadcasts kept in the Redis stream (approximately): what recovery can replay. A restore reads
 * from the client's offset to the end, so this also bounds what one restore holds in memory.
 */
const STREAM_MAX_LEN = 10_000;

/** With REDIS_URL, how long after a disconnection a client's session (rooms, missed broadcasts) can be recovered. */
const RECOVERY_WINDOW_MS = 2 * 60_000;

/** A connection that opens no namespace within this long is closed (Socket.IO's default is 45 s). */
const SOCKET_CONNECT_TIMEOUT_MS = 10_000;

export interface HubDeps {
  db: Database;
  log: Logger;
}

export interface Hub {
  http: HttpServer;
  io: HubServer;
  tokens: TokenService;
  /** Where services announce webhook events (a no-op when WEBHOOK_URL is unset). */
  webhooks: WebhookPort;
  /**
   * The first half of a graceful stop (SIGTERM): /ready answers 503, new connections are refused,
   * the connector lanes are handed back (in-flight hand-overs answered, their states stored, the
   * leases released), and every client is told to reconnect (its transport closes, so Socket.IO
   * reconnects it, through the load balancer to another process). close() does the rest.
   */
  drain(): Promise<void>;
  /** Stops accepting, lets queued writes finish, and closes sockets. Leaves the database to its owner. */
  close(): Promise<void>;
}

/**
 * While `refusing()`, a new Socket.IO session (a polling handshake or a WebSocket without `sid`)
 * is answered 503 before Socket.IO sees it: a balancer counts that as this process failing and
 * tries the next one (engine.io's own refusals are 400/403, which nginx does not retry).
 * Requests of sessions already open go on. Must be called after Socket.IO has attached.
 */
function refuseNewSessionsWhile(http: HttpServer, refusing: () => boolean): void {
  const isNewSession = (req: IncomingMessage): boolean => {
    const url = req.url ?? '';
    return url.startsWith('/socket.io/') && !/[?&]sid=/.test(url);
  };
  const body = JSON.stringify({ error: 'this hub process is stopping; connect again', code: 'UNAVAILABLE' });
  const requests = http.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  http.removeAllListeners('request');
  http.on('request', (req, res) => {
    if (refusing() && isNewSession(req)) {
      res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1', Connection: 'close' }).end(body);
      return;
    }
    for (const listener of requests) listener.call(http, req, res);
  });
  const upgrades = http.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>;
  http.removeAllListeners('upgrade');
  http.on('upgrade', (req, socket, head) => {
    if (refusing() && isNewSession(req)) {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    for (const listener of upgrades) listener.call(http, req, socket, head);
  });
}

/** Builds the hub from its parts; never listens by itself. */
export function createHub(config: Config, deps: HubDeps): Hub {
  const { db, log } = deps;
  let draining = false;
  /** Set while clients are sent to reconnect after a Redis outage: their sessions are not kept (the stream lacks the outage). */
  let resyncing = false;
  // With REDIS_URL, processes share Socket.IO rooms (the Redis streams adapter), rate limits and hints.
  const redis = config.redisUrl ? new RedisLink({ url: config.redisUrl, commandTimeoutMs: 1000 }, log.child({ module: 'redis' })) : undefined;
  const limits = new RateLimits(redis?.client);
  const origins = new OriginPolicy(config.allowedOrigins);
  const tokens = new TokenService({
    secret: config.hubSecret,
    systemToken: config.systemToken,
    customerTokenTtlSeconds: config.customerTokenTtlSeconds,
    agentTokenTtlSeconds: config.agentTokenTtlSeconds,
    chatPluginTokenTtlSeconds: config.chatPlugin.tokenTtlSeconds,
    resumeTokenTtlSeconds: config.chatPlugin.resumeTokenTtlSeconds,
    defaultMaxChats: config.defaultMaxChats,
  });

  // Webhooks (§7) go through an outbox in the database; without WEBHOOK_URL nothing is stored.
  const webhookService =
    config.webhookUrl && config.webhookSecret
      ? new WebhookService(
          new MongoWebhookStore(db, config.dbTimeoutMs),
          new HttpWebhookSender({ url: config.webhookUrl, secret: config.webhookSecret, timeoutMs: config.webhooks.timeoutMs }),
          config.webhooks,
          log.child({ module: 'webhooks' }),
        )
      : undefined;
  const webhooks: WebhookPort = webhookService ?? NO_WEBHOOKS;

  const conversationStore = new MongoConversationStore(db, config.dbTimeoutMs);
  const messageStore = new MongoMessageStore(db, config.dbTimeoutMs);
  // A deadline well inside the 5 s clients may wait for an ack, leaving room for the insert itself.
  const writer = new MessageWriter(messageStore, log.child({ module: 'writer' }), {
    maxWaitMs: Math.min(2000, config.dbTimeoutMs),
    // With webhooks on, a chat message's message.created event is written in its own insert.
    webhookEventFor: webhookService ? (message) => message.type === 'ChatMessage' : undefined,
  });
  const { caches } = config;
  const cache = new ConversationCache(conversationStore, config.redisUrl ? 2000 : Number.POSITIVE_INFINITY, {
    maxBytes: caches.conversationMaxBytes,
    maxEntryBytes: caches.maxEntryBytes,
  });
  // Several processes (REDIS_URL) write to the same conversations, so a per-process history is not whole.
  // One more than a join shows, so a join knows whether older messages exist.
  const history = new HistoryCache(config.historyLimit + 1, config.redisUrl ? 0 : config.historyCacheMessages, {
    maxBytes: caches.historyMaxBytes,
    maxMessageBytes: caches.maxEntryBytes,
  });
  writer.observe((stored) => history.append(stored));

  // Socket.IO wraps the server's existing request listener and keeps /socket.io for itself,
  // so the listener must exist before Socket.IO attaches; the Express app is built later.
  let app: ReturnType<typeof createHttpApp> | undefined;
  const http = createServer((req, res) => {
    if (app) app(req, res);
    else res.writeHead(503).end();
  });
  const caps = new ConnectionCaps({ maxPerPrincipal: config.sockets.maxPerPrincipal, maxPerAddress: config.sockets.maxPerAddress });
  const trustProxy = (): TrustProxy => (app ? (app.get('trust proxy fn') as TrustProxy) : () => false);
  /** The client's address of a connection's request, with the trust-proxy setting (known once the app exists). */
  const transportAddress = (req: IncomingMessage): string => clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustProxy());
  const io: HubServer = new Server(http, {
    path: '/socket.io',
    // The transport's hard cap; events above socketMaxPayloadBytes but under this get a
    // PAYLOAD_TOO_LARGE ack instead of a silent disconnect.
    maxHttpBufferSize: Math.max(4 * config.socketMaxPayloadBytes, 1_048_576),
    // A transport is opened only from an allowed origin, and within the per-address cap, which also
    // counts connections that never open a namespace (Socket.IO drops those after connectTimeout).
    allowRequest: (req, callback) => {
      if (!origins.allows(req.headers.origin, requestOrigin(req, trustProxy()))) return callback(null, false);
      if (!caps.transportAllowed(transportAddress(req))) return callback('too many connections from this address', false);
      callback(null, true);
    },
    connectTimeout: SOCKET_CONNECT_TIMEOUT_MS,
    // A delegate, so a page the hub serves itself (same origin, e.g. /desk) is allowed too.
    cors: (req, cb) => {
      const origin = req.headers.origin;
      // engine.io hands the cors package the Node request itself.
      cb(null, { origin: origins.allows(origin, requestOrigin(req as unknown as IncomingMessage, trustProxy())) ? (origin ?? false) : false, credentials: false });
    },
    serveClient: false,
    ...(redis
      ? {
          adapter: recoverableSessions(createAdapter(redis.adapterClient(), { maxLen: STREAM_MAX_LEN, readCount: 500 }) as never, () => resyncing, log.child({ module: 'socket' })) as never,
          // A client that reconnects within this window (to any process) gets its rooms and the
          // broadcasts it missed; its joins are checked again (socket.gateway.ts). After longer, afterSeq.
          connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS, skipMiddlewares: false },
        }
      : {}),
  });
  refuseNewSessionsWhile(http, () => draining);
  const bus = new ClusterBus(redis ? io : undefined, log.child({ module: 'cluster' }));
  // Another process's change to a conversation reaches this cache as a hint (and its TTL bounds a lost one).
  cache.onChange((id) => bus.publish('conversationChanged', id));
  bus.on('conversationChanged', (id) => cache.forget(id));
  io.engine.on('connection', (transport: { request: IncomingMessage; once(event: 'close', listener: () => void): void }) => {
    transport.once('close', caps.countTransport(transportAddress(transport.request)));
  });
  const realtime = new SocketRealtime(io);
  const backlog = new BacklogGuard(
    io.engine,
    { maxBytes: config.sockets.maxBufferedBytes, checkMs: config.sockets.backlogCheckMs },
    log.child({ module: 'socket' }),
  );

  // The sessions read history through the conversation service, built just below (it needs the routing).
  const localSessions = new SocketAgentSessions(io, (membership) => conversations.joinHistory(membership), backlog);
  const sessions = redis ? new ClusteredAgentSessions(localSessions, bus, (id) => cache.get(id)) : localSessions;
  const agentStore = new MongoAgentStore(db, config.dbTimeoutMs);
  const routing = new RoutingService(conversationStore, agentStore, cache, writer, realtime, sessions, config.routing, log.child({ module: 'routing' }));
  // Every token is checked for revocation here: conversations' resume epochs (through the cache) and agents' token epochs.
  const credentials = new CredentialService(
    tokens,
    cache,
    new MongoAgentCredentialStore(db, config.dbTimeoutMs),
    { cacheMs: config.revocationCacheMs },
    log.child({ module: 'credentials' }),
  );
  const credentialSessions = new SocketCredentialSessions(io, log.child({ module: 'socket' }));
  credentials.onAgentRevoked((agentId) => credentialSessions.agentRevoked(agentId));
  credentials.onAgentRevoked((agentId) => routing.agentRevoked(agentId));
  const actions = new AgentActions(conversationStore, agentStore, cache, sessions, routing, log.child({ module: 'routing' }));
  const conversations: ConversationService = new ConversationService(
    conversationStore,
    messageStore,
    cache,
    history,
    writer,
    realtime,
    tokens,
    routing,
    {
      greeting: config.greeting,
      historyLimit: config.historyLimit,
      requestIdReplayWindowMs: config.requestIdReplayWindowMs,
      joinHistoryMaxBytes: config.sockets.joinHistoryMaxBytes,
      webhookEvents: webhookService !== undefined,
    },
    log.child({ module: 'conversations' }),
  );
  // The outbox lives on the messages collection: the message store serves both ports.
  const states = new DeliveryStateWriter(messageStore, log.child({ module: 'delivery-states' }), config.connectors.stateBatch);
  const outbox = new OutboxService(
    messageStore,
    states,
    { ...config.connectors, loadBatch: 500 },
    log.child({ module: 'outbox' }),
    // Several processes: the one holding a connector's lease delivers its messages, wherever they were stored.
    redis
      ? {
          leases: new MongoLeaseStore(db, config.dbTimeoutMs),
          owner: routing.processId,
          leaseMs: config.connectors.leaseMs,
          pollMs: config.connectors.pollMs,
          wake: (connector) => bus.publish('outboxWake', connector),
          released: (connector) => bus.publish('outboxReleased', connector),
        }
      : undefined,
  );
  bus.on('outboxWake', (connector) => outbox.wakeFromPeer(connector));
  bus.on('outboxReleased', (connector) => outbox.releasedByPeer(connector));
  outbox.observe((message) => {
    history.update(message);
    realtime.updated(toWireMessage(message));
  });
  const messageEvents = new MessageEvents(webhooks, (id) => cache.get(id));
  // message.created and conversation.ended are written with their cause and swept up after a crash.
  const durableEvents = webhookService
    ? new DurableEvents(
        webhookService,
        new MongoEventMarkerStore(db, config.dbTimeoutMs),
        (id) => cache.get(id),
        { sweepMs: config.webhooks.sweepMs, graceMs: Math.min(10_000, config.webhooks.sweepMs) },
        log.child({ module: 'webhooks' }),
      )
    : undefined;
  if (webhookService && durableEvents) {
    writer.observe((stored) => durableEvents.messageStored(stored));
    outbox.observe((message) => messageEvents.emit('message.updated', message));
    conversations.onEnded((conversation) => durableEvents.conversationEnded(conversation));
    webhookService.start();
    durableEvents.start();
  }
  const messages = new MessageService(cache, writer, realtime, outbox, { maxBytes: caches.recentSendsMaxBytes, maxEntryBytes: caches.maxEntryBytes });
  const connectors = new ConnectorService(
    config.connectorKeys,
    config.channels,
    conversations,
    new ConnectorConversations(conversationStore, cache, history, log.child({ module: 'conversations' })),
    messages,
    outbox,
    messageStore,
    new MongoChannelStore(db, config.dbTimeoutMs),
    routing,
    log.child({ module: 'connectors' }),
  );
  const mailer = config.smtpUrl
    ? new SmtpMailer({ url: config.smtpUrl, from: config.mailFrom, timeoutMs: config.mail.timeoutMs }, log.child({ module: 'mail' }))
    : undefined;
  const transcripts = new TranscriptService(
    conversationStore,
    messageStore,
    new WorkerTranscriptRenderer(
      { size: config.transcripts.maxConcurrent, heapMb: config.transcripts.workerHeapMb, idleMs: config.transcripts.workerIdleMs },
      log.child({ module: 'transcripts' }),
    ),
    mailer,
    new RateLimitedMailQuota(config.mail, limits),
    config.transcripts,
    log.child({ module: 'transcripts' }),
  );
  const visitors = new VisitorConversations(conversationStore, cache, history, log.child({ module: 'chatplugin' }));
  // The plugin's sockets are attached below; revocations reach them through this late-bound port.
  let pluginSessions: ReturnType<typeof attachChatPlugin> | undefined;
  const chatPlugin = new ChatPluginService(
    connectors,
    visitors,
    conversationStore,
    cache,
    messageStore,
    messages,
    routing,
    tokens,
    {
      revoked: (conversationId) => {
        pluginSessions?.revoked(conversationId);
        credentialSessions.conversationRevoked(conversationId);
      },
    },
    config.historyLimit,
    log.child({ module: 'chatplugin' }),
    config.sockets.joinHistoryMaxBytes,
  );
  const messagesApi = new MessagesApiService(cache, messageStore, messageStore, chatPlugin, history, realtime, webhooks);
  const contacts = new ContactsService(
    new MongoContactStore(db, config.dbTimeoutMs),
    connectors,
    visitors,
    conversationStore,
    messageStore,
    chatPlugin,
    log.child({ module: 'contacts' }),
  );
  const deferredSends = new DeferredSends(
    new MongoDeferredSendStore(db, config.dbTimeoutMs),
    conversationStore,
    connectors,
    webhooks,
    { graceMs: config.messagesApi.deferredSendGraceMs, pollMs: config.messagesApi.deferredSendPollMs },
    log.child({ module: 'messages-api' }),
  );
  deferredSends.start();
  const registry = createMetrics({
    writer,
    outbox,
    transcripts,
    routing,
    webhooks: webhookService,
    seedApi: { chatPlugin, contacts, deferredSends },
    credentials,
    connectedSockets: () => io.engine.clientsCount,
    bounds: {
      cacheBytes: () => ({ history: history.bytes, conversations: cache.bytes, recentSends: messages.recentBytes, transcripts: transcripts.cachedBytes }),
      backlogDrops: () => backlog.stats.dropped,
      capRefusals: () => caps.stats,
    },
  });

  app = createHttpApp({
    conversations,
    connectors,
    transcripts,
    routing,
    chatPlugin,
    messagesApi,
    contacts,
    deferredSends,
    tokens,
    credentials,
    db,
    registry,
    log: log.child({ module: 'http' }),
    origins,
    jsonBodyLimit: config.jsonBodyLimit,
    limits,
    readiness: {
      draining: () => draining,
      redis: () => (redis ? { state: redis.state, downForMs: redis.downForMs } : undefined),
    },
    initPerMinutePerIp: config.rateLimits.initPerMinutePerIp,
    chatPluginAuthPerMinutePerIp: config.chatPlugin.authenticatePerMinutePerIp,
    chatPluginSendsPerSecond: config.rateLimits.socketEventsPerSecond,
    transcriptsPerMinutePerCaller: config.transcripts.perMinutePerCaller,
    trustProxy: config.trustProxy,
  });
  // Sockets are counted per address as Express sees req.ip (the same TRUST_PROXY setting).
  // Sockets are counted by the same address their transport was (allowRequest above).
  const admission: SocketAdmission = { caps, addressOf: transportAddress };
  attachGateway(io, {
    conversations,
    connectors,
    outbox,
    messages,
    routing,
    actions,
    credentials,
    log: log.child({ module: 'socket' }),
    limits,
    eventsPerSecond: config.rateLimits.socketEventsPerSecond,
    maxEventBytes: config.socketMaxPayloadBytes,
    admission,
    backlog,
    joinsPerMinute: config.sockets.joinsPerMinute,
    refusalLogMs: config.sockets.refusalLogMs,
  });
  pluginSessions = attachChatPlugin(io, { credentials, chatPlugin, log: log.child({ module: 'chatplugin' }), admission });

  /** The engine's open connections (each carries a client's namespaces). */
  const engineClients = (): Array<{ close(): void }> => Object.values((io.engine as unknown as { clients: Record<string, { close(): void }> }).clients);
  /** Closes every client's transport, so Socket.IO reconnects it (to another process, behind a balancer). */
  const reconnectClients = (): number => {
    const clients = engineClients();
    for (const client of clients) client.close();
    return clients.length;
  };
  if (redis) {
    // What other processes broadcast while Redis was away never reached this process's clients:
    // once it is back, they reconnect (spread over a few seconds) and catch up with afterSeq.
    let wasUp = false;
    redis.onChange((state) => {
      if (state !== 'up') return;
      const clients = engineClients();
      // The first connection at start has nothing to catch up on, unless clients came while Redis was away.
      if (!wasUp) {
        wasUp = true;
        if (clients.length === 0) return;
      }
      log.info({ clients: clients.length }, 'redis is back: clients reconnect to catch up on what other processes delivered meanwhile');
      resyncing = true;
      for (const client of clients) setTimeout(() => client.close(), Math.random() * 3000).unref();
      setTimeout(() => (resyncing = false), 3500).unref();
    });
  }

  return {
    http,
    io,
    tokens,
    webhooks,
    async drain() {
      if (draining) return;
      draining = true;
      log.info({ noticeMs: config.drainNoticeMs }, 'draining: /ready answers 503, connector lanes go back, then clients are sent elsewhere');
      // While health checks notice the 503, the lanes are handed back; then no new connections:
      // a balancer's next attempt goes to another process.
      await Promise.all([outbox.handBack(Math.min(5000, config.connectors.ackTimeoutMs)), new Promise((resolve) => setTimeout(resolve, config.drainNoticeMs))]);
      http.close();
      const told = reconnectClients();
      log.info({ clients: told }, 'drained: clients told to reconnect');
    },
    async close() {
      routing.close();
      backlog.close();
      await deferredSends.close();
      await writer.drain();
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
      });
      // Acks that arrived before the sockets closed are stored before the database goes.
      await states.drain();
      // Every message and state change above is stored and announced: its events reach the outbox.
      await messageEvents.idle();
      await durableEvents?.idle();
      await webhookService?.close();
      // The outbox holds their events now: their markers can go.
      await durableEvents?.close();
      states.close();
      outbox.close();
      mailer?.close();
      await transcripts.close();
      await redis?.close();
      http.closeAllConnections();
    },
  };
}
