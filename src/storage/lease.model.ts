import { Schema, type Connection, type Model } from 'mongoose';

/** A lease: which process holds a piece of work (e.g. a connector's outbox) until when. */
export interface LeaseDoc {
  _id: string;
  owner: string;
  until: Date;
}

const leaseSchema = new Schema<LeaseDoc>(
  {
    _id: { type: String, required: true },
    owner: { type: String, required: true },
    until: { type: Date, required: true },
  },
  { collection: 'leases', versionKey: false, strict: true },
);

export const LEASE_MODEL = 'Lease';

export function registerLeaseModel(connection: Connection): Model<LeaseDoc> {
  return connection.model<LeaseDoc>(LEASE_MODEL, leaseSchema);
}
