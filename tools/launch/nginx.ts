import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config.js';
import { freePort } from '../../src/devstore/local-docstore.js';
import { onPath, running, stopChild, tail, waitForPort } from './child.js';

/** deploy/nginx.conf.template: the one source of every nginx configuration the project uses. */
export const NGINX_TEMPLATE = join(PROJECT_ROOT, 'deploy', 'nginx.conf.template');
/** The rendering checked in for deploy/docker-compose.yml. */
export const COMPOSE_NGINX_CONF = join(PROJECT_ROOT, 'deploy', 'nginx.conf');
/** The hub services of deploy/docker-compose.yml, as nginx reaches them. */
export const COMPOSE_UPSTREAMS = ['hub1:8080', 'hub2:8080', 'hub3:8080'];

export interface NginxRenderOptions {
  /** host:port of each hub process. */
  upstreams: string[];
  /** nginx `listen` argument, e.g. "80" or "127.0.0.1:8080". */
  listen: string;
  /**
   * 'compose': the official nginx image (user nginx, logs to stdout/stderr, its own temp paths).
   * 'local': unprivileged under `prefix` (pid, logs and temp files there), one worker.
   */
  target: { kind: 'compose' } | { kind: 'local'; prefix: string };
  /**
   * 'sticky' (the shipped configuration) or 'round-robin'. Round-robin exists only so a test
   * can show that long-polling breaks without stickiness, i.e. that the stickiness test can fail.
   */
  balance?: 'sticky' | 'round-robin';
}

/** Express's `bytes` notation as config/default.json uses it ("256kb", "1mb", "1024"). */
export function parseByteSize(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
  if (!match) throw new Error(`not a byte size: "${value}"`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = unit === 'gb' ? 1024 ** 3 : unit === 'mb' ? 1024 ** 2 : unit === 'kb' ? 1024 : 1;
  return Math.floor(Number(match[1]) * factor);
}

/** A quarter above `bytes`, in nginx's k notation: room for the hub to answer an oversize body itself. */
function withHeadroom(bytes: number): string {
  return `${Math.ceil((bytes * 1.25) / 1024)}k`;
}

/** The body limits of config/default.json that nginx must leave room for. */
export function hubBodyLimits(): { jsonBodyLimit: string; jsonBytes: number; socketBufferBytes: number } {
  const defaults = JSON.parse(readFileSync(join(PROJECT_ROOT, 'config', 'default.json'), 'utf8')) as {
    jsonBodyLimit: string;
    socketMaxPayloadBytes: number;
  };
  return {
    jsonBodyLimit: defaults.jsonBodyLimit,
    jsonBytes: parseByteSize(defaults.jsonBodyLimit),
    // The same formula as src/hub.ts's Socket.IO maxHttpBufferSize.
    socketBufferBytes: Math.max(4 * defaults.socketMaxPayloadBytes, 1_048_576),
  };
}

/** Fills deploy/nginx.conf.template. */
export function renderNginxConfig(options: NginxRenderOptions): string {
  if (options.upstreams.length === 0) throw new Error('nginx needs at least one upstream hub');
  const limits = hubBodyLimits();
  const local = options.target.kind === 'local' ? options.target.prefix : undefined;
  const inPrefix = (name: string): string => (local ? join(local, name) : name);
  const servers = options.upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=10s;`).join('\n');
  const values: Record<string, string> = {
    // The official image's master runs as root and drops to its `nginx` user; unprivileged nginx ignores `user`.
    USER: local ? '# (no `user`: started unprivileged or by the test user, workers run as the default user)' : 'user nginx;',
    WORKER_PROCESSES: local ? '1' : 'auto',
    PID_FILE: local ? inPrefix('nginx.pid') : '/var/run/nginx.pid',
    ERROR_LOG: local ? inPrefix('error.log') : '/dev/stderr',
    ACCESS_LOG: local ? inPrefix('access.log') : '/dev/stdout',
    TEMP_PATHS: local
      ? ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
          .map((kind) => `  ${kind}_temp_path ${inPrefix(join('temp', kind))};`)
          .join('\n')
      : '  # temp paths: the image\'s defaults (/var/cache/nginx)',
    UPSTREAM_SERVERS: servers,
    LISTEN: options.listen,
    HUB_JSON_LIMIT: limits.jsonBodyLimit,
    API_BODY_LIMIT: withHeadroom(limits.jsonBytes),
    SOCKET_BUFFER: `${limits.socketBufferBytes} bytes`,
    SOCKET_BODY_LIMIT: withHeadroom(limits.socketBufferBytes),
    SOCKET_READ_TIMEOUT: '90s',
  };
  let text = readFileSync(NGINX_TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`deploy/nginx.conf.template: unknown placeholder ${whole}`);
    return value;
  });
  if ((options.balance ?? 'sticky') === 'round-robin') {
    const sticky = '    hash $remote_addr consistent;\n';
    if (!text.includes(sticky)) throw new Error('deploy/nginx.conf.template: the sticky hash line moved; update renderNginxConfig');
    text = text.replace(sticky, '    # round-robin: NOT STICKY (test control only)\n');
  }
  const header = '# GENERATED from deploy/nginx.conf.template by tools/launch/nginx.ts: edit the template, then `npm run deploy:nginx-conf`.\n';
  return header + text;
}

/** The rendering for deploy/docker-compose.yml. */
export function renderComposeNginxConfig(): string {
  return renderNginxConfig({ upstreams: COMPOSE_UPSTREAMS, listen: '80', target: { kind: 'compose' } });
}

/** The nginx binary: `nginx` on PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH). */
export function nginxBinary(): string | undefined {
  if (onPath('nginx')) return 'nginx';
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

/** A prefix folder nginx can run in without privileges. */
function preparePrefix(prefix: string): void {
  mkdirSync(join(prefix, 'temp'), { recursive: true });
  // When started as root, nginx's workers run as an unprivileged user and must reach the temp folders.
  chmodSync(prefix, 0o755);
}

export interface NginxTestResult {
  ok: boolean;
  output: string;
}

/** `nginx -t` on a rendered local configuration (creates the prefix's temp folder, which the test also checks). */
export function testNginxConfig(confFile: string, prefix: string): NginxTestResult {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is not installed (apt-get install nginx)');
  preparePrefix(prefix);
  const result = spawnSync(bin, ['-t', '-p', prefix, '-c', confFile, '-e', join(prefix, 'error.log')], { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

export interface NginxOptions {
  upstreams: string[];
  /** 0 or absent: a free port. */
  port: number;
  /** Address to listen on (127.0.0.1 by default). */
  host?: string;
  /** Folder for the configuration, pid, logs and temp files; a temp folder (removed on stop) when absent. */
  dir?: string;
  balance?: 'sticky' | 'round-robin';
}

export interface RunningNginx {
  url: string;
  port: number;
  pid: number | undefined;
  confFile: string;
  accessLog: string;
  errorLog: string;
  /** The access log's lines so far. */
  accessLines(): string[];
  isRunning(): boolean;
  /** Called once if nginx exits by itself. */
  onUnexpectedExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  /** Fast shutdown (SIGTERM), then removes a temp folder it created. */
  stop(): Promise<void>;
}

/** Renders a local configuration and runs nginx in the foreground (`daemon off`) until stop(). */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is not installed (apt-get install nginx)');
  const ownDir = options.dir === undefined;
  const prefix = options.dir ?? mkdtempSync(join(tmpdir(), 'hub-nginx-'));
  preparePrefix(prefix);
  const host = options.host ?? '127.0.0.1';
  const port = options.port > 0 ? options.port : await freePort();
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(
    confFile,
    renderNginxConfig({ upstreams: options.upstreams, listen: `${host}:${port}`, target: { kind: 'local', prefix }, balance: options.balance }),
  );
  const checked = testNginxConfig(confFile, prefix);
  if (!checked.ok) {
    if (ownDir) rmSync(prefix, { recursive: true, force: true });
    throw new Error(`nginx -t refused the configuration: ${checked.output}`);
  }
  const errorLog = join(prefix, 'error.log');
  // Its own process group (detached): a Ctrl-C in the terminal reaches only the launcher, which stops the children in order.
  const child = spawn(bin, ['-p', prefix, '-c', confFile, '-e', errorLog, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output = tail(child);
  let stopping = false;
  const listeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  child.once('exit', (code, signal) => {
    if (!stopping) for (const listener of listeners) listener(code, signal);
  });
  const logText = (): string => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  try {
    await waitForPort(port, child, 'nginx', () => `${output()}${logText()}`);
  } catch (err) {
    if (ownDir) rmSync(prefix, { recursive: true, force: true });
    throw err;
  }
  const accessLog = join(prefix, 'access.log');
  return {
    url: `http://${host}:${port}`,
    port,
    pid: child.pid,
    confFile,
    accessLog,
    errorLog,
    accessLines: () => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : []),
    isRunning: () => running(child),
    onUnexpectedExit: (listener) => listeners.push(listener),
    async stop() {
      stopping = true;
      await stopChild(child, 'SIGTERM', 5000);
      if (ownDir) rmSync(prefix, { recursive: true, force: true });
    },
  };
}
