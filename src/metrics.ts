import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { MessageWriter } from './domain/message-writer.js';
import type { OutboxService } from './domain/outbox.service.js';
import type { TranscriptService } from './domain/transcript.service.js';
import type { RoutingService } from './domain/routing.service.js';
import type { WebhookStats } from './domain/webhook.service.js';

export interface MetricsSources {
  writer: MessageWriter;
  outbox: OutboxService;
  transcripts: TranscriptService;
  routing: RoutingService;
  connectedSockets: () => number;
  /** Agent token revocations (POST /api/agents/:id/revoke). */
  credentials: { readonly stats: { agentRevocations: number } };
  /** §6: chat plugin, contacts, messages.send's deferred sends. */
  seedApi: {
    chatPlugin: { readonly stats: { opened: number; resumed: number; revoked: number } };
    contacts: { readonly stats: { created: number; found: number; conflicts: number } };
    deferredSends: { readonly stats: { deferred: number; sent: number; failed: number } };
  };
  /** What bounds one client's cost: cache sizes, connections closed for not reading, handshakes refused at a cap. */
  bounds?: {
    cacheBytes: () => Record<string, number>;
    backlogDrops: () => number;
    capRefusals: () => { refusedPrincipal: number; refusedAddress: number };
  };
  /** Undefined when webhooks are off (WEBHOOK_URL unset): the metrics then stay at zero. */
  webhooks: { readonly stats: WebhookStats; readonly pending: number } | undefined;
}

/** A registry per hub (so several hubs can live in one test process), with process and hub metrics. */
export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Counter({
    name: 'hub_messages_stored_total',
    help: 'Messages durably stored',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.writer.stats.messages);
    },
  });
  new Counter({
    name: 'hub_message_batches_total',
    help: 'Batched message inserts',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.writer.stats.batches);
    },
  });
  new Counter({
    name: 'hub_routing_assignments_total',
    help: 'Conversations given to an agent: by the queue, picked by the agent (joinConversation), or by a transfer',
    labelNames: ['via'],
    registers: [registry],
    collect() {
      this.reset();
      const { queue, pick, transfer } = sources.routing.stats.assigned;
      this.inc({ via: 'queue' }, queue);
      this.inc({ via: 'pick' }, pick);
      this.inc({ via: 'transfer' }, transfer);
    },
  });
  new Counter({
    name: 'hub_routing_no_agent_available_total',
    help: 'noAgentAvailable notices sent to waiting customers',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.routing.stats.noAgentAvailable);
    },
  });
  new Gauge({
    name: 'hub_routing_wait_seconds_max',
    help: 'Longest queue wait among the last 1,000 assignments made by this process',
    registers: [registry],
    collect() {
      const waits = sources.routing.stats.waitMs;
      this.set(waits.length > 0 ? Math.max(...waits) / 1000 : 0);
    },
  });
  new Gauge({
    name: 'hub_agents_connected',
    help: 'Agents with at least one socket on this process (tabs count once)',
    registers: [registry],
    collect() {
      this.set(sources.routing.presence.connected().length);
    },
  });
  new Gauge({
    name: 'hub_connected_sockets',
    help: 'Socket.IO connections on this process',
    registers: [registry],
    collect() {
      this.set(sources.connectedSockets());
    },
  });
  new Counter({
    name: 'hub_connector_handovers_total',
    help: 'Messages handed to a connector (messageArrived), retries included',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.outbox.stats.handovers);
    },
  });
  new Counter({
    name: 'hub_connector_retries_total',
    help: 'Hand-overs repeated after a missing ack, a disconnect or a retryable refusal',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.outbox.stats.retries);
    },
  });
  new Counter({
    name: 'hub_connector_outcomes_total',
    help: 'Connector answers that settled a message, by resulting state',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      const { delivered, accepted, failed } = sources.outbox.stats;
      this.inc({ outcome: 'delivered' }, delivered);
      this.inc({ outcome: 'accepted' }, accepted);
      this.inc({ outcome: 'failed' }, failed);
    },
  });
  new Gauge({
    name: 'hub_connector_members',
    help: 'Connector connections registered on this process, per connector',
    labelNames: ['connector'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of sources.outbox.snapshot()) this.set({ connector: pool.connector }, pool.members);
    },
  });
  new Gauge({
    name: 'hub_outbox_lease_held',
    help: "1 when this process delivers the connector's messages (alone always; with REDIS_URL, while it holds the connector's lease)",
    labelNames: ['connector'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of sources.outbox.snapshot()) this.set({ connector: pool.connector }, pool.holding ? 1 : 0);
    },
  });
  new Gauge({
    name: 'hub_outbox_queued',
    help: 'Messages queued in memory for a connector on this process, per connector',
    labelNames: ['connector'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of sources.outbox.snapshot()) this.set({ connector: pool.connector }, pool.queued);
    },
  });
  new Counter({
    name: 'hub_transcripts_total',
    help: 'Transcript requests that got past access checks, by type (pdf, email) and outcome (ok, failed)',
    labelNames: ['type', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const type of ['pdf', 'email'] as const) {
        this.inc({ type, outcome: 'ok' }, sources.transcripts.stats[type].ok);
        this.inc({ type, outcome: 'failed' }, sources.transcripts.stats[type].failed);
      }
    },
  });
  labelledCounter(registry, 'hub_transcript_renders_total', 'Transcripts drawn (pdf and email), and pdf requests answered with a PDF already drawn (cached)', 'source', () => ({
    rendered: sources.transcripts.stats.renders,
    cached: sources.transcripts.stats.cacheHits,
  }));
  new Gauge({
    name: 'hub_transcripts_in_progress',
    help: 'Transcripts rendering now (running) and waiting for a turn (waiting)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const load = sources.transcripts.load;
      this.set({ state: 'running' }, load.running);
      this.set({ state: 'waiting' }, load.waiting);
    },
  });
  new Counter({
    name: 'hub_webhook_events_total',
    help: 'Webhook outcomes on this process: events delivered, attempts retried, events given up (failed), refused by the outbox as documents and set aside (refused), or lost before they were stored (dropped)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      const stats = sources.webhooks?.stats ?? { delivered: 0, retried: 0, failed: 0, dropped: 0, refused: 0 };
      this.inc({ outcome: 'delivered' }, stats.delivered);
      this.inc({ outcome: 'retried' }, stats.retried);
      this.inc({ outcome: 'failed' }, stats.failed);
      this.inc({ outcome: 'dropped' }, stats.dropped);
      this.inc({ outcome: 'refused' }, stats.refused);
    },
  });
  new Gauge({
    name: 'hub_webhook_outbox_pending',
    help: 'Webhook events this process holds: not yet stored, due, being sent, or waiting here for a retry',
    registers: [registry],
    collect() {
      this.set(sources.webhooks?.pending ?? 0);
    },
  });
  labelledCounter(registry, 'hub_chatplugin_conversations_total', 'chatplugin.authenticate: conversations opened for a channel_id, and resumed with a resume token', 'via', () => ({
    new: sources.seedApi.chatPlugin.stats.opened,
    resume: sources.seedApi.chatPlugin.stats.resumed,
  }));
  labelledCounter(registry, 'hub_chatplugin_revocations_total', 'Conversations whose resume tokens were revoked', undefined, () => ({ '': sources.seedApi.chatPlugin.stats.revoked }));
  labelledCounter(registry, 'hub_agent_revocations_total', 'Agents whose tokens were revoked (POST /api/agents/:id/revoke)', undefined, () => ({ '': sources.credentials.stats.agentRevocations }));
  labelledCounter(registry, 'hub_contacts_identified_total', 'contacts.identify outcomes: a contact created, found, or a conflict (409)', 'outcome', () => {
    const { created, found, conflicts } = sources.seedApi.contacts.stats;
    return { created, found, conflict: conflicts };
  });
  const bounds = sources.bounds;
  if (bounds) {
    new Gauge({
      name: 'hub_cache_bytes',
      help: 'Approximate heap bytes each in-memory cache holds (history, conversations, recentSends, transcripts: rendered PDFs)',
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        for (const [cache, bytes] of Object.entries(bounds.cacheBytes())) this.set({ cache }, bytes);
      },
    });
    labelledCounter(registry, 'hub_socket_backlog_closed_total', 'Connections closed because more than SOCKET_MAX_BUFFERED_BYTES waited unread for them', undefined, () => ({
      '': bounds.backlogDrops(),
    }));
    labelledCounter(registry, 'hub_socket_handshakes_refused_total', 'Socket handshakes refused at a connection cap, by cap (principal, address)', 'cap', () => {
      const { refusedPrincipal, refusedAddress } = bounds.capRefusals();
      return { principal: refusedPrincipal, address: refusedAddress };
    });
  }
  labelledCounter(registry, 'hub_deferred_sends_total', 'messages.send answered 202: deferred, later sent to its conversation, or failed', 'outcome', () => ({ ...sources.seedApi.deferredSends.stats }));
  return registry;
}

/** A counter read from the hub's own stats at scrape time: one series per key (label `label`), or one unlabelled. */
function labelledCounter(registry: Registry, name: string, help: string, label: string | undefined, read: () => Record<string, number>): void {
  new Counter({
    name,
    help,
    labelNames: label ? [label] : [],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, value] of Object.entries(read())) {
        if (label) this.inc({ [label]: key }, value);
        else this.inc(value);
      }
    },
  });
}
