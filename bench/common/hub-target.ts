import type { BenchSocket } from './bench-events.js';
import type { BenchTarget, IdleShape, IdleSocketPlan } from './bench-target.js';
import { connectAndJoin, connectSocket, failureSummary, getText, joinedPair, joinWithAck, mapLimit, postJson, progress } from './client-util.js';
import type { ArrivalRouter, Endpoint } from '../load/load-runner.js';

interface InitResponse {
  conversationId: string;
  participant: { id: string; name: string };
  token: string;
}

interface Conversation {
  conversationId: string;
  customerId: string;
  customerName: string;
  customerToken: string;
}

const CONNECT_TIMEOUT_MS = 20_000;

/** Reads one unlabelled sample from Prometheus text, e.g. `nodejs_heap_size_used_bytes 1234`. */
export function metricValue(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return match?.[1] ? Number(match[1]) : undefined;
}

/** The hub as a bench target: init over HTTP, tokens from /api/agents/token, joinConversation over Socket.IO. */
export class HubTarget implements BenchTarget {
  readonly name = 'hub';
  private initCount = 0;

  constructor(
    readonly pid: number,
    private readonly baseUrl: string,
    private readonly systemToken: string,
  ) {}

  private async init(tag: string): Promise<Conversation> {
    this.initCount += 1;
    const n = this.initCount;
    const res = await postJson<InitResponse>(`${this.baseUrl}/api/customer/init`, {
      firstName: `Bench${n}`,
      lastName: tag,
      email: `bench-${tag}-${n}@example.com`,
      channel: 'web',
    });
    return { conversationId: res.conversationId, customerId: res.participant.id, customerName: res.participant.name, customerToken: res.token };
  }

  /** A token for agent `id` from POST /api/agents/token (system token). */
  async agentToken(id: string, name: string): Promise<string> {
    const res = await postJson<{ token: string }>(`${this.baseUrl}/api/agents/token`, { id, name, skills: [] }, this.systemToken);
    return res.token;
  }

  private connect(token: string): Promise<BenchSocket> {
    return connectSocket(this.baseUrl, { token }, CONNECT_TIMEOUT_MS);
  }

  private join(socket: BenchSocket, conversationId: string, id: string, name: string): Promise<void> {
    return joinWithAck(socket, (timed, ack) => timed.emit('joinConversation', { conversationId, id, name }, ack));
  }

  /** A socket connected with `token` and joined to `conversationId` as `id`; closed again if the join fails. */
  joined(token: string, conversationId: string, id: string, name: string): Promise<BenchSocket> {
    return connectAndJoin(
      () => this.connect(token),
      (socket) => this.join(socket, conversationId, id, name),
    );
  }

  createPairs(count: number, router: ArrivalRouter, deadline: number): Promise<Endpoint[]> {
    return this.createSpreadPairs(count, router, deadline, () => [this, this]);
  }

  /**
   * Like createPairs, with pair i's customer on `place(i)[0]` and its agent on `place(i)[1]`
   * (hub processes of one cluster: same database, HUB_SECRET and system token); each endpoint
   * records its hub's index in `hubs` and its token, so it can reconnect elsewhere.
   */
  async createSpreadPairs(count: number, router: ArrivalRouter, deadline: number, place: (i: number) => [HubTarget, HubTarget], hubs: readonly HubTarget[] = [this]): Promise<Endpoint[]> {
    const endpoints: Endpoint[] = [];
    const results = await mapLimit(
      Array.from({ length: count }, (_, i) => i),
      20,
      async (i) => {
        const [customerHub, agentHub] = place(i);
        const conv = await customerHub.init('load');
        const agentId = `bench-agent-${i}`;
        const agentName = `Agent ${i}`;
        const token = await agentHub.agentToken(agentId, agentName);
        const [customer, agent] = await joinedPair(
          () => customerHub.joined(conv.customerToken, conv.conversationId, conv.customerId, conv.customerName),
          () => agentHub.joined(token, conv.conversationId, agentId, agentName),
        );
        router.attach(customer);
        router.attach(agent);
        endpoints.push(
          { socket: customer, conversationId: conv.conversationId, from: { id: conv.customerId, name: conv.customerName }, inFlight: 0, hub: hubs.indexOf(customerHub), token: conv.customerToken },
          { socket: agent, conversationId: conv.conversationId, from: { id: agentId, name: agentName }, inFlight: 0, hub: hubs.indexOf(agentHub), token },
        );
      },
      undefined,
      { deadline },
    );
    const failures = failureSummary(results);
    if (failures) progress(`hub: some pairs failed to set up: ${failures}`);
    return endpoints;
  }

  /**
   * One conversation per `shape.conversations` (POST /api/customer/init) and one agent each
   * (`idle-agent-<i>`, token from POST /api/agents/token); the customer gets `customerTabs`
   * sockets and the agent `agentTabs`, the first of each marked as the participant's first join.
   */
  async prepareIdle(shape: IdleShape, deadline: number): Promise<IdleSocketPlan[]> {
    const { conversations } = shape;
    progress(
      `hub idle: creating ${conversations} conversations (POST /api/customer/init) and ${conversations} agent tokens (POST /api/agents/token), concurrency 50…`,
    );
    const step = Math.max(1, Math.floor(conversations / 5));
    const results = await mapLimit(
      Array.from({ length: conversations }, (_, i) => i),
      50,
      async (i) => {
        const conv = await this.init('idle');
        const agentId = `idle-agent-${i}`;
        const agentName = `Idle Agent ${i}`;
        return { conv, agentId, agentName, agentToken: await this.agentToken(agentId, agentName) };
      },
      (done) => {
        if (done % step === 0 && done < conversations) progress(`hub idle: ${done}/${conversations} conversations prepared`);
      },
      { deadline },
    );
    const failures = failureSummary(results);
    if (failures) progress(`hub idle: some conversations could not be prepared: ${failures}`);
    const plans: IdleSocketPlan[] = [];
    for (const r of results) {
      if (r.status !== 'fulfilled') continue;
      const { conv, agentId, agentName, agentToken } = r.value;
      for (let tab = 0; tab < shape.customerTabs; tab += 1) {
        plans.push({
          first: tab === 0,
          role: 'customer',
          connect: () => this.connect(conv.customerToken),
          join: (s) => this.join(s, conv.conversationId, conv.customerId, conv.customerName),
        });
      }
      for (let tab = 0; tab < shape.agentTabs; tab += 1) {
        plans.push({
          first: tab === 0,
          role: 'agent',
          connect: () => this.connect(agentToken),
          join: (s) => this.join(s, conv.conversationId, agentId, agentName),
        });
      }
    }
    return plans;
  }

  /** The hub's Prometheus text, or undefined when /metrics does not answer. */
  async metrics(): Promise<string | undefined> {
    try {
      const { status, text } = await getText(`${this.baseUrl}/metrics`, 10_000);
      return status === 200 ? text : undefined;
    } catch {
      return undefined;
    }
  }

  async heapUsed(): Promise<number | undefined> {
    const text = await this.metrics();
    return text ? metricValue(text, 'nodejs_heap_size_used_bytes') : undefined;
  }

  async connectedSockets(): Promise<number | undefined> {
    const text = await this.metrics();
    return text ? metricValue(text, 'hub_connected_sockets') : undefined;
  }

  readonly counters = async (): Promise<Record<string, number>> => {
    const text = (await this.metrics()) ?? '';
    return {
      stored: metricValue(text, 'hub_messages_stored_total') ?? 0,
      batches: metricValue(text, 'hub_message_batches_total') ?? 0,
    };
  };
}
