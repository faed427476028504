import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import { bearerToken } from '../../auth/token.service.js';
import { errorAck, HubError } from '../../contracts/errors.js';
import type { ChatPluginService, ChatPluginSessionsPort } from '../../domain/chat-plugin.service.js';
import type { CredentialService } from '../../domain/credentials.service.js';
import type { SeedActivity, SeedMessage } from '../../domain/seed-view.js';
import { ExpiryWatch } from './expiry-watch.js';
import { handshakeRefusal } from './handshake-refusal.js';
import { admitSocket, type SocketAdmission } from './socket-admission.js';
import { rooms } from './rooms.js';
import type { HubServer } from './socket.gateway.js';

/** The chat plugin's Socket.IO namespace (seed 000): visitors receive their conversation here. */
export const CHAT_PLUGIN_NAMESPACE = '/ws.chatplugin';

/** What the hub sends on /ws.chatplugin. */
export interface ChatPluginServerEvents {
  message(payload: { message: SeedMessage }): void;
  /** Extension: joins, hand-offs and the end of the conversation, which are not messages in the seed's sense. */
  activity(payload: { activity: SeedActivity }): void;
  /** Sent before the hub closes the socket (token expired, tokens revoked), and for events it does not take. */
  error(payload: { code: string; message: string }): void;
}

interface VisitorSocketData {
  conversationId: string;
  participantId: string;
  expiresAt: number | undefined;
  /** The visitor's key in the connection caps (shared with the default namespace). */
  capKey?: string | undefined;
}

export type ChatPluginNamespace = Namespace<Record<string, never>, ChatPluginServerEvents, Record<string, never>, VisitorSocketData>;
type VisitorSocket = Socket<Record<string, never>, ChatPluginServerEvents, Record<string, never>, VisitorSocketData>;

export interface ChatPluginNamespaceDeps {
  credentials: CredentialService;
  chatPlugin: ChatPluginService;
  log: Logger;
  /** Connection caps per visitor and client address, shared with the default namespace. */
  admission: SocketAdmission;
}

/** The namespace of `io`, typed with the chat plugin's events. */
export function chatPluginNamespace(io: HubServer): ChatPluginNamespace {
  return io.of(CHAT_PLUGIN_NAMESPACE) as unknown as ChatPluginNamespace;
}

/**
 * Authenticates visitor sockets (the chat plugin token in `auth.token` or an `Authorization: Bearer`
 * header) and puts them in their conversation's rooms; they are closed when the token expires or
 * the conversation's tokens are revoked.
 */
export function attachChatPlugin(io: HubServer, deps: ChatPluginNamespaceDeps): ChatPluginSessionsPort {
  const ns = chatPluginNamespace(io);
  ns.use((socket, next) => {
    const fromAuth = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    const token = typeof fromAuth === 'string' && fromAuth.length > 0 ? fromAuth : bearerToken(socket.handshake.headers.authorization);
    const refuse = (err: unknown): void => next(handshakeRefusal(err));
    if (!token) return refuse(new HubError('UNAUTHORIZED', 'a chat plugin token is required in the handshake: auth: { token }'));
    (async () => {
      const principal = await deps.credentials.authenticate(token);
      const { conversation, participant } = await deps.chatPlugin.visitor(principal);
      socket.data.capKey = admitSocket(socket, deps.admission, principal, (fn) => socket.once('disconnect', fn));
      socket.data.conversationId = conversation.id;
      socket.data.participantId = participant.id;
      socket.data.expiresAt = principal.kind === 'customer' ? principal.expiresAt : undefined;
    })().then(() => next(), refuse);
  });

  ns.on('connection', (socket: VisitorSocket) => {
    const { conversationId, participantId } = socket.data;
    void socket.join([rooms.conversation(conversationId), rooms.participant(conversationId, participantId)]);
    const expiry = new ExpiryWatch(
      () => socket.data.expiresAt,
      () => {
        socket.emit('error', { code: 'UNAUTHORIZED', message: 'token expired; authenticate again (POST /chatplugin.authenticate with the resume token)' });
        socket.disconnect();
      },
    );
    expiry.arm();
    socket.on('disconnect', () => expiry.stop());
    // The namespace only delivers: answer anything sent to it instead of ignoring it.
    socket.onAny((event: string, ...args: unknown[]) => {
      const body = errorAck(new HubError('BAD_REQUEST', `unknown event "${String(event).slice(0, 50)}": this namespace only delivers; send with POST /chatplugin.send`));
      const ack = args[args.length - 1];
      if (typeof ack === 'function') (ack as (r: object) => void)(body);
      else socket.emit('error', body.error);
    });
  });

  return {
    revoked(conversationId: string): void {
      const room = rooms.conversation(conversationId);
      ns.to(room).emit('error', { code: 'UNAUTHORIZED', message: 'the tokens of this conversation were revoked' });
      // Not closing the transport: the error above is sent first on the same connection.
      ns.in(room).disconnectSockets(false);
      deps.log.info({ conversationId }, 'chat plugin sockets closed after revocation');
    },
  };
}
