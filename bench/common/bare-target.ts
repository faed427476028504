import { randomUUID } from 'node:crypto';
import type { BenchSocket } from './bench-events.js';
import type { BenchTarget, IdleShape, IdleSocketPlan } from './bench-target.js';
import { connectAndJoin, connectSocket, failureSummary, getText, joinedPair, joinWithAck, mapLimit, progress } from './client-util.js';
import type { ArrivalRouter, Endpoint } from '../load/load-runner.js';

const CONNECT_TIMEOUT_MS = 20_000;

interface MemReport {
  heapUsed?: number;
  sockets?: number;
}

/** The bare Socket.IO relay as a bench target: rooms named like conversations, no auth. */
export class BareTarget implements BenchTarget {
  readonly name = 'bare';

  constructor(
    readonly pid: number,
    private readonly baseUrl: string,
  ) {}

  private connect(): Promise<BenchSocket> {
    return connectSocket(this.baseUrl, {}, CONNECT_TIMEOUT_MS);
  }

  private join(socket: BenchSocket, room: string): Promise<void> {
    return joinWithAck(socket, (timed, ack) => timed.emit('join', { room }, ack));
  }

  private joined(room: string): Promise<BenchSocket> {
    return connectAndJoin(
      () => this.connect(),
      (socket) => this.join(socket, room),
    );
  }

  async createPairs(count: number, router: ArrivalRouter, deadline: number): Promise<Endpoint[]> {
    const endpoints: Endpoint[] = [];
    const results = await mapLimit(
      Array.from({ length: count }, (_, i) => i),
      20,
      async (i) => {
        const room = randomUUID();
        const [customer, agent] = await joinedPair(
          () => this.joined(room),
          () => this.joined(room),
        );
        router.attach(customer);
        router.attach(agent);
        // Same participant shapes as the hub pairs, so payload sizes match.
        endpoints.push(
          { socket: customer, conversationId: room, from: { id: randomUUID(), name: `Bench${i} load` }, inFlight: 0 },
          { socket: agent, conversationId: room, from: { id: `bench-agent-${i}`, name: `Agent ${i}` }, inFlight: 0 },
        );
      },
      undefined,
      { deadline },
    );
    const failures = failureSummary(results);
    if (failures) progress(`bare: some pairs failed to set up: ${failures}`);
    return endpoints;
  }

  /** The hub's idle shape with rooms for conversations: per room, `customerTabs` + `agentTabs` sockets. */
  async prepareIdle(shape: IdleShape): Promise<IdleSocketPlan[]> {
    const plans: IdleSocketPlan[] = [];
    for (let i = 0; i < shape.conversations; i += 1) {
      const room = randomUUID();
      const tabs = (role: 'customer' | 'agent', count: number): void => {
        for (let tab = 0; tab < count; tab += 1) {
          plans.push({ first: tab === 0, role, connect: () => this.connect(), join: (s) => this.join(s, room) });
        }
      };
      tabs('customer', shape.customerTabs);
      tabs('agent', shape.agentTabs);
    }
    return plans;
  }

  private async mem(): Promise<MemReport | undefined> {
    try {
      const { status, text } = await getText(`${this.baseUrl}/mem`);
      return status === 200 ? (JSON.parse(text) as MemReport) : undefined;
    } catch {
      return undefined;
    }
  }

  async heapUsed(): Promise<number | undefined> {
    return (await this.mem())?.heapUsed;
  }

  async connectedSockets(): Promise<number | undefined> {
    return (await this.mem())?.sockets;
  }
}
