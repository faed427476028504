/** What a gate's check says right now: ready with a value, failed for good, or not yet (undefined). */
export type GateState<T> = { value: T } | { error: Error } | undefined;

/**
 * Lets callers wait, up to a deadline, until a condition holds — for the SDK, "registered with
 * the hub" — or fails for good (closed, key refused). Whoever changes the condition calls wake().
 */
export class ReadyGate<T> {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly check: () => GateState<T>) {}

  /** Resolves with the value once ready; rejects with the check's error, or `onTimeout()` at `deadline` (ms since epoch). */
  wait(deadline: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (): boolean => {
        const state = this.check();
        if (!state) return false;
        if ('error' in state) reject(state.error);
        else resolve(state.value);
        return true;
      };
      if (settle()) return;
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(onTimeout());
      }, Math.max(0, deadline - Date.now()));
      const wake = (): void => {
        if (!settle()) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
    });
  }

  /** Re-checks every waiter. */
  wake(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
