import { Router } from 'express';
import type { TokenService } from '../../auth/token.service.js';
import { HubError } from '../../contracts/errors.js';
import { agentsQuerySchema, agentTokenSchema, parseOrThrow } from '../../contracts/schemas.js';
import type { RoutingService } from '../../domain/routing.service.js';
import { toAgentView } from '../../domain/types.js';
import { requireSystem } from './auth.middleware.js';

const encodeCursor = (id: string): string => Buffer.from(JSON.stringify(['a', id])).toString('base64url');

function decodeCursor(cursor: string): string {
  try {
    const [tag, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (tag === 'a' && typeof id === 'string' && id.length <= 200) return id;
  } catch {
    // Falls through to the error below.
  }
  throw new HubError('BAD_REQUEST', 'cursor is not one this hub issued', [{ field: 'cursor', message: 'is not a valid cursor' }]);
}

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
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const page = await routing.list({ state: query.state, skill: query.skill }, after, query.page_size + 1);
    const data = page.slice(0, query.page_size);
    const last = data[data.length - 1];
    const now = Date.now();
    res.json({ data: data.map((r) => toAgentView(r, now)), next_cursor: page.length > query.page_size && last ? encodeCursor(last.id) : null });
  });
  return router;
}
