import { Schema, type Connection, type Model } from 'mongoose';
import type { AgentRecord } from '../domain/ports.js';

/** The stored shape: the domain AgentRecord with `_id` in place of `id`, plus its load. */
export type AgentDoc = Omit<AgentRecord, 'id'> & { _id: string; load: number };

const agentSchema = new Schema<AgentDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    skills: { type: [String], default: [] },
    maxChats: { type: Number, required: true },
    state: { type: String, required: true },
    active: { type: [String], default: [] },
    // Always active.length: both change in the same update, so a capacity check is one filter.
    load: { type: Number, default: 0 },
    idleSince: { type: Date, required: true },
    stateSince: { type: Date, required: true },
    presenceUntil: { type: Date, required: true },
  },
  { collection: 'agents', versionKey: false, strict: true, minimize: false },
);
agentSchema.index({ state: 1, skills: 1 });

export const AGENT_MODEL = 'Agent';

export function registerAgentModel(connection: Connection): Model<AgentDoc> {
  return connection.model<AgentDoc>(AGENT_MODEL, agentSchema);
}
