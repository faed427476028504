import { Schema, type Connection, type Model } from 'mongoose';

/** A §6 channel as stored. */
export interface ChannelDoc {
  _id: string;
  source: string;
  name: string;
  createdAt: Date;
}

const channelSchema = new Schema<ChannelDoc>(
  {
    _id: { type: String, required: true },
    source: { type: String, required: true },
    name: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'channels', versionKey: false, strict: true },
);
channelSchema.index({ source: 1, name: 1 }, { unique: true });

export const CHANNEL_MODEL = 'Channel';

export function registerChannelModel(connection: Connection): Model<ChannelDoc> {
  return connection.model<ChannelDoc>(CHANNEL_MODEL, channelSchema);
}
