import type { Logger } from 'pino';
import type { Principal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { Participant } from '../contracts/schemas.js';
import type { ConversationCache } from './conversation-cache.js';
import { HUB_PARTICIPANT } from './message-factory.js';
import type { AgentSessionsPort, AgentStore, ConversationStore } from './ports.js';
import { agentParticipant, type RoutingService } from './routing.service.js';
import { heldByLiveProcess, type Conversation } from './types.js';

/** Who asks for a transfer or a leave: their credential and, when joined on this socket, who they joined as. */
export interface RoutingActor {
  principal: Principal;
  participant: Participant | undefined;
}

export type TransferTarget = { toAgentId: string; toSubject?: undefined } | { toSubject: string; toAgentId?: undefined };

/**
 * What agents do to a conversation they are in (§4): hand it to another agent or back to a
 * subject's queue, or leave it. Like assignment, every step is a conditional update, so two
 * transfers of one conversation, or a transfer and an end, never both win.
 */
export class AgentActions {
  constructor(
    private readonly conversations: ConversationStore,
    private readonly agents: AgentStore,
    private readonly cache: ConversationCache,
    private readonly sessions: AgentSessionsPort,
    private readonly routing: RoutingService,
    private readonly log: Logger,
  ) {}

  /** transferConversation: to another agent (ready, with a free slot) or back to a subject's queue. */
  async transfer(actor: RoutingActor, conversationId: string, target: TransferTarget): Promise<Conversation> {
    const conversation = await this.current(conversationId);
    this.assertMayAct(actor, conversation, 'transfer');
    if (target.toSubject !== undefined) {
      if (conversation.status === 'queued') {
        const moved = await this.conversations.resubject(conversation.id, target.toSubject);
        if (!moved) throw new HubError('CONFLICT', 'the conversation changed meanwhile; try again');
        this.cache.put(moved);
        await this.routing.opened(moved);
        return moved;
      }
      return this.requeue(conversation, target.toSubject, 'transfer');
    }
    const targetId = target.toAgentId;
    if (conversation.agent?.id === targetId) throw new HubError('BAD_REQUEST', `the conversation is already assigned to agent ${targetId}`);
    const record = await this.agents.findById(targetId);
    if (!record) throw new HubError('NOT_FOUND', `agent ${targetId} is not known (they have never connected)`);
    const live = await this.agents.liveProcesses(new Date());
    if (!heldByLiveProcess(record, live)) throw new HubError('CONFLICT', `agent ${targetId} is not connected`);
    if (record.state !== 'ready') throw new HubError('CONFLICT', `agent ${targetId} is not ready`);
    if (!(await this.routing.takeSlot(targetId, conversation.id, false))) {
      throw new HubError('CONFLICT', `agent ${targetId} has no free slot (maxChats ${record.maxChats})`);
    }
    const to = agentParticipant(record);
    const from = conversation.agent;
    const moved = from ? await this.conversations.reassign(conversation.id, from.id, to) : await this.conversations.claim(conversation.id, to);
    if (!moved) {
      await this.routing.freeSlot(targetId, conversation.id);
      throw new HubError('CONFLICT', 'the conversation changed meanwhile; try again');
    }
    this.routing.stats.assigned.transfer += 1;
    this.log.info({ conversationId, from: from?.id, to: targetId }, 'conversation transferred');
    if (from) await this.dropAgent(moved, from, 'transfer');
    await this.routing.welcome(moved, this.routing.presence.get(targetId));
    return moved;
  }

  /** leaveConversation: the assigned agent hands the conversation back to the queue; anyone else just leaves. */
  async leave(actor: RoutingActor, conversationId: string): Promise<Conversation> {
    const conversation = await this.current(conversationId);
    const participant = this.assertMayAct(actor, conversation, 'leave');
    if (!participant) throw new HubError('FORBIDDEN', 'join the conversation before leaving it');
    if (conversation.agent?.id === participant.id) return this.requeue(conversation, conversation.subject, 'left');
    const after = await this.conversations.removeParticipant(conversation.id, participant.id);
    if (!after) throw new HubError('FORBIDDEN', `${participant.id} is not a participant of this conversation`);
    this.cache.put(after);
    await this.routing.announce(after, participant, 'participantLeft', { participant, reason: 'left' });
    if (participant.role === 'agent') await this.sessions.leave(participant.id, conversation.id);
    return after;
  }

  private async requeue(conversation: Conversation, subject: string, reason: 'transfer' | 'left'): Promise<Conversation> {
    const from = conversation.agent;
    if (!from) throw new HubError('CONFLICT', 'the conversation has no assigned agent');
    // It keeps its place: the customer has been waiting since the conversation was opened.
    const queued = await this.conversations.requeue(conversation.id, from.id, subject, conversation.createdAt);
    if (!queued) throw new HubError('CONFLICT', 'the conversation changed meanwhile; try again');
    this.log.info({ conversationId: conversation.id, from: from.id, subject, reason }, 'conversation back in the queue');
    await this.dropAgent(queued, from, reason);
    await this.routing.announce(queued, HUB_PARTICIPANT, 'handOff', { subject, reason, from }, `handOff:${queued.routingRev ?? 0}`);
    this.routing.afterQueued(queued);
    return queued;
  }

  /** The agent is out of the conversation: slot freed, participantLeft, their sockets leave it. */
  private async dropAgent(conversation: Conversation, agent: Participant, reason: string): Promise<void> {
    this.cache.put(conversation);
    await this.routing.freeSlot(agent.id, conversation.id);
    await this.routing.announce(conversation, agent, 'participantLeft', { participant: agent, reason }, `left:${agent.id}:${conversation.routingRev ?? 0}`);
    await this.sessions.leave(agent.id, conversation.id);
    this.routing.kick();
  }

  /** The conversation as stored now: these decisions never trust a cached copy. */
  private async current(conversationId: string): Promise<Conversation> {
    const conversation = await this.conversations.findById(conversationId);
    if (!conversation) throw new HubError('NOT_FOUND', `conversation ${conversationId} not found`);
    if (conversation.status === 'ended') throw new HubError('CONVERSATION_ENDED', 'the conversation has ended');
    return conversation;
  }

  /** Agents of the conversation and the system token may transfer or leave; returns who acts in it. */
  private assertMayAct(actor: RoutingActor, conversation: Conversation, what: string): Participant | undefined {
    const { principal } = actor;
    if (principal.kind === 'system') return actor.participant;
    if (principal.kind !== 'agent') throw new HubError('FORBIDDEN', `only an agent of the conversation or the system may ${what} it`);
    const member = conversation.participants.find((p) => p.id === principal.agentId) ?? (conversation.agent?.id === principal.agentId ? conversation.agent : undefined);
    if (!member) throw new HubError('FORBIDDEN', `agent ${principal.agentId} is not in this conversation`);
    return member;
  }
}
