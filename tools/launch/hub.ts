import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { running, stopChild } from './child.js';

/** dist/src/main.js, next to this file's dist/tools/launch/. */
export const HUB_MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface HubLaunchOptions {
  name: string;
  port: number;
  /** The whole environment of the process (nothing is inherited). */
  env: Record<string, string>;
  /** Every output line is appended here. */
  logFile: string;
  /** Each output line as it comes (e.g. to show warnings on the console). */
  onLine?: (line: string) => void;
}

export interface LaunchedHub {
  name: string;
  url: string;
  pid: number | undefined;
  isRunning(): boolean;
  onUnexpectedExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  /** SIGTERM (the hub drains), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns dist/src/main.js and resolves once its /ready answers 200. */
export async function launchHub(options: HubLaunchOptions): Promise<LaunchedHub> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  // Its own process group (detached): a Ctrl-C in the terminal reaches only the launcher, which stops the children in order.
  const child = spawn(process.execPath, [HUB_MAIN], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const recent: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      log.write(`${line}\n`);
      recent.push(line);
      if (recent.length > 20) recent.shift();
      options.onLine?.(line);
    });
  }
  let stopping = false;
  const listeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  child.once('exit', (code, signal) => {
    if (!stopping) for (const listener of listeners) listener(code, signal);
    // Let the last lines reach the file before it closes.
    setImmediate(() => log.end());
  });
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`${url}/ready`).then((r) => r.status === 200, () => false))) {
    if (!running(child)) throw new Error(`${options.name} exited (${child.exitCode ?? child.signalCode}) at start:\n${recent.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} was not ready within 60 s:\n${recent.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name: options.name,
    url,
    pid: child.pid,
    isRunning: () => running(child),
    onUnexpectedExit: (listener) => listeners.push(listener),
    async stop(graceMs = 15_000) {
      stopping = true;
      await stopChild(child, 'SIGTERM', graceMs);
    },
  };
}
