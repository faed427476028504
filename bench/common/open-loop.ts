import { performance } from 'node:perf_hooks';

export interface OpenLoop {
  /** performance.now() of the first message and of the end. */
  start: number;
  end: number;
  /** Messages per second. */
  rate: number;
  /** Sends one message (the caller picks the sender, e.g. round robin). */
  send: () => void;
  /** Called every tick before the sends, with performance.now() (e.g. to kill a process on time). */
  tick?: (now: number) => void;
}

/**
 * Open-loop load: every millisecond, sends what the clock says is due at `rate`, never catching
 * up more than 100 ms of debt (a slow client skips rather than bursts). Resolves at `end` with
 * the number of messages skipped.
 */
export function openLoop(loop: OpenLoop): Promise<number> {
  const maxDebt = Math.max(1, Math.ceil(loop.rate / 10));
  let scheduled = 0;
  let skipped = 0;
  return new Promise<number>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= loop.end) {
        clearInterval(timer);
        resolve(skipped);
        return;
      }
      loop.tick?.(now);
      const due = Math.floor(((now - loop.start) * loop.rate) / 1000);
      if (due - scheduled > maxDebt) {
        skipped += due - scheduled - maxDebt;
        scheduled = due - maxDebt;
      }
      for (; scheduled < due; scheduled += 1) loop.send();
    }, 1);
  });
}
