import { Router, type Request } from 'express';
import type { RateLimits } from '../../adapters/rate-limits/rate-limits.js';
import { bearerToken, type Principal } from '../../auth/token.service.js';
import { parseOrThrow } from '../../contracts/schemas.js';
import { chatPluginAuthenticateSchema, chatPluginResumeTokenSchema, chatPluginRevokeSchema, chatPluginSendSchema } from '../../contracts/seed-api.schemas.js';
import type { ChatPluginService } from '../../domain/chat-plugin.service.js';
import { seedMessageOf, toSeedMessage } from '../../domain/seed-view.js';
import { principalOf, type Authenticator } from './auth.middleware.js';
import { idempotencyKey } from './idempotency.js';
import { consumeOrRefuse } from './rate-limit.js';

/** The caller's principal when an Authorization header is present; undefined without one. */
async function optionalPrincipal(req: Request, credentials: Authenticator): Promise<Principal | undefined> {
  return bearerToken(req.get('authorization')) === undefined ? undefined : principalOf(req, credentials);
}

/** The chat plugin's HTTP side (seeds 000/001): authenticate, resume tokens, send. */
export function chatPluginRouter(chatPlugin: ChatPluginService, credentials: Authenticator, authenticatePerMinutePerIp: number, sendsPerSecond: number, limits: RateLimits): Router {
  const router = Router();
  const limiter = limits.create({ name: 'chatplugin-auth', points: authenticatePerMinutePerIp, durationSeconds: 60 });
  // A visitor's sends are bounded like a socket's events (RATE_LIMIT_SOCKET_EVENTS_PER_SECOND).
  const sends = limits.create({ name: 'chatplugin-send', points: sendsPerSecond, durationSeconds: 1 });

  router.post('/chatplugin.authenticate', async (req, res) => {
    // Unauthenticated and it creates conversations: bounded per client address.
    await consumeOrRefuse(limiter, req.ip ?? 'unknown', res, 'chatplugin.authenticate requests');
    const input = parseOrThrow(chatPluginAuthenticateSchema, req.body, 'chatplugin.authenticate request');
    const { token, conversation, messages, hasMore } = await chatPlugin.authenticate(input);
    res.json({
      token,
      messages: messages.map(seedMessageOf),
      has_more: hasMore,
      conversation_id: conversation.id,
      channel_id: conversation.channelId,
      status: conversation.status,
    });
  });

  router.post('/chatplugin.resumeToken', async (req, res) => {
    const principal = await principalOf(req, credentials);
    const input = parseOrThrow(chatPluginResumeTokenSchema, req.body ?? {}, 'chatplugin.resumeToken request');
    res.json({ resume_token: await chatPlugin.resumeToken(principal, input) });
  });

  router.post('/chatplugin.revokeResumeToken', async (req, res) => {
    const principal = await optionalPrincipal(req, credentials);
    const input = parseOrThrow(chatPluginRevokeSchema, req.body ?? {}, 'chatplugin.revokeResumeToken request');
    const conversation = await chatPlugin.revoke(principal, input);
    res.json({ conversation_id: conversation.id, revoked: true });
  });

  router.post('/chatplugin.send', async (req, res) => {
    const principal = await principalOf(req, credentials);
    if (principal.kind === 'customer') await consumeOrRefuse(sends, principal.participantId, res, 'chatplugin.send requests');
    const key = idempotencyKey(req);
    const input = parseOrThrow(chatPluginSendSchema, req.body, 'chatplugin.send request');
    res.json(toSeedMessage(await chatPlugin.send(principal, input, key)));
  });

  return router;
}
