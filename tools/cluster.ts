/**
 * `npm run cluster -- 3`: a local scale-out deployment in one command (issue 15, item 7):
 * the local document store (or MONGODB_URI), a redis-server from PATH, N hub processes sharing
 * both, and nginx in front with the configuration deploy/ ships. Prints the one URL to use.
 * Ctrl-C (SIGINT) or SIGTERM stops everything it started.
 *
 * Environment: DATA_DIR (default ./data/cluster), PORT (nginx; default 8080, a free port if taken),
 * HOST (nginx's address, default 127.0.0.1), MONGODB_URI (use that database instead of a local store);
 * the rest (LOG_LEVEL, CONNECTOR_KEYS, ALLOWED_ORIGINS, ...) is passed to every hub.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { loadConfig } from '../src/config.js';
import { freePort, startLocalDocstore, type LocalDocstore } from '../src/devstore/local-docstore.js';
import { launchHub, type LaunchedHub } from './launch/hub.js';
import { nginxBinary, startNginx, type RunningNginx } from './launch/nginx.js';
import { redisAvailable, startRedis, type RunningRedis } from './launch/redis.js';

const say = (line: string): void => console.log(`[cluster] ${line}`);
const warn = (line: string): void => console.error(`[cluster] ${line}`);

/** Pino levels by number, for the hub lines shown on the console. */
const LEVELS: Record<number, string> = { 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** A hub's warnings and errors, shortened to one readable line; undefined for the rest (they go to its log file only). */
function consoleLine(line: string): string | undefined {
  let entry: { level?: number; msg?: string; err?: { message?: string } | string };
  try {
    entry = JSON.parse(line) as typeof entry;
  } catch {
    return line; // not JSON: a start failure printed for a person
  }
  const level = entry.level ?? 0;
  if (level < 40) return undefined;
  const err = typeof entry.err === 'string' ? entry.err : entry.err?.message;
  return `${LEVELS[level] ?? level} ${entry.msg ?? ''}${err ? `: ${err}` : ''}`;
}

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, host, () => server.close(() => done(true)));
  });
}

function parseCount(arg: string | undefined): number {
  if (arg === undefined) return 3;
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    console.error('usage: npm run cluster -- [number of hub processes, 1-16; default 3]');
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const count = parseCount(process.argv[2]);
  if (!redisAvailable()) throw new Error('redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install redis-server)');
  if (!nginxBinary()) throw new Error('nginx is not installed: install it (Debian/Ubuntu: apt-get install nginx)');

  const dataDir = resolve(process.env['DATA_DIR'] ?? join('data', 'cluster'));
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  // The dev-secrets mechanism of src/config.ts, once for all hubs: DATA_DIR/dev-secrets.json.
  const { config, devSecretsFile } = loadConfig({ ...process.env, DATA_DIR: dataDir });
  if (devSecretsFile) say(`secrets: ${devSecretsFile} (HUB_SECRET and SYSTEM_TOKEN shared by every hub)`);

  let store: LocalDocstore | undefined;
  let redis: RunningRedis | undefined;
  let nginx: RunningNginx | undefined;
  const hubs: LaunchedHub[] = [];
  let stopping = false;

  /** Last resort if this process ends without the orderly stop: never leave children behind (nginx's master stops its workers on SIGTERM). */
  process.once('exit', () => {
    const children: Array<[number | undefined, NodeJS.Signals]> = [
      ...hubs.map((h): [number | undefined, NodeJS.Signals] => [h.isRunning() ? h.pid : undefined, 'SIGKILL']),
      [nginx?.isRunning() ? nginx.pid : undefined, 'SIGTERM'],
      [redis?.isRunning() ? redis.pid() : undefined, 'SIGKILL'],
      [store?.pid, 'SIGTERM'],
    ];
    for (const [pid, signal] of children) {
      if (!pid) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  });

  const stopAll = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say(`${reason}: stopping ${hubs.length} hub(s) (SIGTERM, they drain), then redis, nginx and the store`);
    await Promise.all(hubs.map((h) => h.stop()));
    await redis?.stop();
    await nginx?.stop();
    await store?.stop();
    store = undefined; // its pid is no longer ours
    rmSync(join(dataDir, 'nginx', 'temp'), { recursive: true, force: true });
    say('stopped');
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      warn(`${signal} again: killing everything now`);
      process.exit(130); // the exit hook SIGKILLs what is left
    }
    void stopAll(signal).then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const unexpected = (what: string) => (code: number | null, signal: NodeJS.Signals | null) => {
    if (!stopping) warn(`${what} exited unexpectedly (${signal ?? `code ${code}`}); the rest keeps running. Ctrl-C stops everything.`);
  };

  try {
    let mongodbUri = process.env['MONGODB_URI'];
    if (mongodbUri) {
      say(`database: MONGODB_URI (${new URL(mongodbUri).host})`);
    } else {
      say(`starting the local document store in ${join(dataDir, 'docstore')}`);
      store = await startLocalDocstore({ dataDir, progress: say });
      mongodbUri = store.uri;
      say(`store: ${store.kind} on ${mongodbUri}`);
    }

    redis = await startRedis({ dir: join(dataDir, 'redis') });
    redis.onUnexpectedExit(unexpected('redis-server'));
    say(`redis: ${redis.url} (in memory only)`);

    for (let i = 1; i <= count; i += 1) {
      const name = `hub${i}`;
      const port = await freePort();
      const logFile = join(logDir, `${name}.log`);
      say(`starting ${name} on 127.0.0.1:${port} (log: ${logFile})`);
      const hub = await launchHub({
        name,
        port,
        logFile,
        env: {
          ...(process.env as Record<string, string>),
          NODE_ENV: process.env['NODE_ENV'] ?? 'development',
          PORT: String(port),
          HOST: '127.0.0.1',
          DATA_DIR: join(dataDir, name),
          MONGODB_URI: mongodbUri,
          REDIS_URL: redis.url,
          HUB_SECRET: config.hubSecret,
          SYSTEM_TOKEN: config.systemToken,
          // nginx connects from loopback: X-Forwarded-For from there is the client's address.
          TRUST_PROXY: 'loopback',
        },
        onLine: (line) => {
          const shown = consoleLine(line);
          if (shown) console.log(`[${name}] ${shown}`);
        },
      });
      hub.onUnexpectedExit(unexpected(name));
      hubs.push(hub);
    }

    const host = process.env['HOST'] ?? '127.0.0.1';
    const wanted = Number(process.env['PORT'] ?? 8080);
    const port = (await portFree(wanted, host)) ? wanted : await freePort();
    if (port !== wanted) say(`port ${wanted} is taken: nginx uses ${port}`);
    nginx = await startNginx({ upstreams: hubs.map((h) => h.url.replace('http://', '')), port, host, dir: join(dataDir, 'nginx') });
    nginx.onUnexpectedExit(unexpected('nginx'));
    say(`nginx: ${nginx.confFile} (access log: ${nginx.accessLog})`);

    say(`ready: ${count} hub(s) behind nginx. Logs: ${logDir}/hub<N>.log, ${join(dataDir, 'nginx')}/{access,error}.log`);
    say(`system token for /api calls: in ${join(dataDir, 'dev-secrets.json')} (systemToken)`);
    console.log(`\n  ${nginx.url}\n`);
    say('Ctrl-C stops everything');
  } catch (err) {
    warn(`start failed: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll('cleaning up');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  console.error(`[cluster] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
