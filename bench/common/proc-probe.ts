import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Memory of a process as the kernel counts it. */
export interface ProcMemory {
  rssBytes: number;
  /** Peak RSS ("high water mark") since the process started. */
  hwmBytes: number;
}

/** Reads VmRSS and VmHWM from /proc/<pid>/status; undefined once the process is gone. */
export function readProcMemory(pid: number): ProcMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match?.[1] ? Number(match[1]) * 1024 : 0;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

const CLOCK_TICKS = 100;

interface ProcStat {
  ppid: number;
  /** utime + stime, in seconds. */
  own: number;
  /** cutime + cstime: the children it has waited for, in seconds. */
  reaped: number;
}

function readStat(pid: number | string): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: ppid is field 4, utime/stime 14/15, cutime/cstime 16/17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      own: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      reaped: (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS,
    };
  } catch {
    return undefined;
  }
}

/**
 * User+system CPU seconds a process and its descendants have used so far (from /proc/<pid>/stat):
 * the local store is a process tree (tools/docstore, its PostgreSQL postmaster and one backend
 * per connection), and the backends do most of its work. A descendant that exited counts through
 * its parent's cutime/cstime once reaped. Undefined once the process is gone.
 */
export function readCpuSeconds(pid: number): number | undefined {
  const root = readStat(pid);
  if (!root) return undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e) && Number(e) !== pid);
  } catch {
    return root.own;
  }
  const byParent = new Map<number, Array<{ pid: number; stat: ProcStat }>>();
  for (const entry of entries) {
    const stat = readStat(entry);
    if (!stat) continue;
    const list = byParent.get(stat.ppid) ?? [];
    list.push({ pid: Number(entry), stat });
    byParent.set(stat.ppid, list);
  }
  let total = root.own + root.reaped;
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.pop() as number) ?? []) {
      total += child.stat.own + child.stat.reaped;
      queue.push(child.pid);
    }
  }
  return total;
}

/** Measures CPU use of a process over an interval, in percent of one core. */
export class CpuMeter {
  private readonly cpu0: number | undefined;
  private readonly t0 = Date.now();

  constructor(private readonly pid: number | undefined) {
    this.cpu0 = pid === undefined ? undefined : readCpuSeconds(pid);
  }

  percent(): number | undefined {
    const cpu1 = this.pid === undefined ? undefined : readCpuSeconds(this.pid);
    const seconds = (Date.now() - this.t0) / 1000;
    if (cpu1 === undefined || this.cpu0 === undefined || seconds <= 0) return undefined;
    return ((cpu1 - this.cpu0) / seconds) * 100;
  }
}

/** The soft and hard open-file limits this process runs under (inherited by its children). */
export function fileLimits(): { soft: number; hard: number } {
  const read = (flag: string): number => {
    try {
      const out = execFileSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
      return out === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(out);
    } catch {
      return 1024;
    }
  };
  return { soft: read('-n'), hard: read('-Hn') };
}

/** How many ephemeral source ports the kernel hands out for outgoing connections. */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return lo !== undefined && hi !== undefined && hi >= lo ? hi - lo + 1 : 28_000;
  } catch {
    return 28_000;
  }
}

/** The pid of a process whose command line contains `needle` (e.g. a unique data directory), if any. */
export function findPidByCommandLine(needle: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(needle)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/** CPU use of this (the load generator's) process over an interval, in percent of one core. */
export class SelfCpuMeter {
  private readonly cpu0 = process.cpuUsage();
  private readonly t0 = Date.now();

  percent(): number {
    const used = process.cpuUsage(this.cpu0);
    const seconds = (Date.now() - this.t0) / 1000;
    return seconds > 0 ? ((used.user + used.system) / 1e6 / seconds) * 100 : 0;
  }
}

/** Samples VmRSS of a process every `intervalMs` (from construction until stop()); a spike shorter than the interval can slip through. */
export class RssSampler {
  private peak = 0;
  private samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 25,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const rss = readProcMemory(this.pid)?.rssBytes;
    if (rss === undefined) return;
    this.samples += 1;
    if (rss > this.peak) this.peak = rss;
  }

  /** Stops sampling and returns the highest RSS seen (one last sample included). */
  stop(): { peakBytes: number; samples: number } {
    clearInterval(this.timer);
    this.sample();
    return { peakBytes: this.peak, samples: this.samples };
  }
}

/**
 * Resets a process's VmHWM to its current RSS (writes 5 to /proc/<pid>/clear_refs, Linux 4.0+),
 * so the kernel's own peak covers just what follows; false where the kernel or permissions refuse.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
