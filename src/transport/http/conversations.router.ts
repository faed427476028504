import { Router } from 'express';
import { HubError } from '../../contracts/errors.js';
import { conversationsQuerySchema, parseOrThrow } from '../../contracts/schemas.js';
import type { ConversationService } from '../../domain/conversation.service.js';
import { toWireConversation } from '../../domain/types.js';
import { principalOf, type Authenticator } from './auth.middleware.js';

/** GET /api/conversations: agents and trusted backends browse conversations. */
export function conversationsRouter(conversations: ConversationService, credentials: Authenticator): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const principal = await principalOf(req, credentials);
    if (principal.kind === 'customer') throw new HubError('FORBIDDEN', 'listing conversations requires an agent or the system token');
    const query = parseOrThrow(conversationsQuerySchema, { ...req.query }, 'query');
    const filter = { status: query.status, subject: query.subject, channel: query.channel, refId: query.refId, agentId: query.agentId };
    const page = await conversations.list(filter, query.cursor, query.page_size);
    res.json({ data: page.data.map(toWireConversation), next_cursor: page.nextCursor });
  });
  return router;
}
