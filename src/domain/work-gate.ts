import { HubError } from '../contracts/errors.js';

/**
 * Runs at most `concurrency` jobs at once and lets at most `queueLimit` wait; beyond that a job is
 * refused with UNAVAILABLE, so a burst of heavy requests cannot pile up without bound.
 */
export class WorkGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly queueLimit: number,
    private readonly what: string,
  ) {}

  /** Runs `job` in a slot; a job still waiting when `signal` aborts leaves the queue with its reason. */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) throw new HubError('UNAVAILABLE', `too many ${this.what} in progress; try again shortly`);
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = this.waiting.indexOf(turn);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(signal?.reason);
        };
        const turn = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiting.push(turn);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else {
      this.running += 1;
    }
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
