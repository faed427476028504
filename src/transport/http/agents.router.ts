import { Router } from 'express';
import type { TokenService } from '../../auth/token.service.js';
import { agentParamsSchema, agentsQuerySchema, agentTokenSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { CredentialService } from '../../domain/credentials.service.js';
import type { RoutingService } from '../../domain/routing.service.js';
import { requireSystem } from './auth.middleware.js';

/** /api/agents: credentials for agents, minted and revoked by a trusted backend, and who is available. */
export function agentsRouter(tokens: TokenService, credentials: CredentialService, routing: RoutingService): Router {
  const router = Router();
  router.post('/token', async (req, res) => {
    await requireSystem(req, credentials);
    const agent = parseOrThrow(agentTokenSchema, req.body, 'agent token request');
    // The epoch as stored now, not as cached: a token minted after a revocation must work.
    const epoch = await credentials.agentEpoch(agent.id, true);
    res.json({ token: tokens.issueAgentToken({ ...agent, epoch }) });
  });
  router.post('/:id/revoke', async (req, res) => {
    await requireSystem(req, credentials);
    const { id } = parseOrThrow(agentParamsSchema, { ...req.params }, 'path');
    await credentials.revokeAgent(id);
    res.json({ agentId: id, revoked: true });
  });
  router.get('/', async (req, res) => {
    await requireSystem(req, credentials);
    const query = parseOrThrow(agentsQuerySchema, { ...req.query }, 'query');
    const page = await routing.list({ state: query.state, skill: query.skill }, query.cursor, query.page_size);
    res.json({ data: page.data, next_cursor: page.nextCursor });
  });
  return router;
}
