import mongoose, { type Model, type mongo } from 'mongoose';
import type { WebhookDue, WebhookEventRecord, WebhookRefusal, WebhookStore } from '../domain/webhook.ports.js';
import type { Database } from './database.js';
import { dbCall } from './db-errors.js';
import { WEBHOOK_ARCHIVE_MODEL, WEBHOOK_EVENT_MODEL, webhookEventFromDoc, type WebhookEventDoc } from './webhook.model.js';

interface BulkWriteErrorLike {
  code?: number;
  writeErrors?: Array<{ index: number; code: number; errmsg?: string }>;
}

const toDoc = ({ id, ...rest }: WebhookEventRecord): WebhookEventDoc => ({ _id: id, ...rest });

/**
 * Inserts documents unordered, treating ids already stored (a retried insert that landed after
 * all) as done; returns the indexes the database refused as documents, with its reason. Throws
 * when the outcome of the whole insert is unknown (no per-document errors).
 */
async function insertNew(collection: mongo.Collection<WebhookEventDoc>, docs: WebhookEventDoc[]): Promise<Array<{ index: number; reason: string }>> {
  try {
    await collection.insertMany(docs, { ordered: false });
    return [];
  } catch (err) {
    const bulk = err as BulkWriteErrorLike;
    if (bulk.writeErrors === undefined && bulk.code === 11000) return [];
    const writeErrors = bulk.writeErrors ?? [];
    if (writeErrors.length === 0) throw err;
    return writeErrors.filter((w) => w.code !== 11000).map((w) => ({ index: w.index, reason: w.errmsg ?? `write error ${w.code}` }));
  }
}

/**
 * The webhook outbox in MongoDB: pending events in `webhook_events`, settled ones moved to
 * `webhook_events_archive`. Claims, retries and give-ups are conditional updates by _id (atomic
 * per document; on FerretDB too, behind tools/docstore's write gate); the outbox stays small,
 * so on a store that scans for any filter but `{_id}` those scans stay short.
 */
/** How many events `known` looks up at once. */
const KNOWN_PARALLEL = 16;

export class MongoWebhookStore implements WebhookStore {
  private readonly model: Model<WebhookEventDoc>;
  private readonly collection: mongo.Collection<WebhookEventDoc>;
  private readonly archive: mongo.Collection<WebhookEventDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<WebhookEventDoc>(WEBHOOK_EVENT_MODEL);
    this.collection = this.model.collection as unknown as mongo.Collection<WebhookEventDoc>;
    this.archive = db.connection.model<WebhookEventDoc>(WEBHOOK_ARCHIVE_MODEL).collection as unknown as mongo.Collection<WebhookEventDoc>;
  }

  async insert(events: WebhookEventRecord[]): Promise<WebhookRefusal[]> {
    if (events.length === 0) return [];
    const refused = await dbCall(this.timeoutMs, () => insertNew(this.collection, events.map(toDoc)));
    return refused.flatMap(({ index, reason }) => {
      const event = events[index];
      return event ? [{ id: event.id, reason }] : [];
    });
  }

  async known(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return dbCall(this.timeoutMs, async () => {
      // One lookup by _id per event, a few at a time: equality on _id is the one filter every
      // store answers from an index (FerretDB scans for $in).
      const seen = new Set<string>();
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += KNOWN_PARALLEL) {
        const chunk = unique.slice(i, i + KNOWN_PARALLEL);
        const found = await Promise.all(
          chunk.flatMap((id) => [
            this.collection.findOne({ _id: id }, { projection: { _id: 1 } }),
            this.archive.findOne({ _id: id }, { projection: { _id: 1 } }),
          ]),
        );
        for (const doc of found) if (doc) seen.add(doc._id);
      }
      return seen;
    });
  }

  async pending(limit: number): Promise<WebhookDue[]> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.model
        .find({ state: 'pending' }, { _id: 1, nextAt: 1 })
        .sort({ nextAt: 1 })
        .limit(limit)
        .lean<Array<Pick<WebhookEventDoc, '_id' | 'nextAt'>>>();
      return docs.map((d) => ({ id: d._id, nextAt: d.nextAt }));
    });
  }

  async claim(id: string, now: Date, leaseUntil: Date): Promise<WebhookEventRecord | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model
        .findOneAndUpdate(
          { _id: id, state: 'pending', nextAt: mongoose.trusted({ $lte: now }) },
          { $set: { nextAt: leaseUntil }, $inc: { attempts: 1 } },
          { returnDocument: 'after' },
        )
        .lean<WebhookEventDoc>();
      return doc ? webhookEventFromDoc(doc) : null;
    });
  }

  async delivered(event: WebhookEventRecord, at: Date): Promise<void> {
    await dbCall(this.timeoutMs, () => this.settle({ ...event, state: 'delivered', deliveredAt: at, lastError: null }));
  }

  async retryAt(id: string, attempt: number, nextAt: Date, error: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id, state: 'pending', attempts: attempt }, { $set: { nextAt, lastError: error } }));
  }

  async giveUp(event: WebhookEventRecord, error: string): Promise<boolean> {
    return dbCall(this.timeoutMs, async () => {
      // Decided here, conditionally: only the holder of the latest attempt gives the event up.
      const result = await this.model.updateOne({ _id: event.id, state: 'pending', attempts: event.attempts }, { $set: { state: 'failed', lastError: error } });
      if (result.modifiedCount !== 1) return false;
      await this.settle({ ...event, state: 'failed', lastError: error });
      return true;
    });
  }

  async release(id: string, attempt: number, now: Date): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id, state: 'pending', attempts: attempt }, { $set: { nextAt: now }, $inc: { attempts: -1 } }));
  }

  /**
   * Moves a settled event to the archive: archive first, so a crash in between leaves it in
   * both places (a delivered one is then sent once more), never in neither. The delete filters
   * on _id alone, the one filter every store answers from an index.
   */
  private async settle(event: WebhookEventRecord): Promise<void> {
    const [refused] = await insertNew(this.archive, [toDoc(event)]);
    if (refused) throw new Error(`the archive refused event ${event.id}: ${refused.reason}`);
    await this.collection.deleteOne({ _id: event.id });
  }
}
