import type { BenchSocket } from './bench-events.js';
import type { ArrivalRouter, CounterProbe, Endpoint } from '../load/load-runner.js';

/**
 * How the idle sockets are spread: `conversations` conversations (bare: rooms), each joined by
 * one customer from `customerTabs` sockets and one agent from `agentTabs` sockets (browser tabs).
 */
export interface IdleShape {
  conversations: number;
  customerTabs: number;
  agentTabs: number;
  /** conversations × (customerTabs + agentTabs). */
  sockets: number;
}

/** One idle socket: connected first (cheap, concurrently), joined later (may touch the server's database). */
export interface IdleSocketPlan {
  /** The first socket of its participant: its join is the participant's first join (hub: database writes); the others are tabs (rejoins). */
  first: boolean;
  role: 'customer' | 'agent';
  connect(): Promise<BenchSocket>;
  join(socket: BenchSocket): Promise<void>;
}

/** A server under test (the hub or the bare relay), seen from the load generator. */
export interface BenchTarget {
  name: string;
  pid: number;
  /** Up to `count` joined customer/agent pairs, both sides wired to `router`; failed or late (past `deadline`) pairs are left out. */
  createPairs(count: number, router: ArrivalRouter, deadline: number): Promise<Endpoint[]>;
  /** Everything needed before the idle sockets of `shape` connect (e.g. conversations, until `deadline`); each plan connects and joins one socket. */
  prepareIdle(shape: IdleShape, deadline: number): Promise<IdleSocketPlan[]>;
  /** V8 heap in use by the server process, in bytes. */
  heapUsed(): Promise<number | undefined>;
  /** Sockets the server itself counts as connected. */
  connectedSockets(): Promise<number | undefined>;
  /** Server counters read around each phase (hub: messages stored and batches). */
  counters?: CounterProbe;
}
