import { nginxBinary, startNginx as launchNginx, type RunningNginx } from '../../tools/launch/nginx.js';
import { redisAvailable, startRedis as launchRedis, type RunningRedis } from '../../tools/launch/redis.js';
import { HubProcess } from './hub-process.js';

export type { RunningNginx, RunningRedis };

/**
 * Every child these helpers started and not yet stopped, with the signal that ends it at once:
 * sent if the test process exits first. nginx gets SIGTERM (its master then stops its workers;
 * a SIGKILLed master would leave them behind), the others SIGKILL.
 */
const alive = new Map<() => number | undefined, NodeJS.Signals>();
process.once('exit', () => {
  for (const [pid, signal] of alive) {
    const id = pid();
    if (!id) continue;
    try {
      process.kill(id, signal);
    } catch {
      // already gone
    }
  }
});

/** Why a cluster test cannot run here, or undefined when nginx and redis-server are installed. */
export function clusterToolsMissing(): string | undefined {
  const missing = [nginxBinary() ? undefined : 'nginx', redisAvailable() ? undefined : 'redis-server'].filter(Boolean);
  return missing.length > 0 ? `${missing.join(' and ')} not installed (CI installs them in .ci/run)` : undefined;
}

/** Keeps `child` killed at exit (with `signal`) until its own stop() ran. */
function tracked<T extends { stop(): Promise<void> }>(child: T, pid: () => number | undefined, signal: NodeJS.Signals): T {
  alive.set(pid, signal);
  const stop = child.stop.bind(child);
  return {
    ...child,
    async stop() {
      await stop();
      alive.delete(pid);
    },
  };
}

/** A throwaway redis-server on an ephemeral port: {url, port, stop(), restart() (same port), kill()}. */
export async function startRedis(): Promise<RunningRedis> {
  const redis = await launchRedis();
  return tracked(redis, () => (redis.isRunning() ? redis.pid() : undefined), 'SIGKILL');
}

/** nginx with the shipped configuration (deploy/nginx.conf.template) in front of `upstreams` (host:port). */
export async function startNginx(upstreams: string[], options: { balance?: 'sticky' | 'round-robin' } = {}): Promise<RunningNginx> {
  const nginx = await launchNginx({ upstreams, port: 0, balance: options.balance });
  return tracked(nginx, () => (nginx.isRunning() ? nginx.pid : undefined), 'SIGTERM');
}

/** host:port of a hub process, as an nginx upstream. */
export const upstreamOf = (hub: HubProcess): string => new URL(hub.url).host;

/** Starts `count` hub processes on one database and one Redis (REDIS_URL), in parallel. */
export async function startHubs(count: number, mongodbUri: string, redisUrl: string, env: Record<string, string> = {}): Promise<HubProcess[]> {
  const hubs = Array.from({ length: count }, () => new HubProcess(mongodbUri, { REDIS_URL: redisUrl, TRUST_PROXY: 'loopback', ...env }));
  for (const hub of hubs) alive.set(() => hub.pid, 'SIGKILL');
  const started = await Promise.allSettled(hubs.map((h) => h.start()));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(hubs.map((h) => h.stop()));
    throw failed.reason;
  }
  return hubs;
}

/** Hub settings of the scale-out tests: one SMS connector key, a short connector lease, limits out of the way. */
export function clusterTestEnv(smsKey: string, drainNoticeMs: number): Record<string, string> {
  return {
    CONNECTOR_KEYS: `sms:${smsKey}`,
    CONNECTOR_LEASE_MS: '2000',
    CONNECTOR_ACK_TIMEOUT_MS: '3000',
    RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
    RATE_LIMIT_JOINS_PER_MINUTE: '1000',
    RATE_LIMIT_INIT_PER_MINUTE: '1000',
    DRAIN_NOTICE_MS: String(drainNoticeMs),
  };
}
