import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentPrincipal } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { Participant } from '../contracts/schemas.js';
import { AgentPresence, type LocalAgent } from './agent-presence.js';
import type { ConversationCache } from './conversation-cache.js';
import { decodeCursor, invalidCursor, pageOf } from './cursor.js';
import { activityMessage, HUB_PARTICIPANT } from './message-factory.js';
import type { MessageWriter } from './message-writer.js';
import type { AgentFilter, AgentProfile, AgentRecord, AgentSessionsPort, AgentState, AgentStore, ConversationStore, QueuePosition, RealtimePort } from './ports.js';
import { heldByLiveProcess, toAgentView, toWireMessage, type Conversation } from './types.js';
import type { AgentView } from '../contracts/events.js';
import type { ActivityType } from '../contracts/schemas.js';

export interface RoutingOptions {
  /** How long an agent whose last socket left stays ready, waiting for them to come back. */
  agentGraceMs: number;
  /** How often each process writes its heartbeat, reconciles its agents' sockets and looks at the queue again. */
  sweepMs: number;
  /** Waiting conversations read per round trip. */
  batch: number;
}

export interface RoutingStats {
  assigned: { queue: number; pick: number; transfer: number };
  waitMs: number[];
  noAgentAvailable: number;
}

/** An agent as a conversation participant. */
export const agentParticipant = (p: AgentProfile): Participant => ({ id: p.id, name: p.name, role: 'agent' });

/**
 * The MRE queue (§4): conversations wait per subject, first come first served, in the
 * database; each process offers them to the ready agents connected to it, longest idle first.
 * Every decision is a conditional update in the database (a slot on the agent, then the
 * conversation itself), so processes sharing it never assign a conversation twice.
 */
export class RoutingService {
  readonly presence: AgentPresence;
  /** This process, as agents' records and the heartbeat name it. */
  readonly processId = randomUUID();
  readonly stats: RoutingStats = { assigned: { queue: 0, pick: 0, transfer: 0 }, waitMs: [], noAgentAvailable: 0 };
  private dispatching: Promise<void> | undefined;
  private again = false;
  /** Conversations this process is assigning right now: the sweep leaves their sessions alone. */
  private readonly inFlight = new Set<string>();
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  private sweeping = false;
  /** Set by the first sweep that reached the database: failures before it are the hub starting up. */
  private reachedStore = false;
  /** Enqueues under way, by conversation: concurrent first messages share one. */
  private readonly enqueuing = new Map<string, Promise<void>>();

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
    const { agent } = this.presence.attach(
      profile,
      socketId,
      async () => {
        stored = await this.agents.connected(profile, this.processId);
      },
      principal.expiresAt,
    );
    await agent.connecting;
    if (!stored) throw new HubError('INTERNAL', 'agent record missing');
    this.presence.adopt(agent, stored);
    for (const conversationId of stored.active) await this.joinHeld(agent, conversationId, socketId);
    this.log.info({ agentId: profile.id, sockets: agent.sockets.size, state: stored.state, load: stored.active.length }, 'agent connected');
    if (stored.state === 'ready') this.kick();
    return stored;
  }

  /** An agent socket presented a fresh token: it is offered conversations until the new expiry. */
  agentRenewed(principal: AgentPrincipal, socketId: string): void {
    this.presence.renew(principal.agentId, socketId, principal.expiresAt);
  }

  /**
   * The agent's tokens were revoked: they are notReady at once (on every process, through the
   * database) and forgotten here, so nothing more is routed to them. Their conversations stay theirs.
   */
  async agentRevoked(agentId: string): Promise<void> {
    this.presence.remove(agentId);
    await this.agents.setState(agentId, 'notReady', new Date());
    await this.agents.disconnected(agentId, this.processId);
    this.log.info({ agentId }, 'agent revoked; out of routing');
  }

  /** An agent socket went away; after the last one, the agent is notReady unless they return within the grace period. */
  agentDisconnected(agentId: string, socketId: string): void {
    const left = this.presence.detach(agentId, socketId, (agent) => {
      this.log.info({ agentId, graceMs: this.options.agentGraceMs }, 'agent did not come back; now notReady (conversations kept)');
      this.agents.gone(agentId, this.processId, new Date()).catch((err: unknown) => this.log.warn({ err: (err as Error).message, agentId }, 'could not mark an agent gone'));
      agent.joined.clear();
    });
    if (!left) return;
    this.log.info({ agentId, graceMs: this.options.agentGraceMs }, 'agent has no socket left; waiting for them to come back');
    // No live socket: nobody counts on this agent for new conversations meanwhile.
    this.agents.disconnected(agentId, this.processId).catch(() => undefined);
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
  async list(filter: AgentFilter, cursor: string | undefined, pageSize: number): Promise<{ data: AgentView[]; nextCursor: string | null }> {
    let afterId: string | undefined;
    if (cursor !== undefined) {
      const [id] = decodeCursor('a', cursor);
      if (typeof id !== 'string' || id.length > 200) throw invalidCursor();
      afterId = id;
    }
    const [records, live] = await Promise.all([this.agents.list(filter, afterId, pageSize + 1), this.agents.liveProcesses(new Date())]);
    const page = pageOf(records, pageSize, 'a', (last) => [last.id]);
    return { data: page.data.map((r) => toAgentView(r, heldByLiveProcess(r, live))), nextCursor: page.nextCursor };
  }

  // ------------------------------------------------------------------ the queue

  /** A conversation was just opened waiting (init, a connector's first message): hand-off, then routing. */
  async opened(conversation: Conversation): Promise<void> {
    if (conversation.status !== 'queued' || !conversation.queuedAt) return;
    try {
      await this.announce(conversation, HUB_PARTICIPANT, 'handOff', { subject: conversation.subject, reason: 'queued' }, `handOff:${conversation.routingRev ?? 0}`);
    } catch (err) {
      // The conversation is in the queue all the same: routing must not wait on the notice.
      this.log.warn({ err: (err as Error).message, conversationId: conversation.id }, 'could not store the hand-off notice');
    }
    this.afterQueued(conversation);
  }

  /** Puts a conversation opened without waiting (a campaign's) in the queue, once its customer writes. */
  async enqueue(conversation: Conversation): Promise<void> {
    if (conversation.status !== 'queued' || conversation.queuedAt || conversation.agent) return;
    let pending = this.enqueuing.get(conversation.id);
    if (!pending) {
      pending = this.enqueueOnce(conversation.id).finally(() => this.enqueuing.delete(conversation.id));
      this.enqueuing.set(conversation.id, pending);
    }
    return pending;
  }

  /**
   * The customer wrote: a conversation opened without waiting now waits for an agent (once; a
   * no-op after that). Never throws: a queueing that fails is tried again by their next message.
   */
  async customerWrote(conversation: Conversation): Promise<void> {
    await this.enqueue(conversation).catch((err: unknown) => this.log.warn({ err: (err as Error).message, conversationId: conversation.id }, 'could not queue the conversation'));
  }

  private async enqueueOnce(id: string): Promise<void> {
    const queued = await this.conversations.enqueue(id, new Date());
    const current = queued ?? (await this.conversations.findById(id));
    if (current) this.cache.put(current);
    if (queued) await this.opened(queued);
  }

  /** A conversation is (back) in the queue: a dispatch pass, then noAgentAvailable when nobody eligible is there. */
  afterQueued(conversation: Conversation): void {
    this.dispatch()
      .then(() => this.noticeIfNobody(conversation.id))
      .catch((err: unknown) => this.failed(err, { conversationId: conversation.id }));
  }

  /** Starts a dispatch pass without waiting for it (a slot was freed, an agent became available). */
  kick(): void {
    this.dispatch().catch((err: unknown) => this.failed(err, {}));
  }

  /** A routing step failed: the sweep tries again (nothing to report once the hub is closing). */
  private failed(err: unknown, context: Record<string, unknown>): void {
    if (this.closed) return;
    // Before the database first answered (the hub listens while it connects), this is expected.
    const level = this.reachedStore ? 'warn' : 'debug';
    this.log[level]({ ...context, err: (err as Error).message }, 'routing failed; the sweep retries');
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
        if (this.log.isLevelEnabled('debug')) {
          const order = available.map((a) => `${a.profile.id}@${a.record?.idleSince.toISOString()}:${a.record?.active.length}`);
          this.log.debug({ conversationId: conversation.id, agentId: agent.profile.id, order }, 'offering a conversation');
        }
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
      if (!(await this.takeSlot(agentId, conversation.id, false))) {
        // Full or no longer ready (another process, another tab): look again before offering more.
        this.presence.adopt(agent, await this.agents.findById(agentId));
        return false;
      }
      let claimed: Conversation | null;
      try {
        claimed = await this.conversations.claim(conversation.id, agentParticipant(agent.profile));
      } catch (err) {
        await this.freeSlot(agentId, conversation.id).catch(() => undefined);
        throw err;
      }
      if (!claimed) {
        // Another agent or process took it first.
        await this.freeSlot(agentId, conversation.id);
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

  /** After an assignment: the customer (and other staff) get participantJoined, the agent's sockets here join. */
  async welcome(conversation: Conversation, agent: LocalAgent | undefined): Promise<void> {
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
    const [ready, live] = await Promise.all([this.agents.readyWithSkill(current.subject), this.agents.liveProcesses(new Date())]);
    if (ready.some((a) => heldByLiveProcess(a, live) && a.active.length < a.maxChats && a.id !== current.previousAgentId)) return;
    this.stats.noAgentAvailable += 1;
    await this.announce(current, HUB_PARTICIPANT, 'noAgentAvailable', { subject: current.subject }, `noAgent:${current.routingRev ?? 0}`);
  }

  /** An agent joined a waiting conversation themselves: they take it (beyond maxChats if they choose to). */
  async pick(conversation: Conversation, agent: Participant): Promise<Conversation | null> {
    if (conversation.status !== 'queued') return null;
    await this.presence.get(agent.id)?.connecting;
    const reserved = await this.takeSlot(agent.id, conversation.id, true);
    const claimed = await this.conversations.claim(conversation.id, agent);
    if (!claimed) {
      if (reserved) await this.freeSlot(agent.id, conversation.id);
      return null;
    }
    const local = this.presence.get(agent.id);
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
    await this.freeSlot(agentId, conversation.id);
    this.kick();
  }

  /** Takes a slot on the agent for the conversation (see AgentStore.reserve); false when refused. */
  async takeSlot(agentId: string, conversationId: string, force: boolean): Promise<boolean> {
    const record = await this.agents.reserve(agentId, conversationId, new Date(), force);
    const local = this.presence.get(agentId);
    if (local) this.presence.adopt(local, record);
    return record !== null;
  }

  /** Gives the agent's slot for the conversation back (no-op when they do not hold it). */
  async freeSlot(agentId: string, conversationId: string): Promise<void> {
    const record = await this.agents.release(agentId, conversationId);
    const local = this.presence.get(agentId);
    if (local) {
      local.joined.delete(conversationId);
      this.presence.adopt(local, record);
    }
  }

  /** Stores a hub announcement (an ActivityMessage to everyone) and delivers it. */
  async announce(conversation: Conversation, from: Participant, type: ActivityType, info: Record<string, unknown>, onceKey?: string): Promise<void> {
    const message = activityMessage(conversation, from, type, info, [], onceKey);
    await this.writer.write(message, (stored) => this.realtime.deliver(toWireMessage(stored), stored.audience));
  }

  // ------------------------------------------------------------------ the sweep

  /**
   * Writes this process's heartbeat, joins its agents' sockets to conversations another process
   * assigned or transferred to them (and out of those taken away), and offers the queue again.
   */
  async sweep(): Promise<void> {
    // A sweep slower than the interval is not run twice at once.
    if (this.closed || this.sweeping) return;
    this.sweeping = true;
    try {
      // One write per process, however many agents it holds.
      await this.agents.heartbeat(this.processId, this.leaseEnd());
      const local = this.presence.connected();
      const ids = local.map((a) => a.profile.id);
      if (ids.length > 0) {
        const versions = new Map(local.map((a) => [a, a.version]));
        const records = new Map((await this.agents.findMany(ids)).map((r) => [r.id, r]));
        for (const agent of local) {
          const record = records.get(agent.profile.id);
          // A write of this process's since the read is newer: keep it, reconcile next time.
          if (record && agent.version === versions.get(agent)) await this.reconcile(agent, record);
        }
      }
      await this.dispatch();
      this.reachedStore = true;
    } catch (err) {
      this.failed(err, {});
    } finally {
      this.sweeping = false;
    }
  }

  private async reconcile(agent: LocalAgent, record: AgentRecord): Promise<void> {
    this.presence.adopt(agent, record);
    const agentId = agent.profile.id;
    for (const id of record.active) {
      if (!agent.joined.has(id) && !this.inFlight.has(id)) await this.joinHeld(agent, id);
    }
    for (const id of [...agent.joined]) {
      if (record.active.includes(id) || this.inFlight.has(id)) continue;
      agent.joined.delete(id);
      const conversation = await this.conversations.findById(id);
      // Given away elsewhere (transfer, leave): out. Ended: stay, to read it.
      if (conversation && conversation.status !== 'ended' && conversation.agent?.id !== agentId) await this.sessions.leave(agentId, id);
    }
  }

  /** Joins the agent's sockets here (or only `socketId`) to a conversation their record says they hold, if it still is theirs. */
  private async joinHeld(agent: LocalAgent, conversationId: string, socketId?: string): Promise<void> {
    const conversation = await this.conversations.findById(conversationId);
    if (conversation?.status !== 'active' || conversation.agent?.id !== agent.profile.id) return;
    agent.joined.add(conversationId);
    this.cache.put(conversation);
    await this.sessions.join(agent.profile.id, conversation, socketId);
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
    // This process's agents are disconnected at once, not when the heartbeat runs out.
    this.agents.heartbeat(this.processId, new Date(0)).catch(() => undefined);
  }
}

/** May `agent` take `conversation`? Skill match (any agent for an empty subject), and not the agent who gave it away. */
function eligible(agent: LocalAgent, conversation: Conversation): boolean {
  if (conversation.previousAgentId === agent.profile.id) return false;
  if (!conversation.subject) return true;
  return (agent.record?.skills ?? agent.profile.skills).includes(conversation.subject);
}
