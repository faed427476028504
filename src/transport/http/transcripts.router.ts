import { Router } from 'express';
import type { Logger } from 'pino';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Principal } from '../../auth/token.service.js';
import { HubError } from '../../contracts/errors.js';
import { parseOrThrow, transcriptParamsSchema, transcriptQuerySchema } from '../../contracts/schemas.js';
import type { TranscriptService } from '../../domain/transcript.service.js';
import { principalOf, type Authenticator } from './auth.middleware.js';
import { consumeOrRefuse } from './rate-limit.js';

function callerKey(principal: Principal): string {
  if (principal.kind === 'system') return 'system';
  if (principal.kind === 'agent') return `agent:${principal.agentId}`;
  return `customer:${principal.participantId}`;
}

/** GET /api/customer/transcript/:id/:type: the PDF, streamed, or sent by mail. */
export function transcriptsRouter(transcripts: TranscriptService, credentials: Authenticator, perMinutePerCaller: number, log: Logger): Router {
  const router = Router();
  const limiter = new RateLimiterMemory({ points: perMinutePerCaller, duration: 60 });

  router.get('/:id/:type', async (req, res) => {
    const principal = await principalOf(req, credentials);
    await consumeOrRefuse(limiter, callerKey(principal), res, 'transcript requests');
    const params = parseOrThrow(transcriptParamsSchema, { ...req.params }, 'path');
    const query = parseOrThrow(transcriptQuerySchema, { ...req.query }, 'query');
    const conversation = await transcripts.find(principal, params.id);

    if (params.type === 'email') {
      await transcripts.email(principal, conversation, query.to, query.tz);
      res.status(200).end();
      return;
    }
    if (query.to !== undefined) throw new HubError('BAD_REQUEST', '"to" applies to the email type only', [{ field: 'to', message: 'applies to the email type only' }]);
    res.status(200).set({
      'Content-Type': 'application/pdf',
      'Content-Disposition': `attachment; filename="transcript-${conversation.id}.pdf"`,
      // A transcript is personal data: no shared cache may keep it.
      'Cache-Control': 'private, no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    try {
      await transcripts.writePdf(conversation, res, query.tz);
      res.end();
    } catch (err) {
      if (!res.headersSent) {
        res.removeHeader('Content-Disposition');
        throw err;
      }
      // Part of the PDF is out: the client must see a broken transfer, not a truncated file.
      if (!(err instanceof Error && err.name === 'OutputClosedError')) log.error({ err, conversationId: conversation.id }, 'transcript failed mid-stream');
      res.destroy();
    }
  });

  return router;
}
