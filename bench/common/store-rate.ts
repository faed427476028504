import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import { progress } from './client-util.js';
import { fmt } from './stats.js';

export interface StoreRateResult {
  docs: number;
  batches: number;
  seconds: number;
  docsPerSec: number;
  error: string | undefined;
}

const BATCH = 500;
const DURATION_MS = 5000;
const MAX_BATCHES = 2000;
const COLLECTION = 'bench_scratch';

/** A document shaped like a stored chat message. */
function messageDoc(conversationId: string, seq: number): Record<string, unknown> {
  return {
    _id: randomUUID(),
    conversationId,
    seq,
    type: 'ChatMessage',
    from: { id: randomUUID(), name: 'Bench Customer', role: 'customer' },
    to: [],
    audience: ['*'],
    text: 'Hello, I have a question about my last invoice, could you have a look please?',
    attachments: [],
    refId: 'bench@example.com',
    tag: '',
    channel: 'web',
    state: 'DELIVERED',
    metadata: { t: performance.now() },
    timestamp: new Date(),
    dedupKey: randomUUID(),
  };
}

/** Unordered insertMany batches of 500, one in flight (as the hub's writer does), for about 5 s. */
export async function measureStoreRate(uri: string): Promise<StoreRateResult> {
  progress(`store: insertMany batches of ${BATCH} into ${COLLECTION} for ~${DURATION_MS / 1000} s…`);
  const connection = mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000, maxPoolSize: 2 });
  let docs = 0;
  let batches = 0;
  let error: string | undefined;
  const started = performance.now();
  try {
    await connection.asPromise();
    const collection = connection.collection(COLLECTION);
    const conversationId = randomUUID();
    while (performance.now() - started < DURATION_MS && batches < MAX_BATCHES) {
      const batch = Array.from({ length: BATCH }, (_, i) => messageDoc(conversationId, docs + i + 1));
      await collection.insertMany(batch, { ordered: false });
      docs += BATCH;
      batches += 1;
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const seconds = (performance.now() - started) / 1000;
  try {
    await connection.dropCollection(COLLECTION);
  } catch (err) {
    progress(`store: could not drop ${COLLECTION}: ${err instanceof Error ? err.message : String(err)}`);
  }
  await connection.close(true).catch(() => undefined);
  const docsPerSec = seconds > 0 ? docs / seconds : 0;
  progress(`store: ${fmt(docs)} docs in ${batches} batches over ${fmt(seconds, 1)} s = ${fmt(docsPerSec)} docs/s${error ? ` (error: ${error})` : ''}`);
  return { docs, batches, seconds, docsPerSec, error };
}

/** Documents per collection as the store counts them (to compare with what the hub says it stored). */
export async function countDocuments(uri: string, collections: readonly string[]): Promise<Record<string, number>> {
  const connection = mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000, maxPoolSize: 1 });
  const counts: Record<string, number> = {};
  try {
    await connection.asPromise();
    for (const name of collections) counts[name] = await connection.collection(name).countDocuments({}, { maxTimeMS: 30_000 });
  } finally {
    await connection.close(true).catch(() => undefined);
  }
  return counts;
}

/** Drops a scratch database the bench created. */
export async function dropDatabase(uri: string): Promise<void> {
  const connection = mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000, maxPoolSize: 1 });
  try {
    await connection.asPromise();
    await connection.dropDatabase();
  } finally {
    await connection.close(true).catch(() => undefined);
  }
}
