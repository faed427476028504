import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { createHub, type Hub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { Database } from '../../src/storage/database.js';

export const HUB_SECRET = 'test-hub-secret-0123456789abcdef0123456789';
export const SYSTEM_TOKEN = 'test-system-token-0123456789abcdef';

export interface RunningHub {
  url: string;
  port: number;
  hub: Hub;
  db: Database;
  config: Config;
  close(): Promise<void>;
}

/** Boots the real hub; `logSink`, when given, receives every log line (at LOG_LEVEL from `env`). */
export async function startHub(mongodbUri: string, env: Record<string, string> = {}, logSink?: (line: string) => void): Promise<RunningHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-data-'));
  const { config } = loadConfig({
    MONGODB_URI: mongodbUri,
    HUB_SECRET,
    SYSTEM_TOKEN,
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ...env,
  });
  const log = createLogger(config.logLevel, logSink ? { write: (line: string) => logSink(line) } : undefined);
  const db = new Database(
    { uri: mongodbUri, opTimeoutMs: config.dbTimeoutMs, serverSelectionTimeoutMs: config.dbServerSelectionTimeoutMs },
    log,
  );
  await db.connect();
  const hub = createHub(config, { db, log });
  await new Promise<void>((resolve) => hub.http.listen(0, '127.0.0.1', resolve));
  const address = hub.http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hub,
    db,
    config,
    async close() {
      await hub.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
