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

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) throw new HubError('UNAVAILABLE', `too many ${this.what} in progress; try again shortly`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
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
