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
    processId: { type: String, default: null },
  },
  { collection: 'agents', versionKey: false, strict: true, minimize: false },
);
agentSchema.index({ state: 1, skills: 1 });

/** A hub process's heartbeat: its agents count as connected while `until` is ahead. */
export interface HubProcessDoc {
  _id: string;
  until: Date;
}

const processSchema = new Schema<HubProcessDoc>(
  { _id: { type: String, required: true }, until: { type: Date, required: true } },
  { collection: 'hub_processes', versionKey: false, strict: true },
);

export const AGENT_MODEL = 'Agent';
export const HUB_PROCESS_MODEL = 'HubProcess';

export function registerAgentModel(connection: Connection): Model<AgentDoc> {
  connection.model<HubProcessDoc>(HUB_PROCESS_MODEL, processSchema);
  return connection.model<AgentDoc>(AGENT_MODEL, agentSchema);
}
