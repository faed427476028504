import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import type { AgentCredentialStore } from '../domain/ports.js';
import type { Database } from './database.js';
import { dbCall, isDuplicateKeyError } from './db-errors.js';

/** One agent's token epoch; absent means 0 (never revoked). */
export interface AgentCredentialDoc {
  _id: string;
  epoch: number;
  revokedAt: Date;
}

const agentCredentialSchema = new Schema<AgentCredentialDoc>(
  {
    _id: { type: String, required: true },
    epoch: { type: Number, required: true },
    revokedAt: { type: Date, required: true },
  },
  { collection: 'agent_credentials', versionKey: false, strict: true },
);
// Each process reads the revocations since its last look (CredentialService's feed).
agentCredentialSchema.index({ revokedAt: 1 });

export const AGENT_CREDENTIAL_MODEL = 'AgentCredential';

export function registerAgentCredentialModel(connection: Connection): Model<AgentCredentialDoc> {
  return connection.model<AgentCredentialDoc>(AGENT_CREDENTIAL_MODEL, agentCredentialSchema);
}

/** Agents' token epochs in MongoDB, shared by every hub process. */
export class MongoAgentCredentialStore implements AgentCredentialStore {
  private readonly model: Model<AgentCredentialDoc>;

  constructor(
    db: Database,
    private readonly timeoutMs: number,
  ) {
    this.model = db.connection.model<AgentCredentialDoc>(AGENT_CREDENTIAL_MODEL);
  }

  async epoch(agentId: string): Promise<number> {
    return dbCall(this.timeoutMs, async () => {
      const doc = await this.model.findById(agentId, { epoch: 1 }).lean<Pick<AgentCredentialDoc, 'epoch'>>();
      return doc?.epoch ?? 0;
    });
  }

  async revokedSince(since: Date): Promise<Array<{ agentId: string; epoch: number }>> {
    return dbCall(this.timeoutMs, async () => {
      const docs = await this.model.find({ revokedAt: mongoose.trusted({ $gte: since }) }, { epoch: 1 }).lean<Array<Pick<AgentCredentialDoc, '_id' | 'epoch'>>>();
      return docs.map((d) => ({ agentId: d._id, epoch: d.epoch }));
    });
  }

  async revoke(agentId: string, at: Date): Promise<number> {
    return dbCall(this.timeoutMs, async () => {
      const bump = () =>
        this.model
          .findOneAndUpdate({ _id: agentId }, { $inc: { epoch: 1 }, $set: { revokedAt: at } }, { upsert: true, returnDocument: 'after' })
          .lean<AgentCredentialDoc>();
      let doc: AgentCredentialDoc | null;
      try {
        doc = await bump();
      } catch (err) {
        // Two first revocations at once: the loser's upsert collides, and its retry increments.
        if (!isDuplicateKeyError(err)) throw err;
        doc = await bump();
      }
      if (!doc) throw new Error(`agent ${agentId}'s credentials were not stored`);
      return doc.epoch;
    });
  }
}
