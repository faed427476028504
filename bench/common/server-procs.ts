import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePort } from '../../src/devstore/local-docstore.js';
import { startNodeChild, type RunningChild } from './child-runner.js';
import { progress, waitForHttp200 } from './client-util.js';
import { mib } from './stats.js';
import { readProcMemory } from './proc-probe.js';

export interface StartedServer {
  child: RunningChild;
  url: string;
}

export interface StartedHub extends StartedServer {
  systemToken: string;
}

/** The same server with another database name, e.g. a fresh one for a later stage. */
export function withDatabase(uri: string, database: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/([^?]*))?(\?.*)?$/.exec(uri);
  if (!match) return uri;
  return `${match[1]}/${database}${match[3] ?? ''}`;
}

/**
 * Starts `node dist/src/main.js` on a port picked here, pointed at `uri`, and waits for GET /ready; `env` adds to
 * the hub's environment (e.g. CONNECTOR_KEYS; a given SYSTEM_TOKEN is the one returned), `nodeArgs` to node's flags (e.g. --cpu-prof, which NODE_OPTIONS refuses).
 */
export async function startHubProcess(
  root: string,
  uri: string,
  dataDir: string,
  label: string,
  env: NodeJS.ProcessEnv = {},
  nodeArgs: readonly string[] = [],
): Promise<StartedHub> {
  const port = await freePort();
  // Processes of one cluster share the token (and HUB_SECRET) through `env`.
  const systemToken = env['SYSTEM_TOKEN'] ?? randomBytes(24).toString('hex');
  const child = startNodeChild(
    label,
    join(root, 'dist', 'src', 'main.js'),
    {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      MONGODB_URI: uri,
      HUB_SECRET: randomBytes(32).toString('hex'),
      SYSTEM_TOKEN: systemToken,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '100000',
      RATE_LIMIT_INIT_PER_MINUTE: '1000000',
      // Every bench client comes from loopback, thousands of sockets at once: no connection caps.
      MAX_SOCKETS_PER_ADDRESS: '0',
      MAX_SOCKETS_PER_PRINCIPAL: '0',
      RATE_LIMIT_JOINS_PER_MINUTE: '1000000',
      DATA_DIR: dataDir,
      NODE_ENV: 'production',
      ...env,
    },
    root,
    nodeArgs,
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp200(`${url}/ready`, 60_000, () => child.alive());
  } catch (err) {
    await child.stop();
    throw err;
  }
  progress(`${label} (pid ${child.pid}) ready on ${url}; RSS ${mib(readProcMemory(child.pid)?.rssBytes)}`);
  return { child, url, systemToken };
}

/** Starts the bare relay (dist/bench/common/bare-relay.js) and reads its port from stdout. */
export async function startBareProcess(root: string, label: string): Promise<StartedServer> {
  const child = startNodeChild(label, join(root, 'dist', 'bench', 'common', 'bare-relay.js'), { ...process.env, BARE_PORT: '0' }, root);
  try {
    const match = await child.waitForLine(/^BARE_RELAY_PORT=(\d+)$/, 15_000);
    const url = `http://127.0.0.1:${Number(match[1])}`;
    progress(`${label} (pid ${child.pid}) on ${url}; RSS ${mib(readProcMemory(child.pid)?.rssBytes)}`);
    return { child, url };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
