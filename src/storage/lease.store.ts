import type { Model } from 'mongoose';
import type { LeaseStore } from '../domain/ports.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';
import { LEASE_MODEL, type LeaseDoc } from './lease.model.js';

/**
 * Leases in the database, so processes sharing it agree on who does a piece of work. Taking one
 * is a single conditional upsert: it matches only a lease this owner holds or one that expired;
 * when another owner holds it, the upsert's insert collides on _id and the answer is no.
 */
export class MongoLeaseStore implements LeaseStore {
  private readonly model: Model<LeaseDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<LeaseDoc>(LEASE_MODEL);
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return dbCall(this.timeoutMs, async () => {
      const now = Date.now();
      try {
        // The driver's call: mongoose would cast the $or branch of an upsert's filter into the new document.
        const doc = await this.model.collection.findOneAndUpdate(
          { _id: name, $or: [{ owner }, { until: { $lt: new Date(now) } }] } as never,
          { $set: { owner, until: new Date(now + ttlMs) } },
          { upsert: true, returnDocument: 'after', includeResultMetadata: false },
        );
        return (doc as LeaseDoc | null)?.owner === owner;
      } catch (err) {
        if (isDuplicateKeyError(err)) return false;
        throw err;
      }
    });
  }

  async release(name: string, owner: string): Promise<void> {
    await dbCall(this.timeoutMs, async () => {
      await this.model.deleteOne({ _id: name, owner });
    });
  }
}
