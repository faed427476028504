import type { Logger } from 'pino';
import { assertNotExpired, type Principal, type TokenService } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { ConversationCache } from './conversation-cache.js';
import type { AgentCredentialStore } from './ports.js';

export interface CredentialServiceOptions {
  /** How long an agent's token epoch read from the database is trusted (another process's revocation is seen within it). */
  cacheMs: number;
  /** Agents whose epoch is kept in memory. */
  maxCachedAgents?: number;
}

/** Told after an agent's tokens were revoked (their sockets close, the routing forgets them). */
export type AgentRevokedListener = (agentId: string) => Promise<void> | void;

interface CachedEpoch {
  epoch: number;
  at: number;
}

/**
 * Resolves bearer credentials to principals with revocation checked, the one place every surface
 * (HTTP, both Socket.IO namespaces, each socket event) asks. A customer or chat plugin token is
 * revoked once its conversation's resume epoch passed the token's; an agent token once the agent's
 * token epoch (POST /api/agents/:id/revoke) passed it. Epochs only grow.
 */
export class CredentialService {
  private readonly agentEpochs = new Map<string, CachedEpoch>();
  /** One database read per agent at a time, however many events miss together. */
  private readonly loading = new Map<string, Promise<number>>();
  private readonly revokedListeners: AgentRevokedListener[] = [];
  readonly stats = { agentRevocations: 0 };

  constructor(
    private readonly tokens: TokenService,
    private readonly conversations: ConversationCache,
    private readonly agents: AgentCredentialStore,
    private readonly options: CredentialServiceOptions,
    private readonly log: Logger,
  ) {}

  /** The principal of a bearer credential: UNAUTHORIZED when invalid, expired or revoked. */
  async authenticate(token: string): Promise<Principal> {
    const principal = this.tokens.authenticate(token);
    await this.assertCurrent(principal);
    return principal;
  }

  /** Throws UNAUTHORIZED when the principal's token has expired or been revoked since it was issued. */
  async assertCurrent(principal: Principal | undefined): Promise<void> {
    if (!principal || principal.kind === 'system') return;
    assertNotExpired(principal);
    if (principal.kind === 'customer') {
      const conversation = await this.conversations.get(principal.conversationId);
      // An unknown conversation is for the caller to report (NOT_FOUND).
      if (conversation && (principal.epoch ?? 0) < (conversation.resumeEpoch ?? 0)) {
        throw new HubError('UNAUTHORIZED', 'token revoked; authenticate again');
      }
      return;
    }
    if ((principal.epoch ?? 0) < (await this.agentEpoch(principal.agentId))) {
      throw new HubError('UNAUTHORIZED', 'agent token revoked; ask for a new one');
    }
  }

  /** The agent's token epoch: from memory when read within cacheMs, or from the database (`fresh`). */
  async agentEpoch(agentId: string, fresh = false): Promise<number> {
    const hit = this.agentEpochs.get(agentId);
    if (!fresh && hit && Date.now() - hit.at < this.options.cacheMs) return hit.epoch;
    let load = this.loading.get(agentId);
    if (!load) {
      load = this.agents.epoch(agentId).then((epoch) => {
        this.remember(agentId, epoch);
        return epoch;
      });
      this.loading.set(agentId, load);
      const forget = (): void => void this.loading.delete(agentId);
      load.then(forget, forget);
    }
    return load;
  }

  /** Calls `listener` after every agent revocation this process makes. */
  onAgentRevoked(listener: AgentRevokedListener): void {
    this.revokedListeners.push(listener);
  }

  /**
   * POST /api/agents/:id/revoke: every token of the agent issued so far stops (their epoch is now
   * older), then the listeners close the agent's sockets and take them out of routing.
   */
  async revokeAgent(agentId: string): Promise<number> {
    const epoch = await this.agents.revoke(agentId, new Date());
    this.remember(agentId, epoch);
    this.stats.agentRevocations += 1;
    this.log.info({ agentId, epoch }, 'agent tokens revoked');
    for (const listener of this.revokedListeners) {
      try {
        await listener(agentId);
      } catch (err) {
        // The revocation is stored: the tokens are refused whatever a listener did.
        this.log.warn({ err: (err as Error).message, agentId }, 'an agent revocation listener failed');
      }
    }
    return epoch;
  }

  private remember(agentId: string, epoch: number): void {
    const current = this.agentEpochs.get(agentId);
    // A slow read that started before a revocation must not put the older epoch back.
    const value = Math.max(epoch, current?.epoch ?? 0);
    this.agentEpochs.delete(agentId);
    if (this.agentEpochs.size >= (this.options.maxCachedAgents ?? 10_000)) {
      const oldest = this.agentEpochs.keys().next().value;
      if (oldest !== undefined) this.agentEpochs.delete(oldest);
    }
    this.agentEpochs.set(agentId, { epoch: value, at: Date.now() });
  }
}
