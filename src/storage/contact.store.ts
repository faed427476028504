import mongoose, { type Model, type mongo } from 'mongoose';
import type { ContactChange, ContactIdentifiers, ContactRecord, ContactStore } from '../domain/ports.js';
import { CONTACT_MODEL, type ContactDoc } from './contact.model.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

function fromDoc(doc: ContactDoc): ContactRecord {
  return {
    id: doc._id,
    externalId: doc.externalId ?? null,
    email: doc.email ?? null,
    phoneNumber: doc.phoneNumber ?? null,
    metadata: doc.metadata ?? {},
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

/** Contacts (contacts.identify) in MongoDB; unique indexes keep one contact per identifier. */
export class MongoContactStore implements ContactStore {
  private readonly model: Model<ContactDoc>;
  private readonly collection: mongo.Collection<ContactDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<ContactDoc>(CONTACT_MODEL);
    this.collection = this.model.collection as unknown as mongo.Collection<ContactDoc>;
  }

  async owners(ids: ContactIdentifiers): Promise<ContactRecord[]> {
    const clauses: Array<Record<string, string>> = [];
    if (ids.externalId) clauses.push({ externalId: ids.externalId });
    if (ids.email) clauses.push({ email: ids.email });
    if (ids.phoneNumber) clauses.push({ phoneNumber: ids.phoneNumber });
    if (clauses.length === 0) return [];
    // One equality per identifier (each unique, each indexed) rather than one $or: the shape
    // every MongoDB-protocol store answers from an index.
    return dbCall(this.timeoutMs, async () => {
      const found = await Promise.all(clauses.map((clause) => this.model.findOne(clause).lean<ContactDoc>()));
      const byId = new Map<string, ContactDoc>();
      for (const doc of found) if (doc && !byId.has(doc._id)) byId.set(doc._id, doc);
      return [...byId.values()].map(fromDoc);
    });
  }

  async create(contact: ContactRecord): Promise<ContactRecord | 'duplicate'> {
    const doc: ContactDoc = { _id: contact.id, metadata: contact.metadata, createdAt: contact.createdAt, updatedAt: contact.updatedAt };
    if (contact.externalId) doc.externalId = contact.externalId;
    if (contact.email) doc.email = contact.email;
    if (contact.phoneNumber) doc.phoneNumber = contact.phoneNumber;
    return dbCall(this.timeoutMs, async () => {
      try {
        await this.collection.insertOne(doc);
        return contact;
      } catch (err) {
        if (isDuplicateKeyError(err)) return 'duplicate';
        throw err;
      }
    });
  }

  async update(id: string, change: ContactChange): Promise<ContactRecord | 'duplicate' | null> {
    const set: Record<string, unknown> = { updatedAt: change.at };
    if (change.externalId) set['externalId'] = change.externalId;
    if (change.email) set['email'] = change.email;
    if (change.phoneNumber) set['phoneNumber'] = change.phoneNumber;
    // Keys are a client's: set them as one object under metadata, never as dotted paths.
    if (change.metadata) set['metadata'] = change.metadata;
    const claimed: Array<Record<string, string>> = [];
    if (change.externalId) claimed.push({ externalId: change.externalId });
    if (change.email) claimed.push({ email: change.email });
    if (change.phoneNumber) claimed.push({ phoneNumber: change.phoneNumber });
    return dbCall(this.timeoutMs, async () => {
      // An identifier another contact holds is refused before writing. The unique indexes still
      // decide a race (11000 below); the check keeps the answer the same on stores that report an
      // update's unique-index violation otherwise (FerretDB 1.24: InternalError; docs/development.md).
      if (claimed.length > 0) {
        const holder = await this.model.findOne(mongoose.trusted({ _id: mongoose.trusted({ $ne: id }), $or: claimed }), { _id: 1 }).lean<Pick<ContactDoc, '_id'>>();
        if (holder) return 'duplicate';
      }
      try {
        const doc = await this.model.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' }).lean<ContactDoc>();
        return doc ? fromDoc(doc) : null;
      } catch (err) {
        if (isDuplicateKeyError(err)) return 'duplicate';
        throw err;
      }
    });
  }
}
