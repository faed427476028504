import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/devstore/local-docstore.js';
import { onPath, running, stopChild, tail, waitForPort } from './child.js';

export interface RedisOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** Working folder; a temp folder (removed on stop) when absent. Nothing is persisted in it. */
  dir?: string;
}

export interface RunningRedis {
  url: string;
  port: number;
  /** The current server's process id (changes on restart). */
  pid(): number | undefined;
  isRunning(): boolean;
  /** Called if the server exits without stop() or kill() (each start registers again). */
  onUnexpectedExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  /** SIGTERM, waits for the exit, removes a temp folder it created. */
  stop(): Promise<void>;
  /** Starts a fresh server on the same port (the data is gone: nothing is persisted). */
  restart(): Promise<void>;
  /** SIGKILL: Redis vanishes as in a crash. */
  kill(): Promise<void>;
}

export function redisAvailable(): boolean {
  return onPath('redis-server');
}

/**
 * A throwaway `redis-server` from PATH on 127.0.0.1: no RDB snapshots, no AOF, the Socket.IO
 * adapter's streams live in memory only (the database is the source of truth).
 */
export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  if (!redisAvailable()) throw new Error('redis-server is not on PATH (apt-get install redis-server)');
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hub-redis-'));
  mkdirSync(dir, { recursive: true });
  const port = options.port && options.port > 0 ? options.port : await freePort();
  const listeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  let child: ChildProcess | undefined;
  let expectedExit = false;

  const launch = async (): Promise<void> => {
    expectedExit = false;
    // Its own process group (detached): a Ctrl-C in the terminal reaches only the launcher, which stops the children in order.
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    child = server;
    const output = tail(server);
    server.once('exit', (code, signal) => {
      if (!expectedExit && child === server) for (const listener of listeners) listener(code, signal);
    });
    await waitForPort(port, server, 'redis-server', output);
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    expectedExit = true;
    if (child) await stopChild(child, signal, 5000);
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => child?.pid,
    isRunning: () => child !== undefined && running(child),
    onUnexpectedExit: (listener) => listeners.push(listener),
    async stop() {
      await end('SIGTERM');
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (child && running(child)) await end('SIGTERM');
      await launch();
    },
    kill: () => end('SIGKILL'),
  };
}
