import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { TranscriptData, TranscriptRenderer } from '../../domain/ports.js';
import { TranscriptBudgetError, type RenderBudget } from '../../domain/transcript-budget.js';
import type { RenderJob, RenderReply } from './transcript.worker.js';

/** Resolved beside this file, so it holds for dist/src/adapters/pdf as well as for any other layout tsc emits. */
const WORKER_FILE = new URL('./transcript.worker.js', import.meta.url);

export interface RenderPoolOptions {
  /** Workers kept at most: the hub's transcripts.maxConcurrent, which also bounds renders at once. */
  size: number;
  /** Old-generation heap of one worker; a render that needs more is stopped (budget 'memory'). */
  heapMb: number;
  /** An idle worker ends after this long, giving back its fonts' memory. */
  idleMs: number;
}

interface PooledWorker {
  worker: Worker;
  idleTimer?: NodeJS.Timeout | undefined;
}

/**
 * Renders transcripts in worker threads (transcript.worker.ts), one job per worker at a time.
 * Workers start on first use (each loads its fonts once) and are reused; a render over its time
 * budget, or one whose caller gave up, has its worker terminated: the only way to stop
 * synchronous drawing. The caller bounds how many renders run at once (TranscriptService's gate).
 */
export class WorkerTranscriptRenderer implements TranscriptRenderer {
  private readonly idle: PooledWorker[] = [];
  private readonly busy = new Set<PooledWorker>();
  private closed = false;

  constructor(
    private readonly options: RenderPoolOptions,
    private readonly log: Logger,
  ) {}

  async render(transcript: TranscriptData, budget: RenderBudget, signal?: AbortSignal): Promise<Buffer> {
    signal?.throwIfAborted();
    if (this.closed) throw new Error('the transcript renderer is closed');
    const pooled = this.take();
    const { worker } = pooled;
    const started = Date.now();
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (keep: boolean, outcome: () => void): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
        this.busy.delete(pooled);
        if (keep) this.giveBack(pooled);
        else void worker.terminate();
        outcome();
      };
      const onMessage = (reply: RenderReply): void => {
        if (reply.ok) settle(true, () => resolve(Buffer.from(reply.pdf.buffer, reply.pdf.byteOffset, reply.pdf.byteLength)));
        else if ('budget' in reply) settle(true, () => reject(new TranscriptBudgetError(reply.budget, reply.limit)));
        else settle(true, () => reject(new Error(`transcript worker: ${reply.error}`)));
      };
      const onError = (err: Error): void => {
        // resourceLimits reached: the worker is gone, the hub is not.
        if ((err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
          this.log.warn({ ms: Date.now() - started, heapMb: this.options.heapMb }, 'transcript render ran out of its memory budget');
          settle(false, () => reject(new TranscriptBudgetError('memory', this.options.heapMb)));
        } else settle(false, () => reject(err));
      };
      const onExit = (code: number): void => settle(false, () => reject(new Error(`transcript worker exited with code ${code}`)));
      const onAbort = (): void => settle(false, () => reject(signal?.reason));
      timer = setTimeout(() => {
        this.log.warn({ ms: Date.now() - started, timeoutMs: budget.timeoutMs, entries: transcript.entries.length }, 'transcript render over its time budget, worker stopped');
        settle(false, () => reject(new TranscriptBudgetError('time', budget.timeoutMs)));
      }, budget.timeoutMs);
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      const job: RenderJob = { transcript, maxPages: budget.maxPages, maxBytes: budget.maxBytes };
      try {
        worker.postMessage(job);
      } catch (err) {
        // Not structured-clonable: a bug, reported as such rather than as a budget.
        settle(true, () => reject(err));
      }
    });
  }

  /** Workers alive now: rendering (busy) and waiting for work (idle). */
  get load(): { busy: number; idle: number } {
    return { busy: this.busy.size, idle: this.idle.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    await Promise.all(
      all.map(async (p) => {
        clearTimeout(p.idleTimer);
        await p.worker.terminate();
      }),
    );
  }

  private take(): PooledWorker {
    const reused = this.idle.pop();
    if (reused) {
      clearTimeout(reused.idleTimer);
      reused.worker.ref();
      this.busy.add(reused);
      return reused;
    }
    const worker = new Worker(WORKER_FILE, { resourceLimits: { maxOldGenerationSizeMb: this.options.heapMb } });
    const pooled: PooledWorker = { worker };
    // A worker that dies while idle leaves the pool (a busy one is handled by its render).
    worker.on('exit', () => {
      const at = this.idle.indexOf(pooled);
      if (at >= 0) this.idle.splice(at, 1);
    });
    worker.on('error', (err) => {
      if (!this.busy.has(pooled)) this.log.error({ err }, 'idle transcript worker failed');
    });
    this.busy.add(pooled);
    return pooled;
  }

  private giveBack(pooled: PooledWorker): void {
    if (this.closed || this.idle.length >= this.options.size) {
      void pooled.worker.terminate();
      return;
    }
    // An idle worker must not keep the process alive, nor its fonts in memory for ever.
    pooled.worker.unref();
    pooled.idleTimer = setTimeout(() => {
      const at = this.idle.indexOf(pooled);
      if (at >= 0) this.idle.splice(at, 1);
      void pooled.worker.terminate();
    }, this.options.idleMs);
    pooled.idleTimer.unref();
    this.idle.push(pooled);
  }
}
