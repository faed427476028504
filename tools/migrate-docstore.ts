/**
 * Copies a local document store made by an earlier version (FerretDB + SQLite files) into
 * the current one (FerretDB on PostgreSQL), in place:
 *
 *   npm run store:migrate -- [DIR]     DIR: the store's folder, default $DATA_DIR/docstore
 *
 * 1. The .sqlite files move into DIR/sqlite-former (nothing is deleted).
 * 2. The former store is started on them (docstore -handler sqlite), the new one on DIR.
 * 3. Every database and collection is copied with its indexes, in batches, showing
 *    progress; documents already copied are skipped, so an interrupted run can be re-run.
 * 4. Counts are compared per collection; the former files stay until you remove them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mongoose from 'mongoose';
import { loadConfig } from '../src/config.js';
import { ensureDocstoreBuilt } from '../src/devstore/local-docstore.js';

type Client = InstanceType<typeof mongoose.mongo.MongoClient>;

const BATCH = 1000;
const say = (line: string): void => console.log(`[store:migrate] ${line}`);

function startStore(bin: string, args: string[], what: string): Promise<{ child: ChildProcess; uri: string }> {
  return new Promise((resolveStart, reject) => {
    const child = spawn(bin, ['-listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${what} did not start within 150 s`)), 150_000);
    function fail(e: Error): void {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    }
    child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /docstore listening on (mongodb:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.resume();
        resolveStart({ child, uri: m[1]! });
      }
    });
    child.once('exit', (code) => fail(new Error(`${what} exited (${code}) before it was ready: ${err.slice(-1500)}`)));
  });
}

function stopStore(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const force = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', () => {
      clearTimeout(force);
      done();
    });
    child.kill('SIGTERM');
  });
}

const SYSTEM_DBS = new Set(['admin', 'local', 'config']);

async function copyAll(from: Client, to: Client): Promise<{ collections: number; documents: number; mismatches: string[] }> {
  const dbs = (await from.db('admin').admin().listDatabases()).databases.map((d) => d.name).filter((n) => !SYSTEM_DBS.has(n));
  let collections = 0;
  let documents = 0;
  const mismatches: string[] = [];
  for (const dbName of dbs) {
    const src = from.db(dbName);
    const dst = to.db(dbName);
    for (const info of await src.listCollections({}, { nameOnly: true }).toArray()) {
      const name = info.name;
      collections += 1;
      const source = src.collection(name);
      const target = dst.collection(name);
      const total = await source.countDocuments({});
      // Indexes first, so unique ones hold while documents arrive.
      for (const index of await source.listIndexes().toArray()) {
        if (index['name'] === '_id_') continue;
        const { key, v: _v, ns: _ns, ...options } = index as { key: Record<string, 1 | -1>; v?: number; ns?: string; [k: string]: unknown };
        await target.createIndex(key, options);
      }
      let copied = 0;
      let lastSaid = 0;
      let batch: Record<string, unknown>[] = [];
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        try {
          await target.insertMany(batch, { ordered: false });
        } catch (err) {
          // Documents copied by an earlier, interrupted run are already there (duplicate _id).
          const writeErrors = (err as { writeErrors?: Array<{ code?: number }> | { code?: number } }).writeErrors;
          const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
          if (list.length === 0 || list.some((e) => e.code !== 11000)) throw err;
        }
        copied += batch.length;
        batch = [];
        if (Date.now() - lastSaid > 2000 || copied === total) {
          lastSaid = Date.now();
          say(`${dbName}.${name}: ${copied}/${total} documents`);
        }
      };
      for await (const doc of source.find({}, { batchSize: BATCH })) {
        batch.push(doc);
        if (batch.length >= BATCH) await flush();
      }
      await flush();
      documents += copied;
      const now = await target.countDocuments({});
      if (now !== total) mismatches.push(`${dbName}.${name}: ${total} in the former store, ${now} in the new one`);
    }
  }
  return { collections, documents, mismatches };
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  const dir = resolve(arg ?? join(loadConfig().config.dataDir, 'docstore'));
  const former = join(dir, 'sqlite-former');
  const isSqlite = (f: string): boolean => /\.sqlite(-wal|-shm|-journal)?$/.test(f);
  const here = existsSync(dir) ? readdirSync(dir).filter(isSqlite) : [];
  const already = existsSync(former) ? readdirSync(former).filter((f) => f.endsWith('.sqlite')) : [];
  if (here.length === 0 && already.length === 0) {
    say(`nothing to migrate: no .sqlite files in ${dir} or ${former}`);
    return;
  }
  mkdirSync(former, { recursive: true });
  for (const f of here) renameSync(join(dir, f), join(former, f));
  if (here.length > 0) say(`moved ${here.length} SQLite files to ${former}`);

  const bin = ensureDocstoreBuilt(say);
  say('starting the former store (FerretDB + SQLite) on ' + former);
  const old = await startStore(bin, ['-handler', 'sqlite', '-data', former], 'the former store');
  let next: { child: ChildProcess; uri: string } | undefined;
  try {
    say('starting the new store (FerretDB on PostgreSQL) on ' + dir);
    next = await startStore(bin, ['-data', dir], 'the new store');
    const from = await mongoose.mongo.MongoClient.connect(old.uri);
    const to = await mongoose.mongo.MongoClient.connect(next.uri);
    try {
      const result = await copyAll(from, to);
      if (result.mismatches.length > 0) {
        say('counts differ after the copy (run again to retry):');
        for (const m of result.mismatches) say('  ' + m);
        process.exitCode = 1;
        return;
      }
      say(`done: ${result.documents} documents in ${result.collections} collections copied; counts match.`);
      say(`The former files stay in ${former}; remove that folder once you have checked the hub.`);
    } finally {
      await from.close();
      await to.close();
    }
  } finally {
    await stopStore(old.child);
    if (next) await stopStore(next.child);
  }
}

main().catch((err: unknown) => {
  console.error(`[store:migrate] failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
