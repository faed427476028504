import type { Logger } from 'pino';
import { assertNotExpired, type Principal, type TokenService } from '../auth/token.service.js';
import { HubError } from '../contracts/errors.js';
import type { ConversationCache } from './conversation-cache.js';
import type { AgentCredentialStore } from './ports.js';

export interface CredentialServiceOptions {
  /** How often the revocations made by other processes are read (they are seen within this). */
  cacheMs: number;
}

/**
 * Revocations are read back from this long before the last read, so one stored by a process whose
 * clock is behind, or whose write landed late, is still seen.
 */
const FEED_OVERLAP_MS = 30_000;

/** Told after an agent's tokens were revoked (their sockets close, the routing forgets them). */
export type AgentRevokedListener = (agentId: string) => Promise<void> | void;

/**
 * Resolves bearer credentials to principals with revocation checked, the one place every surface
 * (HTTP, both Socket.IO namespaces, each socket event) asks. A customer or chat plugin token is
 * revoked once its conversation's resume epoch passed the token's; an agent token once the agent's
 * token epoch (POST /api/agents/:id/revoke) passed it. Epochs only grow.
 */
export class CredentialService {
  /** Epochs of every agent ever revoked (an agent not here has epoch 0), as of the last read. */
  private readonly agentEpochs = new Map<string, number>();
  /** When the revocations were last read (Date.now()), and the read in progress. */
  private readAt: number | undefined;
  private reading: Promise<void> | undefined;
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

  /**
   * The agent's token epoch. Every process keeps the epochs of all revoked agents and reads the
   * revocations since its last read at most every cacheMs (one query, however many agents are
   * online), so checking an event costs no database read. `fresh` reads this agent's epoch itself
   * (issuing a token).
   */
  async agentEpoch(agentId: string, fresh = false): Promise<number> {
    if (fresh) {
      this.remember(agentId, await this.agents.epoch(agentId));
    } else if (this.readAt === undefined || Date.now() - this.readAt >= this.options.cacheMs) {
      await this.readRevocations();
    }
    return this.agentEpochs.get(agentId) ?? 0;
  }

  /** Reads the revocations stored since the last read (all of them the first time); one read at a time. */
  private readRevocations(): Promise<void> {
    this.reading ??= (async () => {
      const started = Date.now();
      const since = this.readAt === undefined ? new Date(0) : new Date(this.readAt - FEED_OVERLAP_MS);
      try {
        for (const { agentId, epoch } of await this.agents.revokedSince(since)) this.remember(agentId, epoch);
        this.readAt = started;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
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
    // A slow read that started before a revocation must not put the older epoch back.
    const value = Math.max(epoch, this.agentEpochs.get(agentId) ?? 0);
    if (value > 0) this.agentEpochs.set(agentId, value);
  }
}
