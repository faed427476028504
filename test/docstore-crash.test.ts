import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { startLocalDocstore, type LocalDocstore } from '../src/devstore/local-docstore.js';

const canRun = !process.env['MONGODB_URI'] && spawnSync('sh', ['-c', 'command -v mongod'], { stdio: 'ignore' }).status !== 0;

/** Whether pid is a running process (a zombie, exited but not yet reaped, is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The postmaster's pid, from the cluster's postmaster.pid. */
function postmaster(store: LocalDocstore): number {
  return Number(readFileSync(join(store.dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/**
 * kill -9 of the local store loses nothing it acknowledged (issue 14, item 1): every insert and
 * update it answered is there after a restart on the same data, whether the store process or
 * PostgreSQL itself was killed, and the restart waits for the old PostgreSQL to be gone.
 */
(canRun ? describe : describe.skip)('local store: SIGKILL right after acknowledged writes (issue 14, item 1)', function () {
  this.timeout(180_000);
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'hub-crash-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  async function writeAcked(store: LocalDocstore, from: number, count: number): Promise<void> {
    const client = await mongoose.mongo.MongoClient.connect(store.uri);
    const c = client.db('chathub').collection('acked');
    // Four writers at once, as the hub's message writer does.
    await Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (let i = from + w; i < from + count; i += 4) {
          await c.insertOne({ _id: `m${i}` as unknown as mongoose.mongo.ObjectId, n: i });
          await c.updateOne({ _id: `m${i}` as unknown as mongoose.mongo.ObjectId }, { $set: { acked: true } });
        }
      }),
    );
    await client.close();
  }

  async function countAcked(store: LocalDocstore): Promise<number> {
    const client = await mongoose.mongo.MongoClient.connect(store.uri);
    const n = await client.db('chathub').collection('acked').countDocuments({ acked: true });
    await client.close();
    return n;
  }

  it('kill -9 of docstore: 1,000 acked writes survive, and PostgreSQL follows it down', async () => {
    let store = await startLocalDocstore({ dataDir: root });
    const port = store.port;
    await writeAcked(store, 0, 1000);
    const pg = postmaster(store);
    process.kill(store.pid!, 'SIGKILL');
    // PostgreSQL gets SIGQUIT from its parent's death; the next start also waits it out.
    store = await startLocalDocstore({ dataDir: root, port });
    try {
      expect(alive(pg), 'the old postmaster is gone once the store is back').to.equal(false);
      expect(await countAcked(store)).to.equal(1000);
    } finally {
      await store.stop();
    }
  });

  it('kill -9 of PostgreSQL itself: the store fails, and a restart recovers every acked write', async () => {
    let store = await startLocalDocstore({ dataDir: root });
    const port = store.port;
    await writeAcked(store, 1000, 500);
    process.kill(postmaster(store), 'SIGKILL');
    await store.stop();
    store = await startLocalDocstore({ dataDir: root, port });
    try {
      expect(await countAcked(store)).to.equal(1500);
    } finally {
      await store.stop();
    }
  });
});
