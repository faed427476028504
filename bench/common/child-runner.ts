import { spawn, type ChildProcess } from 'node:child_process';
import { sleep } from './client-util.js';

/** Warn/error log lines a child printed (pino JSON levels 40+ or any stderr line). */
export interface ChildLogReport {
  warn: number;
  error: number;
  samples: string[];
}

export interface RunningChild {
  name: string;
  pid: number;
  /** Resolves with the first stdout line matching `pattern`; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  alive(): boolean;
  logs(): ChildLogReport;
  tail(): string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves (bounded) with how it ended: true when SIGTERM sufficed. */
  stop(graceMs?: number): Promise<boolean>;
  /** Synchronous last resort for crash paths. */
  killNow(): void;
}

const MAX_TAIL = 40;
const MAX_SAMPLES = 8;

function levelOf(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(line) as { level?: unknown };
    return typeof parsed.level === 'number' ? parsed.level : undefined;
  } catch {
    return undefined;
  }
}

/** Every child started and not yet exited, also those whose start is still being awaited. */
const live = new Set<ChildProcess>();

/** Last resort when the bench exits: SIGKILL to every child still running (one that was starting included). */
export function killLiveChildren(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** Starts `node [nodeArgs] <script>` with `env`, keeping a tail of its output and counting its warnings. */
export function startNodeChild(name: string, script: string, env: NodeJS.ProcessEnv, cwd: string, nodeArgs: readonly string[] = []): RunningChild {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${script}`);
  const pid = child.pid;
  live.add(child);
  const tailLines: string[] = [];
  const report: ChildLogReport = { warn: 0, error: 0, samples: [] };
  const lineWaiters = new Set<(line: string) => void>();
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });

  const onLine = (line: string, stream: 'out' | 'err'): void => {
    if (!line) return;
    tailLines.push(`${stream}: ${line.slice(0, 500)}`);
    if (tailLines.length > MAX_TAIL) tailLines.shift();
    const level = levelOf(line);
    const bad = stream === 'err' || (level !== undefined && level >= 40);
    if (bad) {
      if (level !== undefined && level < 50) report.warn += 1;
      else report.error += 1;
      if (report.samples.length < MAX_SAMPLES) report.samples.push(line.slice(0, 400));
    }
    if (stream === 'out') for (const waiter of lineWaiters) waiter(line);
  };
  const splitter = (stream: 'out' | 'err'): ((chunk: Buffer) => void) => {
    let buffer = '';
    return (chunk) => {
      buffer += chunk.toString('utf8');
      let at = buffer.indexOf('\n');
      while (at >= 0) {
        onLine(buffer.slice(0, at).trimEnd(), stream);
        buffer = buffer.slice(at + 1);
        at = buffer.indexOf('\n');
      }
      if (buffer.length > 64_000) buffer = buffer.slice(-64_000);
    };
  };
  child.stdout?.on('data', splitter('out'));
  child.stderr?.on('data', splitter('err'));

  return {
    name,
    pid,
    alive: () => !exited,
    logs: () => report,
    tail: () => [...tailLines],
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (fn: () => void): void => {
          clearTimeout(timer);
          lineWaiters.delete(waiter);
          fn();
        };
        const waiter = (line: string): void => {
          const match = pattern.exec(line);
          if (match) done(() => resolve(match));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${name} printed no ${pattern} within ${timeoutMs} ms`))), timeoutMs);
        lineWaiters.add(waiter);
        void exit.then(() => done(() => reject(new Error(`${name} exited before it was ready:\n${tailLines.join('\n')}`))));
      });
    },
    async stop(graceMs = 5000) {
      if (exited) return true;
      child.kill('SIGTERM');
      const graceful = await Promise.race([exit.then(() => true), sleep(graceMs).then(() => false)]);
      if (graceful) return true;
      child.kill('SIGKILL');
      await Promise.race([exit, sleep(2000)]);
      return false;
    },
    killNow() {
      if (!exited) child.kill('SIGKILL');
    },
  };
}
