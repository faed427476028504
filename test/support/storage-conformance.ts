import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import type { Participant } from '../../src/contracts/schemas.js';
import type { StoredMessage } from '../../src/domain/types.js';
import { createLogger } from '../../src/logger.js';
import { MongoAgentCredentialStore } from '../../src/storage/agent-credential.store.js';
import { MongoAgentStore } from '../../src/storage/agent.store.js';
import { MongoChannelStore } from '../../src/storage/channel.store.js';
import { MongoContactStore } from '../../src/storage/contact.store.js';
import { MongoConversationStore } from '../../src/storage/conversation.store.js';
import { Database } from '../../src/storage/database.js';
import { MongoDeferredSendStore } from '../../src/storage/deferred-send.store.js';
import { MongoEventMarkerStore } from '../../src/storage/event-marker.store.js';
import { MongoMessageStore } from '../../src/storage/message.store.js';
import { MongoWebhookStore } from '../../src/storage/webhook.store.js';
import { startJavaMongo } from './java-mongo.js';
import { startTestStore } from './store.js';

/**
 * Storage conformance: every scenario runs the storage layer's own classes (src/storage) against
 * each MongoDB-wire backend: the local store (startTestStore(): FerretDB, or mongod when on PATH,
 * or MONGODB_URI), mongo-java-server (an independent implementation), and a real mongod when one
 * is on PATH. Each scenario returns a normalised result; the test asserts the MongoDB-semantics
 * value on every backend and that all backends agree, so a shape one server answers differently fails.
 */

const TIMEOUT_MS = 10_000;

export interface Stores {
  db: Database;
  conversations: MongoConversationStore;
  agents: MongoAgentStore;
  messages: MongoMessageStore;
  contacts: MongoContactStore;
  channels: MongoChannelStore;
  webhooks: MongoWebhookStore;
  deferred: MongoDeferredSendStore;
  markers: MongoEventMarkerStore;
  credentials: MongoAgentCredentialStore;
}

export interface Backend {
  name: string;
  stores: Stores;
  /** Empties every collection (indexes stay). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export interface Scenario {
  name: string;
  /** The result on MongoDB, after normalise(). */
  expected: unknown;
  run(stores: Stores): Promise<unknown>;
}

async function openStores(uri: string): Promise<Stores> {
  const db = new Database({ uri, opTimeoutMs: TIMEOUT_MS, serverSelectionTimeoutMs: 5000 }, createLogger('silent'));
  await db.connect();
  return {
    db,
    conversations: new MongoConversationStore(db, TIMEOUT_MS),
    agents: new MongoAgentStore(db, TIMEOUT_MS),
    messages: new MongoMessageStore(db, TIMEOUT_MS),
    contacts: new MongoContactStore(db, TIMEOUT_MS),
    channels: new MongoChannelStore(db, TIMEOUT_MS),
    webhooks: new MongoWebhookStore(db, TIMEOUT_MS),
    deferred: new MongoDeferredSendStore(db, TIMEOUT_MS),
    markers: new MongoEventMarkerStore(db, TIMEOUT_MS),
    credentials: new MongoAgentCredentialStore(db, TIMEOUT_MS),
  };
}

async function backend(name: string, uri: string, stop: () => Promise<void>): Promise<Backend> {
  const stores = await openStores(uri).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return {
    name,
    stores,
    async clear() {
      await Promise.all(Object.values(stores.db.connection.models).map((m) => m.deleteMany({})));
    },
    async close() {
      await stores.db.close();
      await stop();
    },
  };
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function localName(): string {
  return process.env['MONGODB_URI'] ? 'MONGODB_URI' : onPath('mongod') ? 'mongod (local store)' : 'local store (FerretDB)';
}

/** Dates as ISO strings, Sets as sorted arrays, undefined fields dropped: what deep-equal compares. */
export function normalise(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => {
      if (v instanceof Set) return [...(v as Set<unknown>)].sort();
      return v;
    }),
  ) as unknown;
}

/** Runs promise-returning functions at once and settles them all (results or error messages). */
export async function together<T>(count: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => fn(i)));
}

/**
 * The backends, started by the first conformance block that runs and shared by the others
 * (each block uses its own database on them); stopped after the last block.
 */
let shared: Promise<Array<{ name: string; uri: (db: string) => string; stop: () => Promise<void> }>> | undefined;
let rootHookAdded = false;
/** Conformance blocks defined (all are, before any runs) and finished, so the last one stops the servers. */
let blocks = 0;
let blocksDone = 0;

async function stopServers(): Promise<void> {
  const started = shared;
  shared = undefined;
  if (started) await Promise.all((await started).map((b) => b.stop()));
}

function servers(): NonNullable<typeof shared> {
  shared ??= (async () => {
    const list: Array<{ name: string; uri: (db: string) => string; stop: () => Promise<void> }> = [];
    const local = await startTestStore();
    list.push({ name: localName(), uri: (db) => local.uri(db), stop: () => local.close() });
    try {
      const java = await startJavaMongo();
      list.push({ name: 'mongo-java-server', uri: (db) => java.uri(db), stop: () => java.stop() });
      // A real mongod: the local store is one when mongod is on PATH; with MONGODB_URI set, start one besides.
      if (process.env['MONGODB_URI'] && onPath('mongod')) {
        const saved = process.env['MONGODB_URI'];
        delete process.env['MONGODB_URI'];
        try {
          const mongod = await startTestStore();
          list.push({ name: 'mongod', uri: (db) => mongod.uri(db), stop: () => mongod.close() });
        } finally {
          process.env['MONGODB_URI'] = saved;
        }
      }
    } catch (err) {
      await Promise.all(list.map((b) => b.stop()));
      throw err;
    }
    return list;
  })();
  return shared;
}

/** Defines a describe block that runs each scenario on every backend and compares. */
export function conformance(title: string, dbName: string, scenarios: Scenario[]): void {
  if (!rootHookAdded) {
    rootHookAdded = true;
    // Called while spec files load, outside any describe: a root hook, run once after all tests
    // (in case a filtered run skipped the last block's own after-hook).
    after(async function () {
      this.timeout(30_000);
      await stopServers();
    });
  }
  blocks += 1;
  describe(`storage conformance: ${title}`, function () {
    this.timeout(60_000);
    let backends: Backend[] = [];

    before(async function () {
      backends = await Promise.all((await servers()).map((srv) => backend(srv.name, srv.uri(dbName), async () => undefined)));
    });

    after(async function () {
      await Promise.all(backends.map((b) => b.close()));
      blocksDone += 1;
      if (blocksDone === blocks) await stopServers();
    });

    for (const scenario of scenarios) {
      it(scenario.name, async function () {
        const got: Record<string, unknown> = {};
        const want: Record<string, unknown> = {};
        for (const b of backends) {
          await b.clear();
          try {
            got[b.name] = normalise(await scenario.run(b.stores));
          } catch (err) {
            got[b.name] = `threw: ${(err as Error).message}`;
          }
          want[b.name] = normalise(scenario.expected);
        }
        // Every backend gives MongoDB's answer (all differences shown at once) ...
        expect(got, 'result per backend').to.deep.equal(want);
        // ... and so all backends agree with each other.
        const [first, ...rest] = backends;
        for (const b of rest) expect(got[b.name], `${b.name} vs ${first?.name}`).to.deep.equal(got[first?.name ?? '']);
      });
    }
  });
}

/** The storage tests' clock: second `s` after 2026-01-01T00:00:00Z. */
export const T0 = Date.parse('2026-01-01T00:00:00.000Z');
export const at = (s: number): Date => new Date(T0 + s * 1000);

/** Message `seq` of a conversation as the message store takes it (id `<conversation>-m<seq>`, stamped at(seq)), with `over` on top. */
export function storedChatMessage(conversationId: string, seq: number, from: Participant, over: Partial<StoredMessage> = {}): StoredMessage {
  const id = over.id ?? `${conversationId}-m${seq}`;
  return {
    id,
    conversationId,
    seq,
    type: 'ChatMessage',
    from,
    to: [],
    audience: ['*'],
    text: `text ${seq}`,
    refId: '',
    tag: '',
    channel: 'web',
    state: 'DELIVERED',
    metadata: {},
    timestamp: at(seq),
    dedupKey: id,
    ...over,
  };
}
