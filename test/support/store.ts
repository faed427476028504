import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalDocstore, type LocalDocstore } from '../../src/devstore/local-docstore.js';

export interface TestStore {
  /** A database URI unique to `name`, so test files never see each other's data. */
  uri(name: string): string;
  /** Stops the server (data kept), for fault tests. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The database for a test file: MONGODB_URI when set, otherwise a fresh local
 * document store (FerretDB/SQLite, or mongod if on PATH) on an ephemeral port in a temp folder.
 */
export async function startTestStore(): Promise<TestStore> {
  const external = process.env['MONGODB_URI'];
  if (external) {
    const base = new URL(external);
    return {
      uri: (name) => {
        const u = new URL(base.toString());
        u.pathname = `/${name}_${process.pid}`;
        return u.toString();
      },
      stop: () => Promise.reject(new Error('cannot stop an external MONGODB_URI')),
      restart: () => Promise.reject(new Error('cannot restart an external MONGODB_URI')),
      close: async () => undefined,
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'hub-test-'));
  let store: LocalDocstore | undefined = await startLocalDocstore({ dataDir: dir });
  const port = store.port;
  return {
    uri: (name) => `mongodb://127.0.0.1:${port}/${name}`,
    async stop() {
      await store?.stop();
      store = undefined;
    },
    async restart() {
      store = await startLocalDocstore({ dataDir: dir, port });
    },
    async close() {
      await store?.stop();
      store = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether fault tests (stopping the store) can run: only with our own local store. */
export const canControlStore = !process.env['MONGODB_URI'];
