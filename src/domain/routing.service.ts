import type { Logger } from 'pino';
import type { AgentPrincipal, Principal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { Participant } from '../contracts/schemas.js';
import { AgentPresence, type LocalAgent } from './agent-presence.js';
import type { ConversationCache } from './conversation-cache.js';
import { decodeCursor, invalidCursor, pageOf } from './cursor.js';
import { activityMessage, HUB_PARTICIPANT } from './message-factory.js';
import type { MessageWriter } from './message-writer.js';
import type { AgentFilter, AgentProfile, AgentRecord, AgentSessionsPort, AgentState, AgentStore, ConversationStore, QueuePosition, RealtimePort } from './ports.js';
import { toWireMessage, type Conversation } from './types.js';
import type { ActivityType } from '../contracts/schemas.js';

export interface RoutingOptions {
  /** How long an agent whose last socket left stays ready, waiting for them to come back. */
  agentGraceMs: number;
  /** How often each process renews its agents' presence and looks at the queue again. */
  sweepMs: number;
  /** Waiting conversations read per round trip. */
  batch: number;
}

export interface RoutingStats {
  assigned: { queue: number; pick: number; transfer: number };
  waitMs: number[];
  noAgentAvailable: number;
}

/** Who asks for a transfer or a leave: their credential and, when joined on this socket, who they joined as. */
export interface RoutingActor {
  principal: Principal;
  participant: Participant | undefined;
}

export type TransferTarget = { toAgentId: string; toSubject?: undefined } | { toSubject: string; toAgentId?: undefined };

const agentParticipant = (p: AgentProfile): Participant => ({ id: p.id, name: p.name, role: 'agent' });

/**
 * The MRE queue (§4): conversations wait per subject, first come first served, in the
 * database; each process offers them to the ready agents connected to it, longest idle first.
 * Every decision is a conditional update in the database (a slot on the agent, then the
 * conversation itself), so processes sharing it never assign a conversation twice.
 */
export class RoutingService {
  readonly presence: AgentPresence;
  readonly stats: RoutingStats = { assigned: { queue: 0, pick: 0, transfer: 0 }, waitMs: [], noAgentAvailable: 0 };
  private dispatching: Promise<void> | undefined;
  private again = false;
  /** Conversations this process is assigning right now: the sweep leaves their sessions alone. */
  private readonly inFlight = new Set<string>();
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly conversations: ConversationStore,
    private readonly agents: AgentStore,
    private readonly cache: ConversationCache,
    private readonly writer: MessageWriter,
    private readonly realtime: RealtimePort,
    private readonly sessions: AgentSessionsPort,
    private readonly options: RoutingOptions,
    private readonly log: Logger,
  ) {
    this.presence = new AgentPresence(options.agentGraceMs);
    this.sweepTimer = setInterval(() => void this.sweep(), options.sweepMs);
    this.sweepTimer.unref();
    // A restarted process finds the queue where the last one left it.
    setImmediate(() => void this.sweep());
  }

  // ------------------------------------------------------------------ presence

  /** An agent socket connected: records the agent and joins the socket to the agent's conversations. */
  async agentConnected(principal: AgentPrincipal, socketId: string): Promise<AgentRecord> {
    const profile: AgentProfile = { id: principal.agentId, name: principal.name, skills: principal.skills, maxChats: principal.maxChats };
    let stored: AgentRecord | undefined;
    const { agent } = this.presence.attach(profile, socketId, async () => {
      stored = await this.agents.connected(profile, this.leaseEnd());
    });
    await agent.connecting;
    if (!stored) throw new HubError('INTERNAL', 'agent record missing');
    this.presence.adopt(agent, stored);
    for (const conversationId of stored.active) {
      const conversation = await this.conversations.findById(conversationId);
      if (conversation?.status !== 'active' || conversation.agent?.id !== profile.id) continue;
      agent.joined.add(conversationId);
      await this.sessions.join(profile.id, conversation, socketId);
    }
    this.log.info({ agentId: profile.id, sockets: agent.sockets.size, state: stored.state, load: stored.active.length }, 'agent connected');
    if (stored.state === 'ready') this.kick();
    return stored;
  }

  /** An agent socket went away; after the last one, the agent is notReady unless they return within the grace period. */
  agentDisconnected(agentId: string, socketId: string): void {
    const left = this.presence.detach(agentId, socketId, (agent) => {
      this.log.info({ agentId, graceMs: this.options.agentGraceMs }, 'agent did not come back; now notReady (conversations kept)');
      this.agents.gone(agentId, new Date()).catch((err: unknown) => this.log.warn({ err: (err as Error).message, agentId }, 'could not mark an agent gone'));
      agent.joined.clear();
    });
    if (!left) return;
    this.log.info({ agentId, graceMs: this.options.agentGraceMs }, 'agent has no socket left; waiting for them to come back');
    // No live socket: nobody counts on this agent for new conversations meanwhile.
    this.agents.renewPresence([agentId], new Date()).catch(() => undefined);
  }

  /** agentState: ready or notReady; becoming ready offers the agent the queue at once. */
  async setState(agentId: string, state: AgentState): Promise<AgentRecord> {
    const agent = this.presence.get(agentId);
    if (!agent || agent.sockets.size === 0) throw new HubError('FORBIDDEN', 'connect with an agent token before setting a state');
    await agent.connecting;
    let activeNow: string[] | undefined;
    if (state === 'ready' && agent.record?.state !== 'ready') {
      // Becoming ready rebuilds the load from what the agent really holds (a crash can leave a slot taken).
      const held = await this.conversations.list({ status: 'active', agentId }, undefined, 1000);
      activeNow = held.map((c) => c.id);
    }
    const record = await this.agents.setState(agentId, state, new Date(), activeNow);
    if (!record) throw new HubError('NOT_FOUND', `agent ${agentId} not found`);
    this.presence.adopt(agent, record);
    this.log.info({ agentId, state, load: record.active.length }, 'agent state');
    if (state === 'ready') this.kick();
    return record;
  }

  /** GET /api/agents: a page of agents by id, with an opaque cursor. */
  async list(filter: AgentFilter, cursor: string | undefined, pageSize: number): Promise<{ data: AgentRecord[]; nextCursor: string | null }> {
    let afterId: string | undefined;
    if (cursor !== undefined) {
      const [id] = decodeCursor('a', cursor);
      if (typeof id !== 'string' || id.length > 200) throw invalidCursor();
      afterId = id;
    }
    return pageOf(await this.agents.list(filter, afterId, pageSize + 1), pageSize, 'a', (last) => [last.id]);
  }

  // ------------------------------------------------------------------ the queue

  /** A conversation was just opened waiting (init, a connector's first message): hand-off, then routing. */
  async opened(conversation: Conversation): Promise<void> {
    if (conversation.status !== 'queued' || !conversation.queuedAt) return;
    await this.announce(conversation, HUB_PARTICIPANT, 'handOff', { subject: conversation.subject, reason: 'queued' }, `handOff:${conversation.routingRev ?? 0}`);
    this.afterQueued(conversation);
  }

  /** Puts a conversation opened without waiting (a campaign's) in the queue, once its customer writes. */
  async enqueue(conversation: Conversation): Promise<void> {
    if (conversation.status !== 'queued' || conversation.queuedAt || conversation.agent) return;
    const queued = await this.conversations.enqueue(conversation.id, new Date());
    const current = queued ?? (await this.conversations.findById(conversation.id));
    if (current) this.cache.put(current);
    if (queued) await this.opened(queued);
  }

  /** Runs a dispatch pass, then tells the customer when nobody eligible is there. */
  private afterQueued(conversation: Conversation): void {
    this.dispatch()
      .then(() => this.noticeIfNobody(conversation.id))
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message, conversationId: conversation.id }, 'routing failed; the sweep retries'));
  }

  /** Starts a dispatch pass without waiting for it. */
  private kick(): void {
    this.dispatch().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'routing failed; the sweep retries'));
  }

  /** One pass at a time per process; a request during a pass runs one more pass after it. */
  dispatch(): Promise<void> {
    if (this.dispatching) {
      this.again = true;
      return this.dispatching;
    }
    this.dispatching = (async () => {
      try {
        do {
          this.again = false;
          await this.dispatchPass();
        } while (this.again && !this.closed);
      } finally {
        this.dispatching = undefined;
      }
    })();
    return this.dispatching;
  }

  private async dispatchPass(): Promise<void> {
    let available = this.presence.available();
    if (available.length === 0) return;
    let after: QueuePosition | undefined;
    for (;;) {
      const page = await this.conversations.queued(after, this.options.batch);
      for (const conversation of page) {
        after = { queuedAt: conversation.queuedAt ?? new Date(0), id: conversation.id };
        const agent = available.find((a) => eligible(a, conversation));
        if (!agent) continue;
        this.log.debug(
          { conversationId: conversation.id, agentId: agent.profile.id, order: available.map((a) => `${a.profile.id}@${a.record?.idleSince.toISOString()}:${a.record?.active.length}`) },
          'offering a conversation',
        );
        await this.assign(conversation, agent);
        available = this.presence.available();
        if (available.length === 0 || this.closed) return;
      }
      if (page.length < this.options.batch) return;
    }
  }

  /** Takes a slot on the agent, then the conversation; gives the slot back when the conversation was taken meanwhile. */
  private async assign(conversation: Conversation, agent: LocalAgent): Promise<boolean> {
    const agentId = agent.profile.id;
    this.inFlight.add(conversation.id);
    try {
      const reserved = await this.agents.reserve(agentId, conversation.id, new Date(), false);
      if (!reserved) {
        // Full or no longer ready (another process, another tab): look again before offering more.
        this.presence.adopt(agent, await this.agents.findById(agentId));
        return false;
      }
      this.presence.adopt(agent, reserved);
      let claimed: Conversation | null;
      try {
        claimed = await this.conversations.claim(conversation.id, agentParticipant(agent.profile));
      } catch (err) {
        this.presence.adopt(agent, await this.agents.release(agentId, conversation.id).catch(() => null));
        throw err;
      }
      if (!claimed) {
        this.presence.adopt(agent, await this.agents.release(agentId, conversation.id));
        return false;
      }
      this.stats.assigned.queue += 1;
      if (conversation.queuedAt) this.recordWait(Date.now() - conversation.queuedAt.getTime());
      this.log.info({ conversationId: claimed.id, agentId, subject: claimed.subject }, 'conversation assigned');
      await this.welcome(claimed, agent);
      return true;
    } finally {
      this.inFlight.delete(conversation.id);
    }
  }

  /** After an assignment: the customer (and other staff) get participantJoined, the agent's sockets join. */
  private async welcome(conversation: Conversation, agent: LocalAgent | undefined): Promise<void> {
    this.cache.put(conversation);
    const joined = conversation.agent;
    if (!joined) return;
    await this.announce(conversation, joined, 'participantJoined', { participant: joined }, `joined:${joined.id}:${conversation.routingRev ?? 0}`).catch((err: unknown) =>
      this.log.warn({ err: (err as Error).message, conversationId: conversation.id }, 'could not announce an assignment'),
    );
    if (agent) {
      agent.joined.add(conversation.id);
      await this.sessions.join(joined.id, conversation);
    }
  }

  /** noAgentAvailable, once per time in the queue, when no ready agent anywhere could take the conversation. */
  private async noticeIfNobody(conversationId: string): Promise<void> {
    const current = await this.conversations.findById(conversationId);
    if (!current || current.status !== 'queued' || current.agent) return;
    const ready = await this.agents.readyWithSkill(current.subject, new Date());
    if (ready.some((a) => a.active.length < a.maxChats && a.id !== current.previousAgentId)) return;
    this.stats.noAgentAvailable += 1;
    await this.announce(current, HUB_PARTICIPANT, 'noAgentAvailable', { subject: current.subject }, `noAgent:${current.routingRev ?? 0}`);
  }

  /** An agent joined a waiting conversation themselves: they take it (beyond maxChats if they choose to). */
  async pick(conversation: Conversation, agent: Participant): Promise<Conversation | null> {
    if (conversation.status !== 'queued') return null;
    await this.presence.get(agent.id)?.connecting;
    const reserved = await this.agents.reserve(agent.id, conversation.id, new Date(), true);
    const claimed = await this.conversations.claim(conversation.id, agent);
    const local = this.presence.get(agent.id);
    if (!claimed) {
      if (reserved) {
        const released = await this.agents.release(agent.id, conversation.id);
        if (local) this.presence.adopt(local, released);
      }
      return null;
    }
    if (local) this.presence.adopt(local, reserved);
    this.stats.assigned.pick += 1;
    this.cache.put(claimed);
    this.log.info({ conversationId: claimed.id, agentId: agent.id }, 'conversation picked by an agent');
    if (local) {
      local.joined.add(claimed.id);
      // The agent's other tabs join too; the picking socket joins through joinConversation.
      void this.sessions.join(agent.id, claimed).catch(() => undefined);
    }
    return claimed;
  }

  /** A conversation ended: its agent's slot is free at once. */
  async released(conversation: Conversation): Promise<void> {
    const agentId = conversation.agent?.id;
    if (!agentId) return;
    const record = await this.agents.release(agentId, conversation.id);
    const local = this.presence.get(agentId);
    if (local) {
      local.joined.delete(conversation.id);
      this.presence.adopt(local, record);
    }
    this.kick();
  }

  // ------------------------------------------------------------------ agent actions

  /** transferConversation: to another agent (ready, with a free slot) or back to a subject's queue. */
  async transfer(actor: RoutingActor, conversationId: string, target: TransferTarget): Promise<Conversation> {
    const conversation = await this.current(conversationId);
    this.assertMayAct(actor, conversation, 'transfer');
    if (target.toSubject !== undefined) {
      if (conversation.status === 'queued') {
        const moved = await this.conversations.resubject(conversation.id, target.toSubject);
        if (!moved) throw new HubError('CONFLICT', 'the conversation changed meanwhile; try again');
        this.cache.put(moved);
        await this.opened(moved);
        return moved;
      }
      return this.requeue(conversation, target.toSubject, 'transfer');
    }
    const targetId = target.toAgentId;
    if (conversation.agent?.id === targetId) throw new HubError('BAD_REQUEST', `the conversation is already assigned to agent ${targetId}`);
    const record = await this.agents.findById(targetId);
    if (!record) throw new HubError('NOT_FOUND', `agent ${targetId} is not known (they have never connected)`);
    if (record.presenceUntil.getTime() <= Date.now()) throw new HubError('CONFLICT', `agent ${targetId} is not connected`);
    if (record.state !== 'ready') throw new HubError('CONFLICT', `agent ${targetId} is not ready`);
    const to = agentParticipant(record);
    const reserved = await this.agents.reserve(targetId, conversation.id, new Date(), false);
    if (!reserved) throw new HubError('CONFLICT', `agent ${targetId} has no free slot (maxChats ${record.maxChats})`);
    const local = this.presence.get(targetId);
    if (local) this.presence.adopt(local, reserved);
    const from = conversation.agent;
    const moved = from ? await this.conversations.reassign(conversation.id, from.id, to) : await this.conversations.claim(conversation.id, to);
    if (!moved) {
      const released = await this.agents.release(targetId, conversation.id);
      if (local) this.presence.adopt(local, released);
      throw new HubError('CONFLICT', 'the conversation changed meanwhile; try again');
    }
    this.stats.assigned.transfer += 1;
    this.log.info({ conversationId, from: from?.id, to: targetId }, 'conversation transferred');
    if (from) await this.dropAgent(moved, from, 'transfer');
    await this.welcome(moved, local);
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
    await this.announce(after, participant, 'participantLeft', { participant, reason: 'left' });
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
    await this.announce(queued, HUB_PARTICIPANT, 'handOff', { subject, reason, from }, `handOff:${queued.routingRev ?? 0}`);
    this.afterQueued(queued);
    return queued;
  }

  /** The agent is out of the conversation: slot freed, participantLeft, their sockets leave it. */
  private async dropAgent(conversation: Conversation, agent: Participant, reason: string): Promise<void> {
    this.cache.put(conversation);
    const record = await this.agents.release(agent.id, conversation.id);
    const local = this.presence.get(agent.id);
    if (local) {
      local.joined.delete(conversation.id);
      this.presence.adopt(local, record);
    }
    await this.announce(conversation, agent, 'participantLeft', { participant: agent, reason }, `left:${agent.id}:${conversation.routingRev ?? 0}`);
    await this.sessions.leave(agent.id, conversation.id);
    this.kick();
  }

  /** The conversation as stored now: routing decisions never trust a cached copy. */
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

  private async announce(conversation: Conversation, from: Participant, type: ActivityType, info: Record<string, unknown>, onceKey?: string): Promise<void> {
    const message = activityMessage(conversation, from, type, info, [], onceKey);
    await this.writer.write(message, (stored) => this.realtime.deliver(toWireMessage(stored), stored.audience));
  }

  // ------------------------------------------------------------------ the sweep

  /**
   * Renews the presence of this process's agents, joins their sockets to conversations another
   * process assigned or transferred to them (and out of those taken away), and offers the queue again.
   */
  async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      const local = this.presence.connected();
      const ids = local.map((a) => a.profile.id);
      if (ids.length > 0) {
        await this.agents.renewPresence(ids, this.leaseEnd());
        const versions = new Map(local.map((a) => [a, a.version]));
        const records = new Map((await this.agents.findMany(ids)).map((r) => [r.id, r]));
        for (const agent of local) {
          const record = records.get(agent.profile.id);
          // A write of this process's since the read is newer: keep it, reconcile next time.
          if (record && agent.version === versions.get(agent)) await this.reconcile(agent, record);
        }
      }
      await this.dispatch();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'routing sweep failed; trying again next time');
    }
  }

  private async reconcile(agent: LocalAgent, record: AgentRecord): Promise<void> {
    this.presence.adopt(agent, record);
    const agentId = agent.profile.id;
    for (const id of record.active) {
      if (agent.joined.has(id) || this.inFlight.has(id)) continue;
      const conversation = await this.conversations.findById(id);
      if (conversation?.status !== 'active' || conversation.agent?.id !== agentId) continue;
      agent.joined.add(id);
      this.cache.put(conversation);
      await this.sessions.join(agentId, conversation);
    }
    for (const id of [...agent.joined]) {
      if (record.active.includes(id) || this.inFlight.has(id)) continue;
      agent.joined.delete(id);
      const conversation = await this.conversations.findById(id);
      // Given away elsewhere (transfer, leave): out. Ended: stay, to read it.
      if (conversation && conversation.status !== 'ended' && conversation.agent?.id !== agentId) await this.sessions.leave(agentId, id);
    }
  }

  private leaseEnd(): Date {
    return new Date(Date.now() + 3 * this.options.sweepMs);
  }

  private recordWait(ms: number): void {
    if (this.stats.waitMs.length >= 1000) this.stats.waitMs.shift();
    this.stats.waitMs.push(ms);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.presence.close();
  }
}

/** May `agent` take `conversation`? Skill match (any agent for an empty subject), and not the agent who gave it away. */
function eligible(agent: LocalAgent, conversation: Conversation): boolean {
  if (conversation.previousAgentId === agent.profile.id) return false;
  if (!conversation.subject) return true;
  return (agent.record?.skills ?? agent.profile.skills).includes(conversation.subject);
}
