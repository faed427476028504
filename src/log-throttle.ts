interface Window {
  startedAt: number;
  suppressed: number;
}

/**
 * Lets one log line per key through per interval and counts the rest, so a client repeating a
 * bad event thousands of times costs a line a minute, not a line (and a stack) per event.
 */
export class LogThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly intervalMs: number,
    /** Keys remembered at most; past it, windows that ended are forgotten (their counts with them). */
    private readonly maxKeys = 10_000,
  ) {}

  /** Undefined when the line is to be suppressed; otherwise how many were suppressed for `key` since the last one let through. */
  admit(key: string, now = Date.now()): number | undefined {
    const window = this.windows.get(key);
    if (window && now - window.startedAt < this.intervalMs) {
      window.suppressed += 1;
      return undefined;
    }
    const suppressed = window?.suppressed ?? 0;
    if (!window && this.windows.size >= this.maxKeys) this.prune(now);
    this.windows.set(key, { startedAt: now, suppressed: 0 });
    return suppressed;
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (now - window.startedAt >= this.intervalMs) this.windows.delete(key);
    // Every window still open: start over rather than grow.
    if (this.windows.size >= this.maxKeys) this.windows.clear();
  }
}
