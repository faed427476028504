import type { AgentProfile, AgentRecord } from './ports.js';

/** An agent with at least one socket on this process (or in their grace period after the last one left). */
export interface LocalAgent {
  profile: AgentProfile;
  /** The agent's sockets here, each with the expiry of the token it holds (ms since epoch; Infinity for none). */
  sockets: Map<string, number>;
  /** The agent's record as last read or written by this process. */
  record: AgentRecord | undefined;
  /** Bumped by every write's result, so a read that started before a write never overwrites it. */
  version: number;
  /** Settles once the record exists in the database (the first socket's upsert). */
  connecting: Promise<void>;
  /** Conversations this process has joined the agent's sockets to. */
  joined: Set<string>;
  graceTimer: NodeJS.Timeout | undefined;
}

/**
 * The agents connected to this process. Several sockets of one agent (tabs, devices) are one
 * agent here: one record, one load, one grace period when the last of them goes.
 */
export class AgentPresence {
  private readonly agents = new Map<string, LocalAgent>();

  constructor(private readonly graceMs: number) {}

  get(id: string): LocalAgent | undefined {
    return this.agents.get(id);
  }

  /** Adds a socket (its token valid until `expiresAt`); `first` is true when the agent was not here (or their grace period was running). */
  attach(profile: AgentProfile, socketId: string, connect: () => Promise<void>, expiresAt = Number.POSITIVE_INFINITY): { agent: LocalAgent; first: boolean } {
    let agent = this.agents.get(profile.id);
    const first = !agent || agent.sockets.size === 0;
    if (!agent) {
      agent = { profile, sockets: new Map(), record: undefined, version: 0, connecting: Promise.resolve(), joined: new Set(), graceTimer: undefined };
      this.agents.set(profile.id, agent);
    }
    agent.profile = profile;
    clearTimeout(agent.graceTimer);
    agent.graceTimer = undefined;
    agent.sockets.set(socketId, expiresAt);
    // Every new socket refreshes the profile (a new token may change skills or maxChats) and the
    // presence, one after the other.
    agent.connecting = agent.connecting.then(connect, connect);
    return { agent, first };
  }

  /** A socket presented a fresh token: it counts until the new expiry. */
  renew(id: string, socketId: string, expiresAt = Number.POSITIVE_INFINITY): void {
    const agent = this.agents.get(id);
    if (agent?.sockets.has(socketId)) agent.sockets.set(socketId, expiresAt);
  }

  /** Forgets the agent at once (their tokens were revoked): no grace period, nothing offered to them. */
  remove(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    clearTimeout(agent.graceTimer);
    this.agents.delete(id);
  }

  /** Removes a socket; after the last one, calls `expire` unless a socket returns within the grace period. */
  detach(id: string, socketId: string, expire: (agent: LocalAgent) => void): LocalAgent | undefined {
    const agent = this.agents.get(id);
    if (!agent || !agent.sockets.delete(socketId) || agent.sockets.size > 0) return undefined;
    agent.graceTimer = setTimeout(() => {
      if (agent.sockets.size > 0 || this.agents.get(id) !== agent) return;
      this.agents.delete(id);
      expire(agent);
    }, this.graceMs);
    agent.graceTimer.unref();
    return agent;
  }

  /** Keeps the latest record a write returned. */
  adopt(agent: LocalAgent, record: AgentRecord | null | undefined): void {
    if (!record) return;
    agent.record = record;
    agent.version += 1;
  }

  /**
   * Agents with a socket here whose token has not expired, that are ready and under maxChats,
   * longest idle first. An expired token is never offered a conversation, even before its socket closes.
   */
  available(now = Date.now()): LocalAgent[] {
    const ready: LocalAgent[] = [];
    for (const agent of this.agents.values()) {
      const r = agent.record;
      if (r && r.state === 'ready' && r.active.length < r.maxChats && hasLiveSocket(agent, now)) ready.push(agent);
    }
    return ready.sort((a, b) => (a.record?.idleSince.getTime() ?? 0) - (b.record?.idleSince.getTime() ?? 0) || a.profile.id.localeCompare(b.profile.id));
  }

  /** Agents with a socket here. */
  connected(): LocalAgent[] {
    return [...this.agents.values()].filter((a) => a.sockets.size > 0);
  }

  get size(): number {
    return this.agents.size;
  }

  close(): void {
    for (const agent of this.agents.values()) clearTimeout(agent.graceTimer);
    this.agents.clear();
  }
}

/** Whether one of the agent's sockets here holds a token that has not expired. */
function hasLiveSocket(agent: LocalAgent, now: number): boolean {
  for (const expiresAt of agent.sockets.values()) if (expiresAt > now) return true;
  return false;
}
