import { Router } from 'express';
import type { TokenService } from '../../auth/token.service.js';
import { agentTokenSchema, parseOrThrow } from '../../contracts/schemas.js';
import { requireSystem } from './auth.middleware.js';

/** /api/agents: credentials for agents, minted by a trusted backend. */
export function agentsRouter(tokens: TokenService): Router {
  const router = Router();
  router.post('/token', (req, res) => {
    requireSystem(req, tokens);
    const agent = parseOrThrow(agentTokenSchema, req.body, 'agent token request');
    res.json({ token: tokens.issueAgentToken(agent) });
  });
  return router;
}
