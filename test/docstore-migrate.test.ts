import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { ensureDocstoreBuilt, startLocalDocstore } from '../src/devstore/local-docstore.js';
import { PROJECT_ROOT } from '../src/config.js';

const canRun = !process.env['MONGODB_URI'] && spawnSync('sh', ['-c', 'command -v mongod'], { stdio: 'ignore' }).status !== 0;

/** Starts the former store (FerretDB + SQLite) on dir and gives its URI and a stop. */
function startFormer(dir: string): Promise<{ uri: string; stop: () => Promise<void> }> {
  const child = spawn(ensureDocstoreBuilt(), ['-handler', 'sqlite', '-listen', '127.0.0.1:0', '-data', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`former store exited ${code}`)));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (mongodb:\/\/\S+)/.exec(out);
      if (m) resolve({ uri: m[1]!, stop: () => new Promise<void>((done) => { child.removeAllListeners('exit'); child.once('exit', () => done()); child.kill('SIGTERM'); }) });
    });
  });
}

/**
 * A DATA_DIR made by the SQLite store is never opened as an empty database: the store refuses
 * to start and names the command, and `npm run store:migrate` copies everything across.
 */
(canRun ? describe : describe.skip)('local store: a data dir of the former SQLite store (issue 14, item 5)', function () {
  this.timeout(240_000);
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'hub-migrate-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('refuses to start on SQLite data, naming store:migrate; the migration copies documents and indexes and the store then starts with them', async () => {
    const dir = join(root, 'docstore');
    const former = await startFormer(dir);
    const client = await mongoose.mongo.MongoClient.connect(former.uri);
    const messages = client.db('chathub').collection('messages');
    await messages.createIndex({ conversationId: 1, seq: 1 }, { unique: true, name: 'conversation_seq' });
    await messages.insertMany(Array.from({ length: 2500 }, (_, i) => ({ conversationId: `c${i % 10}`, seq: Math.floor(i / 10), text: `m${i}` })));
    await client.db('other').collection('things').insertOne({ _id: 'x' as unknown as mongoose.mongo.ObjectId, n: 1 });
    await client.close();
    await former.stop();

    let refused: Error | undefined;
    try {
      const store = await startLocalDocstore({ dataDir: root });
      await store.stop();
    } catch (err) {
      refused = err as Error;
    }
    expect(refused, 'the new store must not open SQLite data as an empty database').to.be.instanceOf(Error);
    expect(refused!.message).to.contain('SQLite').and.to.contain('npm run store:migrate');

    const run = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', 'tools', 'migrate-docstore.js'), dir], { encoding: 'utf8', timeout: 200_000 });
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.contain('chathub.messages: 2500/2500');
    expect(run.stdout).to.contain('counts match');
    expect(readdirSync(join(dir, 'sqlite-former')).some((f) => f.endsWith('.sqlite'))).to.equal(true);

    const store = await startLocalDocstore({ dataDir: root });
    try {
      const c = await mongoose.mongo.MongoClient.connect(store.uri);
      const copied = c.db('chathub').collection('messages');
      expect(await copied.countDocuments({})).to.equal(2500);
      expect(await copied.countDocuments({ conversationId: 'c3' })).to.equal(250);
      expect((await copied.listIndexes().toArray()).map((i) => i['name'])).to.include('conversation_seq');
      const dup = await copied.insertOne({ conversationId: 'c3', seq: 0, text: 'dup' }).then(() => 'inserted', (e: { code?: number }) => e.code);
      expect(dup, 'the unique index came across').to.equal(11000);
      expect(await c.db('other').collection('things').findOne({ _id: 'x' as unknown as mongoose.mongo.ObjectId })).to.include({ n: 1 });
      await c.close();
    } finally {
      await store.stop();
    }
  });
});
