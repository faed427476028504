import { Router, type Response } from 'express';
import type { Logger } from 'pino';
import type { RateLimits } from '../../adapters/rate-limits/rate-limits.js';
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

/**
 * Sends a rendered PDF; resolves once its last byte went to the network, rejects with the
 * signal's reason (after destroying the response) when the response deadline passes first.
 */
function deliver(res: Response, pdf: Buffer, signal: AbortSignal, conversationId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      res.off('finish', onFinish);
      res.off('close', onClose);
    };
    const onFinish = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the client went away'));
    };
    const onAbort = (): void => {
      cleanup();
      res.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    res.once('finish', onFinish);
    res.once('close', onClose);
    res.status(200).set({
      'Content-Type': 'application/pdf',
      'Content-Length': String(pdf.length),
      'Content-Disposition': `attachment; filename="transcript-${conversationId}.pdf"`,
      // A transcript is personal data: no shared cache may keep it.
      'Cache-Control': 'private, no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(pdf);
  });
}

/** GET /api/customer/transcript/:id/:type: the PDF (rendered in a worker, then sent), or sent by mail. */
export function transcriptsRouter(transcripts: TranscriptService, credentials: Authenticator, perMinutePerCaller: number, log: Logger, limits: RateLimits): Router {
  const router = Router();
  const limiter = limits.create({ name: 'transcripts', points: perMinutePerCaller, durationSeconds: 60 });

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
    // The caller going away stops the render (and frees its slot) at once.
    const gone = new AbortController();
    res.once('close', () => gone.abort(new Error('the client went away')));
    try {
      await transcripts.writePdf(conversation, query.tz, (pdf, signal) => deliver(res, pdf, signal, conversation.id), gone.signal);
    } catch (err) {
      if (!res.headersSent && !gone.signal.aborted) throw err;
      // Cut off while sending (the deadline) or the client left: it sees a broken transfer, never a truncated file.
      if (!gone.signal.aborted && !(err instanceof HubError)) log.error({ err, conversationId: conversation.id }, 'transcript failed mid-stream');
      res.destroy();
    }
  });

  return router;
}
