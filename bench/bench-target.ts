import type { BenchSocket } from './bench-events.js';
import type { ArrivalRouter, CounterProbe, Endpoint } from './load-runner.js';

/** One idle socket: connected first (cheap, concurrently), joined later (may touch the server's database). */
export interface IdleSocketPlan {
  connect(): Promise<BenchSocket>;
  join(socket: BenchSocket): Promise<void>;
}

/** A server under test (the hub or the bare relay), seen from the load generator. */
export interface BenchTarget {
  name: string;
  pid: number;
  /** Up to `count` joined customer/agent pairs, both sides wired to `router`; failed or late (past `deadline`) pairs are left out. */
  createPairs(count: number, router: ArrivalRouter, deadline: number): Promise<Endpoint[]>;
  /** Everything needed before `count` idle sockets connect (e.g. conversations, until `deadline`); each plan connects and joins one socket. */
  prepareIdle(count: number, deadline: number): Promise<IdleSocketPlan[]>;
  /** V8 heap in use by the server process, in bytes. */
  heapUsed(): Promise<number | undefined>;
  /** Sockets the server itself counts as connected. */
  connectedSockets(): Promise<number | undefined>;
  /** Server counters read around each phase (hub: messages stored and batches). */
  counters?: CounterProbe;
}
