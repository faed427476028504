import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/devstore/local-docstore.js';
import { sleep } from '../support/clients.js';

/** What tells that a started connector is up: a log line containing `log`, or GET /health answering 200. */
export type Readiness = { log: string } | 'health';

/** How long start() waits for readiness before it gives up. */
const READY_WITHIN_MS = 30_000;

/**
 * A real connector process (connectors/<name>/dist/src/main.js) on 127.0.0.1 and a port of its
 * own, kept across restarts; every line it writes to stdout or stderr is collected in `logs`.
 */
export class ConnectorProcess {
  child: ChildProcess | undefined;
  readonly logs: string[] = [];
  url = '';
  /** Resolves with the exit code of the last process started. */
  exit: Promise<number | null> = Promise.resolve(null);
  private port = 0;
  private readonly main: string;

  /**
   * @param connector the folder under connectors/
   * @param env its environment besides PATH, PORT, HOST and LOG_LEVEL=debug, read at each start
   * @param ready what start() waits for unless told otherwise
   * @param label names the process in start()'s errors
   */
  constructor(
    connector: string,
    private readonly env: () => Record<string, string>,
    private readonly ready: Readiness,
    readonly label = connector,
  ) {
    this.main = fileURLToPath(new URL(`../../../connectors/${connector}/dist/src/main.js`, import.meta.url));
  }

  /** Spawns it and waits for `ready` (null: does not wait); throws if it exits first. */
  async start(ready: Readiness | null = this.ready): Promise<void> {
    this.port ||= await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const from = this.logs.length;
    const child = spawn(process.execPath, [this.main], {
      env: { PATH: process.env['PATH'] ?? '', PORT: String(this.port), HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => this.logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    if (!ready) return;
    const deadline = Date.now() + READY_WITHIN_MS;
    while (!(await this.isReady(ready, from))) {
      if (child.exitCode !== null) throw new Error(`connector ${this.label} exited with ${child.exitCode}: ${this.logs.slice(from).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`connector ${this.label} not ready (${JSON.stringify(ready)}): ${this.logs.slice(from).join('\n')}`);
      await sleep(50);
    }
  }

  /** Stops it (SIGTERM: graceful; SIGKILL: a crash) and waits for the exit, killing it after 10 s. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await Promise.race([this.exit, sleep(10_000)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await this.exit;
    }
  }

  private async isReady(ready: Readiness, logsFrom: number): Promise<boolean> {
    if (ready === 'health') return fetch(`${this.url}/health`).then((r) => r.status === 200, () => false);
    return this.logs.slice(logsFrom).some((l) => l.includes(ready.log));
  }
}

/**
 * POSTs a webhook to a connector as its provider does; `auth` is the header that signs or
 * authorizes it, [name, value], or null to send none.
 */
export function postWebhook(url: string, contentType: string, body: string, auth: [header: string, value: string] | null): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(auth === null ? {} : { [auth[0]]: auth[1] }) },
    body,
  });
}
