import type { Logger } from 'pino';
import type { RateLimits } from '../../adapters/rate-limits/rate-limits.js';
import type { Server, Socket } from 'socket.io';
import type { AgentPrincipal, Principal } from '../../auth/token.service.js';
import { errorAck, HubError, toHubError } from '../../contracts/errors.js';
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents } from '../../contracts/events.js';
import {
  agentStateSchema,
  endConversationSchema,
  joinConversationSchema,
  leaveConversationSchema,
  parseOrThrow,
  sendMessageSchema,
  transferConversationSchema,
} from '../../contracts/schemas.js';
import type { ConnectorInfo } from '../../domain/connector.service.js';
import type { ConversationService, Membership } from '../../domain/conversation.service.js';
import type { MessageService } from '../../domain/message.service.js';
import type { RoutingService } from '../../domain/routing.service.js';
import type { AgentActions } from '../../domain/agent-actions.js';
import type { CredentialService } from '../../domain/credentials.service.js';
import { toAgentView, toWireConversation, toWireMessage } from '../../domain/types.js';
import { LogThrottle } from '../../log-throttle.js';
import type { SocketConnectorLink } from './connector-link.js';
import { connectorHandlers, type ConnectorHandlerDeps } from './connector.handlers.js';
import { admitSocket, claimPrincipal, type SocketAdmission } from './socket-admission.js';
import { enterConversation, leaveConversation, sendConversationInfo } from './membership.js';
import { ExpiryWatch } from './expiry-watch.js';
import { handshakeRefusal } from './handshake-refusal.js';
import { rooms } from './rooms.js';
import type { BacklogGuard } from './write-backlog.js';

export interface SocketData {
  principal: Principal | undefined;
  memberships: Map<string, Membership>;
  /** Set once the socket registered as a connector. */
  connector?: ConnectorInfo | undefined;
  connectorLink?: SocketConnectorLink | undefined;
  /** Set once the socket is known as an agent's (handshake token, or the first event carrying one). */
  agent?: AgentPrincipal | undefined;
  /** Settles once the agent's record and presence exist. */
  agentBinding?: Promise<void> | undefined;
  /** Closes the socket when the earliest of its credentials expires. */
  expiry?: ExpiryWatch | undefined;
  /** The principal this socket is counted for (caps, event budget): from the handshake, or its first join. */
  capKey?: string | undefined;
}

export type HubServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type HubSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface GatewayDeps extends ConnectorHandlerDeps {
  conversations: ConversationService;
  messages: MessageService;
  routing: RoutingService;
  actions: AgentActions;
  /** Verifies tokens with revocation checked. */
  credentials: CredentialService;
  log: Logger;
  /** Where rate limits count: in memory, or across processes in Redis. */
  limits: RateLimits;
  eventsPerSecond: number;
  /** Largest event payload accepted, as JSON bytes; larger ones are answered PAYLOAD_TOO_LARGE. */
  maxEventBytes: number;
  /** Connection caps per principal and client address, shared with /ws.chatplugin. */
  admission: SocketAdmission;
  /** Closes connections that do not read; conversationInfo is checked against it. */
  backlog: BacklogGuard;
  /** joinConversation events one connection may make per minute. */
  joinsPerMinute: number;
  /** A refused or failed event is logged once per this interval per principal, event and code. */
  refusalLogMs: number;
}

type Handler = (socket: HubSocket, payload: unknown) => Promise<object>;

/** The earliest expiry of the credentials a socket holds (handshake, agent binding, joins); undefined when none expires. */
function socketDeadline(socket: HubSocket): number | undefined {
  let earliest: number | undefined;
  const consider = (at: number | undefined): void => {
    if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
  };
  const { principal, agent, memberships } = socket.data;
  consider(expiryOf(principal));
  consider(agent?.expiresAt);
  for (const membership of memberships.values()) consider(membership.expiresAt);
  return earliest;
}

/** Whether two principals name the same customer of the same conversation, or the same agent. */
function sameHolder(a: Principal | undefined, b: Principal): boolean {
  if (a?.kind === 'customer' && b.kind === 'customer') return a.conversationId === b.conversationId && a.participantId === b.participantId;
  if (a?.kind === 'agent' && b.kind === 'agent') return a.agentId === b.agentId;
  return false;
}

/** When a principal's token stops (ms since epoch); undefined for the system token. */
function expiryOf(principal: Principal | undefined): number | undefined {
  return principal && principal.kind !== 'system' ? principal.expiresAt : undefined;
}

/** Whether `fresh` lasts at least as long as `held`: only then does it replace it. */
function outlasts(fresh: Principal, held: Principal): boolean {
  return (expiryOf(held) ?? 0) <= (expiryOf(fresh) ?? Number.POSITIVE_INFINITY);
}

/** A socket's right to act in a conversation it joined: the join's credential must not have expired or been revoked since. */
async function assertMember(membership: Membership, credentials: CredentialService): Promise<void> {
  if (membership.expiresAt !== undefined && membership.expiresAt <= Date.now()) {
    throw new HubError('UNAUTHORIZED', 'token expired; reconnect and join again with a fresh token');
  }
  await credentials.assertCurrent(membership.credential);
}

/** Wires the Customer Channel API's socket events to the domain services. */
export function attachGateway(io: HubServer, deps: GatewayDeps): void {
  const { credentials, log, routing, admission } = deps;

  /**
   * A fresh token in an event renews what the socket holds for the same customer or agent
   * (handshake credential, agent binding and presence, joins), and so the socket's life.
   */
  const renew = (socket: HubSocket, fresh: Principal): void => {
    if (fresh.kind === 'system') return;
    const { principal, agent } = socket.data;
    if (principal && sameHolder(principal, fresh) && outlasts(fresh, principal)) socket.data.principal = fresh;
    if (fresh.kind === 'agent' && agent && sameHolder(agent, fresh) && outlasts(fresh, agent)) {
      socket.data.agent = fresh;
      routing.agentRenewed(fresh, socket.id);
    }
    for (const membership of socket.data.memberships.values()) {
      if (membership.credential && sameHolder(membership.credential, fresh) && outlasts(fresh, membership.credential)) {
        membership.credential = fresh;
        membership.expiresAt = fresh.expiresAt;
      }
    }
    socket.data.expiry?.arm();
  };
  /** Resolves the credential of an event: the payload's token wins over the handshake's; expired or revoked is UNAUTHORIZED. */
  const principalFor = async (socket: HubSocket, payload: unknown): Promise<Principal | undefined> => {
    const token = (payload as { token?: unknown } | null)?.token;
    if (typeof token === 'string' && token.length > 0) {
      const fresh = await credentials.authenticate(token);
      renew(socket, fresh);
      return fresh;
    }
    const principal = socket.data.principal;
    await credentials.assertCurrent(principal);
    return principal;
  };

  /** Makes the socket one of the agent's (room, presence); a socket belongs to one agent only. */
  const bindAgent = (socket: HubSocket, principal: AgentPrincipal): Promise<void> => {
    const bound = socket.data.agent;
    if (bound) {
      if (bound.agentId !== principal.agentId) throw new HubError('FORBIDDEN', `this connection belongs to agent ${bound.agentId}`);
      // A fresh token extends the connection's life, and the agent's presence with it.
      renew(socket, principal);
      return socket.data.agentBinding ?? Promise.resolve();
    }
    claimPrincipal(socket, admission, principal, (fn) => socket.once('disconnect', fn));
    socket.data.agent = principal;
    socket.data.expiry?.arm();
    const binding = (async () => {
      await socket.join(rooms.agent(principal.agentId));
      await routing.agentConnected(principal, socket.id);
    })();
    socket.data.agentBinding = binding;
    // Not recorded (database down): the next event from the socket tries again.
    binding.catch(() => {
      if (socket.data.agentBinding !== binding) return;
      socket.data.agent = undefined;
      socket.data.agentBinding = undefined;
    });
    return binding;
  };
  /** The agent principal of an event, bound to the socket; FORBIDDEN for anyone else. */
  const agentOf = async (socket: HubSocket, payload: unknown, what: string): Promise<AgentPrincipal> => {
    const principal = await principalFor(socket, payload);
    if (!principal) throw new HubError('UNAUTHORIZED', `${what} needs an agent token: pass it in the handshake auth or as "token"`);
    if (principal.kind !== 'agent') throw new HubError('FORBIDDEN', `${what} needs an agent token`);
    await bindAgent(socket, principal);
    return principal;
  };
  /** Who acts in a transfer or leave: an agent (bound to the socket) or the system token. */
  const actorOf = async (socket: HubSocket, payload: unknown, conversationId: string, what: string) => {
    const principal = await principalFor(socket, payload);
    if (!principal) throw new HubError('UNAUTHORIZED', `${what} needs an agent or the system token`);
    if (principal.kind === 'agent') await bindAgent(socket, principal);
    return { principal, participant: socket.data.memberships.get(conversationId)?.participant };
  };
  const connector = connectorHandlers(deps);
  // Keyed by principal (capKey), so a principal's sockets share one budget; by socket until one is known.
  const limiter = deps.limits.create({ name: 'socket-events', points: deps.eventsPerSecond, durationSeconds: 1 });
  const joins = deps.limits.create({ name: 'socket-joins', points: deps.joinsPerMinute, durationSeconds: 60 });
  const refusals = new LogThrottle(deps.refusalLogMs);
  const limitKey = (socket: HubSocket): string => socket.data.capKey ?? `socket:${socket.id}`;

  io.use((socket, next) => {
    socket.data.memberships = new Map();
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    // A connector presents its key at registerConnector, where its id is known.
    if (token === undefined || token === null || token === '') {
      socket.data.principal = undefined;
      return next();
    }
    if (typeof token !== 'string') return next(handshakeRefusal(new HubError('UNAUTHORIZED', 'auth.token must be a string')));
    credentials.authenticate(token).then(
      (principal) => {
        socket.data.principal = principal;
        next();
      },
      (err: unknown) => next(handshakeRefusal(err)),
    );
  });
  // Last: only sockets that will connect are counted.
  io.use((socket, next) => {
    try {
      socket.data.capKey = admitSocket(socket, admission, socket.data.principal, (fn) => socket.once('disconnect', fn));
      next();
    } catch (err) {
      next(handshakeRefusal(err));
    }
  });

  const handlers: Record<keyof ClientToServerEvents, Handler> = {
    joinConversation: async (socket, payload) => {
      const input = parseOrThrow(joinConversationSchema, payload, 'joinConversation payload');
      const principal = await principalFor(socket, payload);
      claimPrincipal(socket, admission, principal, (fn) => socket.once('disconnect', fn));
      // Per credential (all its sockets together), like the event budget: a join reads history.
      try {
        await joins.consume(limitKey(socket));
      } catch {
        throw new HubError('RATE_LIMITED', `too many joins; at most ${deps.joinsPerMinute} joinConversation per minute per credential`);
      }
      if (principal?.kind === 'agent') await bindAgent(socket, principal);
      const result = await deps.conversations.join(principal, input.conversationId, input.id, input.name);
      const { membership, conversation } = result;
      const { participant } = membership;
      // Join the rooms before reading the history, so no message falls between the two: one
      // stored meanwhile may show in both, and clients de-duplicate by id.
      await enterConversation(socket, membership);
      const history = input.afterSeq === undefined ? await deps.conversations.joinHistory(membership) : await deps.conversations.catchUp(membership, input.afterSeq);
      // conversationInfo follows the ack on the same socket.
      setImmediate(() => {
        if (!sendConversationInfo(socket, conversation, history, participant.role ?? 'customer', deps.backlog)) return;
        deps.conversations.announceJoin(result, socket.id).catch((err: unknown) => {
          log.warn({ err: toHubError(err).message, conversationId: conversation.id }, 'could not announce a join');
        });
      });
      return { role: participant.role };
    },
    sendMessage: async (socket, payload) => {
      if (socket.data.connector) return connector.inbound(socket, payload);
      const input = parseOrThrow(sendMessageSchema, payload, 'sendMessage payload');
      const membership = input.conversationId ? socket.data.memberships.get(input.conversationId) : undefined;
      if (membership) await assertMember(membership, credentials);
      const message = await deps.messages.send(membership, input, socket.id);
      return { message };
    },
    endConversation: async (socket, payload) => {
      const input = parseOrThrow(endConversationSchema, payload, 'endConversation payload');
      const principal = await principalFor(socket, payload);
      const membership = socket.data.memberships.get(input.conversationId);
      // Like sendMessage: a join whose token has expired or been revoked ends nothing (the system token needs no join).
      if (membership && principal?.kind !== 'system') await assertMember(membership, credentials);
      const ended = await deps.conversations.end(principal, membership, input.conversationId);
      return { conversationId: ended.id, endedAt: ended.endedAt?.toISOString() ?? new Date().toISOString() };
    },
    registerConnector: connector.registerConnector,
    messageStatus: connector.messageStatus,
    agentState: async (socket, payload) => {
      const input = parseOrThrow(agentStateSchema, payload, 'agentState payload');
      const principal = await agentOf(socket, payload, 'agentState');
      const record = await routing.setState(principal.agentId, input.state);
      // Their socket is right here: connected.
      return { agent: toAgentView(record, true) };
    },
    transferConversation: async (socket, payload) => {
      const input = parseOrThrow(transferConversationSchema, payload, 'transferConversation payload');
      const actor = await actorOf(socket, payload, input.conversationId, 'transferConversation');
      const target = input.toAgentId !== undefined ? { toAgentId: input.toAgentId } : { toSubject: input.toSubject ?? '' };
      const conversation = await deps.actions.transfer(actor, input.conversationId, target);
      return { conversation: toWireConversation(conversation) };
    },
    leaveConversation: async (socket, payload) => {
      const input = parseOrThrow(leaveConversationSchema, payload, 'leaveConversation payload');
      const actor = await actorOf(socket, payload, input.conversationId, 'leaveConversation');
      const conversation = await deps.actions.leave(actor, input.conversationId);
      // The leaver's own socket (a system participant has no agent room) is out too.
      await leaveConversation(socket, input.conversationId);
      return { conversation: toWireConversation(conversation) };
    },
  };

  io.on('connection', (socket) => {
    const handshake = socket.data.principal;
    // Every namespace closes a socket once its credential expires, so it stops receiving at once.
    const expiry = new ExpiryWatch(
      () => socketDeadline(socket),
      () => {
        socket.emit('error', errorAck(new HubError('UNAUTHORIZED', 'token expired; reconnect with a fresh token')));
        log.debug({ socketId: socket.id }, 'socket closed at its token expiry');
        socket.disconnect();
      },
    );
    socket.data.expiry = expiry;
    expiry.arm();
    if (handshake?.kind === 'customer') void socket.join(rooms.customerCredential(handshake.conversationId));
    if (handshake?.kind === 'agent') {
      bindAgent(socket, handshake).catch((err: unknown) => {
        log.warn({ err: toHubError(err).message, agentId: handshake.agentId }, 'could not register an agent connection');
      });
    }
    // Events the hub does not know still get an answer, never silence.
    socket.onAny((event: string, ...args: unknown[]) => {
      if (Object.hasOwn(handlers, event)) return;
      const body = errorAck(new HubError('BAD_REQUEST', `unknown event "${String(event).slice(0, 50)}"`));
      const ack = args[args.length - 1];
      if (typeof ack === 'function') (ack as (r: object) => void)(body);
      else socket.emit('error', body);
    });
    for (const [event, handler] of Object.entries(handlers) as Array<[keyof ClientToServerEvents, Handler]>) {
      socket.on(event, async (payload: unknown, ack?: unknown) => {
        // A client that passes only a callback sends no payload.
        if (typeof payload === 'function' && ack === undefined) {
          ack = payload;
          payload = undefined;
        }
        const reply = typeof ack === 'function' ? (ack as (r: object) => void) : undefined;
        try {
          // Registered connectors carry a whole channel's traffic; their key already vouches for them.
          if (!socket.data.connector) {
            try {
              await limiter.consume(limitKey(socket));
            } catch {
              throw new HubError('RATE_LIMITED', `too many events; at most ${deps.eventsPerSecond} per second per credential (all its connections together)`);
            }
          }
          if (payload !== undefined && Buffer.byteLength(JSON.stringify(payload) ?? '') > deps.maxEventBytes) {
            throw new HubError('PAYLOAD_TOO_LARGE', `${event} payload is larger than ${deps.maxEventBytes} bytes`);
          }
          const result = await handler(socket, payload);
          reply?.({ ok: true, ...result });
        } catch (err) {
          const hubErr = toHubError(err);
          // Once per interval per sender, event and outcome: a client repeating a bad event costs one line, not one per event.
          const sender = socket.data.capKey ?? socket.handshake.address;
          const suppressed = refusals.admit(`${sender}|${event}|${hubErr.code}`);
          if (suppressed !== undefined) {
            if (hubErr.code === 'INTERNAL') log.error({ err, event, socketId: socket.id, suppressed }, 'socket event failed');
            else log.info({ event, code: hubErr.code, message: hubErr.message, socketId: socket.id, suppressed }, 'socket event refused');
          }
          const body = errorAck(hubErr);
          if (reply) reply(body);
          else socket.emit('error', body);
        }
      });
    }
    socket.on('disconnect', () => {
      expiry.stop();
      if (!socket.data.capKey) void limiter.delete(limitKey(socket));
      if (!socket.data.capKey) void joins.delete(limitKey(socket));
      if (socket.data.agent) routing.agentDisconnected(socket.data.agent.agentId, socket.id);
    });
  });
}
