/** Exponential backoff with jitter for the SDK's own reconnects and registration retries. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly jitter = 0.5,
  ) {}

  /** The next delay: base·2^n capped at max, spread by ±jitter so a pool does not reconnect in lockstep. */
  next(): number {
    const exp = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const spread = exp * this.jitter * (Math.random() * 2 - 1);
    return Math.max(0, Math.round(Math.min(this.maxMs, exp + spread)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
