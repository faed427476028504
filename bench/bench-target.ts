import type { BenchSocket } from './bench-events.js';
import type { ArrivalRouter, CounterProbe, Endpoint } from './load-runner.js';

/** Connects one socket and joins it somewhere; rejects when either step fails. */
export type IdleTask = () => Promise<BenchSocket>;

/** A server under test (the hub or the bare relay), seen from the load generator. */
export interface BenchTarget {
  name: string;
  pid: number;
  /** `count` joined customer/agent pairs, both sides wired to `router`. Failed pairs are left out. */
  createPairs(count: number, router: ArrivalRouter): Promise<Endpoint[]>;
  /** Everything needed before `count` idle sockets connect (e.g. conversations); the tasks connect and join. */
  prepareIdle(count: number): Promise<IdleTask[]>;
  /** V8 heap in use by the server process, in bytes. */
  heapUsed(): Promise<number | undefined>;
  /** Sockets the server itself counts as connected. */
  connectedSockets(): Promise<number | undefined>;
  /** Server counters read around each phase (hub: messages stored and batches). */
  counters?: CounterProbe;
}
