import mongoose, { type Connection } from 'mongoose';
import type { Logger } from 'pino';
import type { DatabaseProbe } from '../domain/ports.js';
import { dbCall } from './db-errors.js';
import { registerConversationModel } from './conversation.model.js';
import { registerChannelModel } from './channel.model.js';
import { registerLeaseModel } from './lease.model.js';
import { registerMessageModel } from './message.model.js';
import { registerAgentModel } from './agent.model.js';
import { registerAgentCredentialModel } from './agent-credential.store.js';
import { registerContactModel } from './contact.model.js';
import { registerDeferredSendModel } from './deferred-send.store.js';
import { upgradeStoredShapes } from './upgrades.js';
import { registerWebhookEventModels } from './webhook.model.js';

// Reject query-selector injection globally: any `$`-keyed object inside a filter is
// wrapped in $eq unless the code marks it with mongoose.trusted().
mongoose.set('sanitizeFilter', true);
mongoose.set('strictQuery', true);
mongoose.set('autoIndex', false);

export interface DatabaseOptions {
  uri: string;
  /** Deadline for any single operation, in ms. */
  opTimeoutMs: number;
  /** How long the driver looks for a server before failing an operation. */
  serverSelectionTimeoutMs: number;
  /** Emit the driver's command events (commandStarted…) on the client: for tools and tests that look at the queries sent. */
  monitorCommands?: boolean;
}

/** Owns the mongoose connection: connects with retry, creates indexes, answers pings. */
export class Database implements DatabaseProbe {
  readonly connection: Connection;
  private stopped = false;
  private indexesReady: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: DatabaseOptions,
    private readonly log: Logger,
  ) {
    // Never buffer: an operation while disconnected must fail fast, not wait silently.
    this.connection = mongoose.createConnection();
    this.connection.set('bufferCommands', false);
    registerConversationModel(this.connection);
    registerMessageModel(this.connection);
    registerChannelModel(this.connection);
    registerLeaseModel(this.connection);
    registerContactModel(this.connection);
    registerDeferredSendModel(this.connection);
    registerAgentModel(this.connection);
    registerAgentCredentialModel(this.connection);
    registerWebhookEventModels(this.connection);
    this.connection.on('disconnected', () => {
      if (!this.stopped) this.log.warn('database disconnected; the driver keeps retrying');
    });
    this.connection.on('reconnected', () => this.log.info('database reconnected'));
  }

  /** Starts connecting; resolves once connected the first time, retrying every 2 s and logging each attempt. */
  async connect(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.stopped) return;
      attempt += 1;
      try {
        await this.connection.openUri(this.options.uri, {
          bufferCommands: false,
          autoIndex: false,
          serverSelectionTimeoutMS: this.options.serverSelectionTimeoutMs,
          heartbeatFrequencyMS: 2000,
          maxPoolSize: 20,
          monitorCommands: this.options.monitorCommands ?? false,
        });
        this.log.info({ attempt }, 'database connected');
        this.indexesReady = this.ensureIndexes();
        await this.indexesReady;
        return;
      } catch (err) {
        if (this.stopped) return;
        this.log.warn({ attempt, err: (err as Error).message }, 'database not reachable yet; retrying in 2 s');
        await new Promise<void>((resolve) => {
          this.retryTimer = setTimeout(resolve, 2000);
        });
      }
    }
  }

  private async ensureIndexes(): Promise<void> {
    for (const model of Object.values(this.connection.models)) {
      await model.createIndexes();
    }
    await upgradeStoredShapes(this.connection, this.log);
  }

  async ping(): Promise<void> {
    await dbCall(this.options.opTimeoutMs, async () => {
      if (this.connection.readyState !== 1 || !this.connection.db) {
        throw new Error('MongoNotConnectedError: not connected');
      }
      await this.connection.db.admin().ping();
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.connection.close(true).catch(() => undefined);
  }
}
