import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { MessageWriter } from './domain/message-writer.js';

export interface MetricsSources {
  writer: MessageWriter;
  connectedSockets: () => number;
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
  new Gauge({
    name: 'hub_connected_sockets',
    help: 'Socket.IO connections on this process',
    registers: [registry],
    collect() {
      this.set(sources.connectedSockets());
    },
  });
  return registry;
}
