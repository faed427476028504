import { Router } from 'express';
import type { TokenService } from '../../auth/token.service.js';
import { agentsQuerySchema, agentTokenSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { RoutingService } from '../../domain/routing.service.js';
import { requireSystem } from './auth.middleware.js';

/** /api/agents: credentials for agents, minted by a trusted backend, and who is available. */
export function agentsRouter(tokens: TokenService, routing: RoutingService): Router {
  const router = Router();
  router.post('/token', (req, res) => {
    requireSystem(req, tokens);
    const agent = parseOrThrow(agentTokenSchema, req.body, 'agent token request');
    res.json({ token: tokens.issueAgentToken(agent) });
  });
  router.get('/', async (req, res) => {
    requireSystem(req, tokens);
    const query = parseOrThrow(agentsQuerySchema, { ...req.query }, 'query');
    const page = await routing.list({ state: query.state, skill: query.skill }, query.cursor, query.page_size);
    res.json({ data: page.data, next_cursor: page.nextCursor });
  });
  return router;
}
