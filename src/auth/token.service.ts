import jwt from 'jsonwebtoken';
import { matchesDigest, secretDigest } from './secret-digest.js';
import { HubError } from '../contracts/errors.js';

const ISSUER = 'chat-hub';
const ALGORITHM = 'HS256' as const;

export interface CustomerPrincipal {
  kind: 'customer';
  participantId: string;
  conversationId: string;
  name: string;
  /** The §6 channel of a chat plugin token (chatplugin.authenticate); absent for init tokens. */
  channelId?: string;
  /** A chat plugin token's resume epoch: revoking the conversation's resume tokens stops it too. */
  epoch?: number;
  /** When the token stops being valid (ms since epoch); a connection authenticated by it stops too. */
  expiresAt?: number;
}
export interface AgentPrincipal {
  kind: 'agent';
  agentId: string;
  name: string;
  skills: string[];
  maxChats: number;
  /** The agent's token epoch when issued; POST /api/agents/:id/revoke bumps it, so older tokens stop. */
  epoch?: number;
  expiresAt?: number;
}
/** What a resume token names: one visitor of one conversation in one channel, at a revocation epoch. */
export interface ResumeGrant {
  participantId: string;
  conversationId: string;
  channelId: string;
  /** The conversation's resume epoch when issued; revoking bumps the epoch, so older tokens stop. */
  epoch: number;
}
export interface SystemPrincipal {
  kind: 'system';
}
export type Principal = CustomerPrincipal | AgentPrincipal | SystemPrincipal;

export interface TokenServiceOptions {
  secret: string;
  systemToken: string;
  customerTokenTtlSeconds: number;
  agentTokenTtlSeconds: number;
  /** Chat plugin tokens are short-lived: the widget gets a fresh one with its resume token. */
  chatPluginTokenTtlSeconds: number;
  resumeTokenTtlSeconds: number;
  defaultMaxChats: number;
}


/** Issues and verifies the hub's credentials: HS256 JWTs with expiry, and the static system token. */
export class TokenService {
  private readonly systemDigest: Buffer;

  constructor(private readonly options: TokenServiceOptions) {
    this.systemDigest = secretDigest(options.systemToken);
  }

  /** Constant-time comparison (of digests, so lengths never leak) against the system token. */
  isSystemToken(candidate: string): boolean {
    return matchesDigest(candidate, this.systemDigest);
  }

  /** A customer token; `epoch` is the conversation's resume epoch, so revoking the conversation's tokens stops it too. */
  issueCustomerToken(p: Omit<CustomerPrincipal, 'kind'>): string {
    return jwt.sign({ cid: p.conversationId, name: p.name, epoch: p.epoch ?? 0 }, this.options.secret, {
      algorithm: ALGORITHM,
      audience: 'customer',
      issuer: ISSUER,
      subject: p.participantId,
      expiresIn: this.options.customerTokenTtlSeconds,
    });
  }

  /** A chat plugin token: a customer token that also names the §6 channel (claims conversation_id, channel_id). */
  issueChatPluginToken(p: { participantId: string; conversationId: string; channelId: string; name: string; epoch: number }): string {
    return jwt.sign(
      { cid: p.conversationId, name: p.name, conversation_id: p.conversationId, channel_id: p.channelId, epoch: p.epoch },
      this.options.secret,
      { algorithm: ALGORITHM, audience: 'customer', issuer: ISSUER, subject: p.participantId, expiresIn: this.options.chatPluginTokenTtlSeconds },
    );
  }

  /** A long-lived resume token; it authenticates nothing by itself, only chatplugin.authenticate accepts it. */
  issueResumeToken(g: ResumeGrant): string {
    return jwt.sign(
      { conversation_id: g.conversationId, channel_id: g.channelId, epoch: g.epoch },
      this.options.secret,
      { algorithm: ALGORITHM, audience: 'resume', issuer: ISSUER, subject: g.participantId, expiresIn: this.options.resumeTokenTtlSeconds },
    );
  }

  /** The grant of a resume token, or UNAUTHORIZED (invalid, expired, or not a resume token). Revocation is the caller's check. */
  verifyResumeToken(token: string): ResumeGrant {
    let claims: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(token, this.options.secret, { algorithms: [ALGORITHM], issuer: ISSUER, audience: 'resume' });
      if (typeof decoded === 'string') throw new Error('unexpected string payload');
      claims = decoded;
    } catch (err) {
      throw new HubError('UNAUTHORIZED', err instanceof jwt.TokenExpiredError ? 'resume token expired' : 'invalid resume token');
    }
    const { sub, conversation_id: conversationId, channel_id: channelId, epoch } = claims as Record<string, unknown>;
    if (typeof sub !== 'string' || typeof conversationId !== 'string' || typeof channelId !== 'string' || typeof epoch !== 'number') {
      throw new HubError('UNAUTHORIZED', 'invalid resume token');
    }
    return { participantId: sub, conversationId, channelId, epoch };
  }

  /** An agent token; `epoch` is the agent's token epoch now (see CredentialService.revokeAgent). */
  issueAgentToken(p: { id: string; name: string; skills: string[]; maxChats?: number | undefined; epoch?: number | undefined }): string {
    return jwt.sign(
      { name: p.name, skills: p.skills, maxChats: p.maxChats ?? this.options.defaultMaxChats, epoch: p.epoch ?? 0 },
      this.options.secret,
      { algorithm: ALGORITHM, audience: 'agent', issuer: ISSUER, subject: p.id, expiresIn: this.options.agentTokenTtlSeconds },
    );
  }

  /**
   * Resolves a bearer credential (system token or JWT) to a principal, or throws UNAUTHORIZED.
   * Signature and expiry only: revocation needs the database, see CredentialService.authenticate.
   */
  authenticate(token: string): Principal {
    if (this.isSystemToken(token)) return { kind: 'system' };
    let claims: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(token, this.options.secret, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: ['customer', 'agent'],
      });
      if (typeof decoded === 'string') throw new Error('unexpected string payload');
      claims = decoded;
    } catch (err) {
      const reason = err instanceof jwt.TokenExpiredError ? 'token expired' : 'invalid token';
      throw new HubError('UNAUTHORIZED', reason);
    }
    if (typeof claims.exp !== 'number' || typeof claims.sub !== 'string') {
      throw new HubError('UNAUTHORIZED', 'invalid token');
    }
    if (claims.aud === 'customer' && typeof claims['cid'] === 'string') {
      const customer: CustomerPrincipal = {
        kind: 'customer',
        participantId: claims.sub,
        conversationId: claims['cid'],
        name: typeof claims['name'] === 'string' ? claims['name'] : '',
        expiresAt: claims.exp * 1000,
      };
      if (typeof claims['channel_id'] === 'string') customer.channelId = claims['channel_id'];
      if (typeof claims['epoch'] === 'number') customer.epoch = claims['epoch'];
      return customer;
    }
    if (claims.aud === 'agent') {
      const skills = Array.isArray(claims['skills']) ? claims['skills'].filter((s): s is string => typeof s === 'string') : [];
      const agent: AgentPrincipal = {
        kind: 'agent',
        agentId: claims.sub,
        name: typeof claims['name'] === 'string' ? claims['name'] : claims.sub,
        skills,
        maxChats: typeof claims['maxChats'] === 'number' ? claims['maxChats'] : this.options.defaultMaxChats,
        expiresAt: claims.exp * 1000,
      };
      if (typeof claims['epoch'] === 'number') agent.epoch = claims['epoch'];
      return agent;
    }
    throw new HubError('UNAUTHORIZED', 'invalid token');
  }
}

/** Extracts the token from an `Authorization: Bearer …` header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Throws UNAUTHORIZED when a principal's token has expired since it was checked. */
export function assertNotExpired(principal: Principal | undefined, now = Date.now()): void {
  if (principal && principal.kind !== 'system' && principal.expiresAt !== undefined && principal.expiresAt <= now) {
    throw new HubError('UNAUTHORIZED', 'token expired; reconnect with a fresh token');
  }
}
