import type { Membership } from '../../domain/conversation.service.js';
import type { HistoryPage } from '../../domain/join-history.js';
import type { AgentSessionsPort } from '../../domain/ports.js';
import type { Conversation } from '../../domain/types.js';
import { enterConversation, leaveConversation, sendConversationInfo } from './membership.js';
import { rooms } from './rooms.js';
import type { ClusterBus } from './cluster-bus.js';
import type { HubServer, HubSocket } from './socket.gateway.js';
import type { BacklogGuard } from './write-backlog.js';

/**
 * The sockets of each agent on this process (room `a:<agentId>`), joined to and taken out of
 * conversations as the routing decides. Other processes' sockets are theirs to move: each
 * process's routing sweep joins its own agents' sockets to what was assigned elsewhere.
 */
export class SocketAgentSessions implements AgentSessionsPort {
  constructor(
    private readonly io: HubServer,
    private readonly history: (membership: Membership) => Promise<HistoryPage>,
    private readonly backlog?: BacklogGuard,
  ) {}

  async join(agentId: string, conversation: Conversation, socketId?: string): Promise<number> {
    const participant = conversation.agent?.id === agentId ? conversation.agent : conversation.participants.find((p) => p.id === agentId);
    if (!participant) return 0;
    const joining: Array<{ socket: HubSocket; membership: Membership }> = [];
    for (const socket of this.sockets(agentId)) {
      if (socketId !== undefined && socket.id !== socketId) continue;
      // Already a member (joinConversation, an earlier pass): nothing to repeat.
      if (socket.data.memberships.has(conversation.id)) continue;
      const principal = socket.data.agent;
      // A socket whose token has expired gets nothing more (it is about to be closed).
      if (principal?.expiresAt !== undefined && principal.expiresAt <= Date.now()) continue;
      const membership: Membership = { conversationId: conversation.id, participant, staff: true, expiresAt: principal?.expiresAt, credential: principal };
      await enterConversation(socket, membership);
      joining.push({ socket, membership });
    }
    const first = joining[0];
    if (!first) return 0;
    // Rooms first, history after: a message stored in between shows twice at worst (clients de-duplicate by id), never not at all.
    const page = await this.history(first.membership);
    for (const { socket } of joining) sendConversationInfo(socket, conversation, page, 'agent', this.backlog);
    return joining.length;
  }

  async leave(agentId: string, conversationId: string): Promise<void> {
    for (const socket of this.sockets(agentId)) await leaveConversation(socket, conversationId);
  }

  /** This process's sockets of the agent. */
  private sockets(agentId: string): HubSocket[] {
    const ids = this.io.of('/').adapter.rooms.get(rooms.agent(agentId)) ?? new Set<string>();
    const found: HubSocket[] = [];
    for (const id of ids) {
      const socket = this.io.of('/').sockets.get(id);
      if (socket) found.push(socket);
    }
    return found;
  }
}

/**
 * The agent sessions of a deployment of several processes: what the routing decides here is
 * done at once to the agent's sockets here, and hinted to the other processes so their sockets
 * of the agent (other tabs, devices) follow without waiting for their routing sweep.
 */
export class ClusteredAgentSessions implements AgentSessionsPort {
  constructor(
    private readonly local: AgentSessionsPort,
    private readonly bus: ClusterBus,
    conversationOf: (conversationId: string) => Promise<Conversation | null>,
  ) {
    bus.on('agentJoined', async (agentId, conversationId) => {
      const conversation = await conversationOf(conversationId);
      if (conversation && conversation.status !== 'ended') await local.join(agentId, conversation);
    });
    bus.on('agentLeft', (agentId, conversationId) => local.leave(agentId, conversationId));
  }

  async join(agentId: string, conversation: Conversation, socketId?: string): Promise<number> {
    const joined = await this.local.join(agentId, conversation, socketId);
    if (socketId === undefined) this.bus.publish('agentJoined', agentId, conversation.id);
    return joined;
  }

  async leave(agentId: string, conversationId: string): Promise<void> {
    await this.local.leave(agentId, conversationId);
    this.bus.publish('agentLeft', agentId, conversationId);
  }
}
