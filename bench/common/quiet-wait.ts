import { performance } from 'node:perf_hooks';
import { sleep } from './client-util.js';
import type { CounterProbe } from '../load/load-runner.js';
import { CpuMeter } from './proc-probe.js';
import { fmt } from './stats.js';

const POLL_MS = 500;
const QUIET_POLLS = 2;
const QUIET_STORE_CPU = 20;

/**
 * Waits (at most `limitMs`) until the hub stops storing messages and the document store
 * goes idle, so work left over from one measurement does not leak into the next.
 * Returns a note when there was leftover work, '' when everything was already quiet.
 */
export async function waitForQuiet(counters: CounterProbe | undefined, storePid: number | undefined, limitMs: number): Promise<string> {
  const started = performance.now();
  const first = counters ? ((await counters().catch(() => undefined))?.['stored'] ?? 0) : 0;
  let last = first;
  let quietPolls = 0;
  let polls = 0;
  while (performance.now() - started < limitMs) {
    const cpu = new CpuMeter(storePid);
    await sleep(POLL_MS);
    polls += 1;
    const stored = counters ? ((await counters().catch(() => undefined))?.['stored'] ?? last) : last;
    const storeCpu = cpu.percent() ?? 0;
    quietPolls = stored === last && storeCpu < QUIET_STORE_CPU ? quietPolls + 1 : 0;
    last = stored;
    if (quietPolls >= QUIET_POLLS) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const extra = last - first;
  if (quietPolls < QUIET_POLLS) {
    return `server still busy after ${fmt(seconds, 1)} s (stored ${fmt(extra)} more meanwhile); going on anyway`;
  }
  // Two quiet polls are the minimum wait; anything beyond means leftover work.
  if (polls <= QUIET_POLLS && extra === 0) return '';
  return `backlog: the hub stored ${fmt(extra)} more messages and the store was busy for ${fmt(seconds - (QUIET_POLLS * POLL_MS) / 1000, 1)} s after the clients stopped`;
}
