import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/devstore/local-docstore.js';
import { sleep } from './clients.js';
import { HUB_SECRET, SYSTEM_TOKEN } from './hub.js';

/** The hub as its own process (dist/src/main.js), for tests of several processes sharing one database. */
export class HubProcess {
  readonly logs: string[] = [];
  url = '';
  private child: ChildProcess | undefined;
  private readonly dataDir = mkdtempSync(join(tmpdir(), 'hub-proc-'));

  /** The process id while it runs (for a last-resort kill when the test process exits). */
  get pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  constructor(
    private readonly mongodbUri: string,
    private readonly env: Record<string, string> = {},
  ) {}

  /** Spawns it and waits until /ready answers 200 (the database is reachable). */
  async start(): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: {
        PATH: process.env['PATH'] ?? '',
        MONGODB_URI: this.mongodbUri,
        HUB_SECRET,
        SYSTEM_TOKEN,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: this.dataDir,
        LOG_LEVEL: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => this.logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`${this.url}/ready`).then((r) => r.status === 200, () => false))) {
      if (child.exitCode !== null) throw new Error(`hub process exited with ${child.exitCode}: ${this.logs.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`hub process not ready: ${this.logs.join('\n')}`);
      await sleep(50);
    }
  }

  /** SIGKILL at once (a crash): no shutdown code runs. Resolves when the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Sends SIGKILL synchronously (e.g. inside an ack callback, before anything else can run). */
  killNow(): void {
    this.child?.kill('SIGKILL');
  }

  /** SIGTERM (the hub drains and stops); resolves with how it exited. */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.kill('SIGTERM');
    return exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
