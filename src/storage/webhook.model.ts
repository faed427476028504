import { Schema, type Connection } from 'mongoose';
import type { WebhookEventRecord } from '../domain/webhook.ports.js';

export type WebhookEventDoc = Omit<WebhookEventRecord, 'id'> & { _id: string };

// Like messages, events are inserted as plain objects through the driver; the schema
// documents the shape and declares the index.
function eventSchema(collection: string): Schema<WebhookEventDoc> {
  return new Schema<WebhookEventDoc>(
    {
      _id: { type: String, required: true },
      type: { type: String, required: true },
      payload: { type: Schema.Types.Mixed, required: true },
      createdAt: { type: Date, required: true },
      state: { type: String, required: true },
      attempts: { type: Number, required: true },
      nextAt: { type: Date, required: true },
      lastError: { type: String, default: null },
      deliveredAt: { type: Date, default: null },
    },
    { collection, versionKey: false, strict: true, minimize: false },
  );
}

// The outbox holds pending events only, so the dispatcher's read and each conditional claim
// stay as cheap as the backlog is small. The index serves the read (pending events by nextAt)
// on MongoDB, and its leading equality (`state`) on stores that push down only equalities.
const outboxSchema = eventSchema('webhook_events');
outboxSchema.index({ state: 1, nextAt: 1 });

/** Settled events (delivered, failed), kept as the record of what was sent. */
const archiveSchema = eventSchema('webhook_events_archive');
archiveSchema.index({ createdAt: 1 });

export const WEBHOOK_EVENT_MODEL = 'WebhookEvent';
export const WEBHOOK_ARCHIVE_MODEL = 'WebhookEventArchive';

/** The domain record of a stored document. */
export function webhookEventFromDoc(doc: WebhookEventDoc): WebhookEventRecord {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest };
}

export function registerWebhookEventModels(connection: Connection): void {
  connection.model<WebhookEventDoc>(WEBHOOK_EVENT_MODEL, outboxSchema);
  connection.model<WebhookEventDoc>(WEBHOOK_ARCHIVE_MODEL, archiveSchema);
}
