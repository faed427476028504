import type { Logger } from 'pino';
import { errorAck, HubError } from '../../contracts/errors.js';
import { rooms } from './rooms.js';
import type { HubServer } from './socket.gateway.js';

/**
 * Closes the default namespace's sockets whose credentials were revoked, on every process (the
 * adapter carries the room operations). Each gets `error {code: UNAUTHORIZED}` first.
 */
export class SocketCredentialSessions {
  constructor(
    private readonly io: HubServer,
    private readonly log: Logger,
  ) {}

  /** The conversation's customer tokens were revoked: the sockets that connected or joined with one close. */
  conversationRevoked(conversationId: string): void {
    this.close(rooms.customerCredential(conversationId), 'the tokens of this conversation were revoked');
    this.log.info({ conversationId }, 'customer sockets closed after revocation');
  }

  /** The agent's tokens were revoked: every socket of theirs closes. */
  agentRevoked(agentId: string): void {
    this.close(rooms.agent(agentId), 'this agent token was revoked; ask for a new one');
    this.log.info({ agentId }, 'agent sockets closed after revocation');
  }

  private close(room: string, message: string): void {
    this.io.to(room).emit('error', errorAck(new HubError('UNAUTHORIZED', message)));
    // Not closing the transport: the error above is sent first on the same connection.
    this.io.in(room).disconnectSockets(false);
  }
}
