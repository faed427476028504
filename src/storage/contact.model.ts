import { Schema, type Connection, type Model } from 'mongoose';

/** A contact as stored: identifiers are absent (never null) when unknown, so the sparse unique indexes skip them. */
export interface ContactDoc {
  _id: string;
  externalId?: string;
  email?: string;
  phoneNumber?: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

const contactSchema = new Schema<ContactDoc>(
  {
    _id: { type: String, required: true },
    externalId: String,
    email: String,
    phoneNumber: String,
    metadata: { type: Schema.Types.Mixed, default: {} },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'contacts', versionKey: false, strict: true, minimize: false },
);
// One contact per identity: each identifier belongs to at most one contact, also across processes.
contactSchema.index({ externalId: 1 }, { unique: true, sparse: true });
contactSchema.index({ email: 1 }, { unique: true, sparse: true });
contactSchema.index({ phoneNumber: 1 }, { unique: true, sparse: true });

export const CONTACT_MODEL = 'Contact';

export function registerContactModel(connection: Connection): Model<ContactDoc> {
  return connection.model<ContactDoc>(CONTACT_MODEL, contactSchema);
}
