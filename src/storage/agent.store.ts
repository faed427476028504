import mongoose, { type Model } from 'mongoose';
import type { AgentFilter, AgentProfile, AgentRecord, AgentState, AgentStore } from '../domain/ports.js';
import { AGENT_MODEL, HUB_PROCESS_MODEL, type AgentDoc, type HubProcessDoc } from './agent.model.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

function fromDoc(doc: AgentDoc): AgentRecord {
  return {
    id: doc._id,
    name: doc.name,
    skills: doc.skills ?? [],
    maxChats: doc.maxChats,
    state: doc.state,
    active: doc.active ?? [],
    idleSince: doc.idleSince,
    stateSince: doc.stateSince,
    processId: doc.processId ?? null,
  };
}

/** Agents in MongoDB. Slots are taken and freed by conditional single-document updates. */
export class MongoAgentStore implements AgentStore {
  private readonly model: Model<AgentDoc>;
  private readonly processes: Model<HubProcessDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<AgentDoc>(AGENT_MODEL);
    this.processes = db.connection.model<HubProcessDoc>(HUB_PROCESS_MODEL);
  }

  async connected(profile: AgentProfile, processId: string): Promise<AgentRecord> {
    return dbCall(this.timeoutMs, async () => {
      const now = new Date();
      const upsert = () =>
        this.model
          .findOneAndUpdate(
            { _id: profile.id },
            {
              $set: { name: profile.name, skills: profile.skills, maxChats: profile.maxChats, processId },
              $setOnInsert: { state: 'notReady', active: [], load: 0, idleSince: now, stateSince: now },
            },
            { upsert: true, returnDocument: 'after' },
          )
          .lean<AgentDoc>();
      let doc: AgentDoc | null;
      try {
        doc = await upsert();
      } catch (err) {
        // Two sockets of a new agent (or two processes) inserting at once: the loser updates.
        if (!isDuplicateKeyError(err)) throw err;
        doc = await upsert();
      }
      if (!doc) throw new Error(`agent ${profile.id} was not stored`);
      return fromDoc(doc);
    });
  }

  async disconnected(id: string, processId: string): Promise<void> {
    await dbCall(this.timeoutMs, () => this.model.updateOne({ _id: id, processId }, { $set: { processId: null } }));
  }

  async heartbeat(processId: string, until: Date): Promise<void> {
    await dbCall(this.timeoutMs, () => this.processes.updateOne({ _id: processId }, { $set: { until } }, { upsert: true }));
  }

  async liveProcesses(now: Date): Promise<Set<string>> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.processes.find({ until: mongoose.trusted({ $gt: now }) }, { _id: 1 }).lean<Array<{ _id: string }>>();
      return new Set(docs.map((d) => d._id));
    });
  }

  async setState(id: string, state: AgentState, at: Date, activeNow?: string[]): Promise<AgentRecord | null> {
    return dbCall(this.timeoutMs, async () => {
      const change: Record<string, unknown> = { state, stateSince: at };
      if (state === 'ready') {
        change['idleSince'] = at;
        if (activeNow) {
          change['active'] = activeNow;
          change['load'] = activeNow.length;
        }
      }
      // Only a change of state touches the document, so a repeated "ready" keeps its idle clock.
      const changed = await this.model
        .findOneAndUpdate({ _id: id, state: mongoose.trusted({ $ne: state }) }, { $set: change }, { returnDocument: 'after' })
        .lean<AgentDoc>();
      if (changed) return fromDoc(changed);
      const doc = await this.model.findById(id).lean<AgentDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async gone(id: string, processId: string, at: Date): Promise<void> {
    await dbCall(this.timeoutMs, () =>
      this.model.updateOne({ _id: id, processId: mongoose.trusted({ $in: [processId, null] }) }, { $set: { state: 'notReady', stateSince: at, processId: null } }),
    );
  }

  async reserve(id: string, conversationId: string, at: Date, force: boolean): Promise<AgentRecord | null> {
    return dbCall(this.timeoutMs, async () => {
      const filter: Record<string, unknown> = { _id: id, active: mongoose.trusted({ $ne: conversationId }) };
      if (!force) {
        filter['state'] = 'ready';
        // maxChats is read from the same document: an agent whose token changed it is checked against the new value.
        const current = await this.model.findById(id, { maxChats: 1 }).lean<Pick<AgentDoc, 'maxChats'>>();
        if (!current) return null;
        filter['load'] = mongoose.trusted({ $lt: current.maxChats });
        filter['maxChats'] = current.maxChats;
      }
      const doc = await this.model
        .findOneAndUpdate(filter, { $addToSet: { active: conversationId }, $inc: { load: 1 }, $set: { idleSince: at } }, { returnDocument: 'after' })
        .lean<AgentDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async release(id: string, conversationId: string): Promise<AgentRecord | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model
        .findOneAndUpdate({ _id: id, active: conversationId }, { $pull: { active: conversationId }, $inc: { load: -1 } }, { returnDocument: 'after' })
        .lean<AgentDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async findById(id: string): Promise<AgentRecord | null> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findById(id).lean<AgentDoc>();
      return doc ? fromDoc(doc) : null;
    });
  }

  async findMany(ids: string[]): Promise<AgentRecord[]> {
    if (ids.length === 0) return [];
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.model.find({ _id: mongoose.trusted({ $in: ids }) }).lean<AgentDoc[]>();
      return docs.map(fromDoc);
    });
  }

  async readyWithSkill(subject: string): Promise<AgentRecord[]> {
    return dbCall(this.timeoutMs, async () => {
      const query: Record<string, unknown> = { state: 'ready', processId: mongoose.trusted({ $ne: null }) };
      if (subject) query['skills'] = subject;
      const docs = await this.model.find(query).limit(1000).lean<AgentDoc[]>();
      return docs.map(fromDoc);
    });
  }

  async list(filter: AgentFilter, afterId: string | undefined, limit: number): Promise<AgentRecord[]> {
    return dbCall(this.timeoutMs, async () => {
      const query: Record<string, unknown> = {};
      if (filter.state) query['state'] = filter.state;
      if (filter.skill) query['skills'] = filter.skill;
      if (afterId !== undefined) query['_id'] = mongoose.trusted({ $gt: afterId });
      const docs = await this.model.find(query).sort({ _id: 1 }).limit(limit).lean<AgentDoc[]>();
      return docs.map(fromDoc);
    });
  }
}
