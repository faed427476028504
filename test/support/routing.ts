import type { Socket } from 'socket.io-client';
import { agentToken, connect, emitAck, initCustomer, type AnyAck } from './clients.js';
import { sleep } from './clients.js';
import { SYSTEM_TOKEN } from './hub.js';

export interface Msg {
  id: string;
  type: string;
  text?: string;
  activityType?: string;
  info?: Record<string, unknown>;
  tag?: string;
  from: { id: string; name: string; role?: string };
  conversationId: string;
}

export interface Info {
  conversation: { id: string; status: string; subject: string; assignedAgent: { id: string } | null };
  messages: Msg[];
  participants: Array<{ id: string; role?: string }>;
  role: string;
}

export interface AgentView {
  id: string;
  name: string;
  skills: string[];
  maxChats: number;
  state: string;
  connected: boolean;
  load: number;
  conversations: string[];
}

/** An agent's socket with everything it receives recorded. */
export interface AgentClient {
  id: string;
  token: string;
  socket: Socket;
  infos: Info[];
  arrived: Msg[];
  /** Conversation ids of the conversationInfos received, in order. */
  got(): string[];
}

export async function agentClient(baseUrl: string, id: string, options: { skills?: string[]; maxChats?: number; token?: string } = {}): Promise<AgentClient> {
  const token = options.token ?? (await agentToken(baseUrl, id, `Agent ${id}`, options.skills ?? [], options.maxChats));
  const infos: Info[] = [];
  const arrived: Msg[] = [];
  const socket = await connect(baseUrl, { token }, (s) => {
    s.on('conversationInfo', (info: Info) => infos.push(info));
    s.on('messageArrived', (m: Msg) => arrived.push(m));
  });
  return { id, token, socket, infos, arrived, got: () => infos.map((i) => i.conversation.id) };
}

/** Another tab of the same agent (same token). */
export async function anotherTab(baseUrl: string, agent: AgentClient): Promise<AgentClient> {
  return agentClient(baseUrl, agent.id, { token: agent.token });
}

export async function setState(agent: AgentClient, state: 'ready' | 'notReady' = 'ready'): Promise<AgentView> {
  const ack = await emitAck(agent.socket, 'agentState', { state });
  if (!ack.ok) throw new Error(`agentState failed: ${JSON.stringify(ack)}`);
  return ack['agent'] as AgentView;
}

/** A customer (init + join) whose every message, from conversationInfo on, is recorded. */
export interface WatchedCustomer {
  conversationId: string;
  participant: { id: string; name: string; role: string };
  socket: Socket;
  seen: Msg[];
  activities(type: string): Msg[];
}

export async function watchedCustomer(baseUrl: string, extra: Record<string, unknown> = {}): Promise<WatchedCustomer> {
  const init = await initCustomer(baseUrl, extra);
  const seen: Msg[] = [];
  const add = (m: Msg): void => {
    if (!seen.some((s) => s.id === m.id)) seen.push(m);
  };
  let info: ((value: unknown) => void) | undefined;
  const gotInfo = new Promise((resolve) => (info = resolve));
  const socket = await connect(baseUrl, { token: init.token }, (s) => {
    s.on('conversationInfo', (i: { messages: Msg[] }) => {
      // History first, then whatever arrived meanwhile stays after it.
      const arrived = seen.splice(0);
      for (const m of [...i.messages, ...arrived]) add(m);
      info?.(i);
    });
    s.on('messageArrived', add);
  });
  const ack = await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id, name: init.participant.name });
  if (!ack.ok) throw new Error(`join failed: ${JSON.stringify(ack)}`);
  await gotInfo;
  return {
    conversationId: init.conversationId,
    participant: init.participant,
    socket,
    seen,
    activities: (type) => seen.filter((m) => m.activityType === type),
  };
}

/** Waits until `condition` holds, polling; fails naming `what` after `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 6000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(20);
  }
}

export async function getJson<T = Record<string, unknown>>(url: string, token = SYSTEM_TOKEN): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as T };
}

export async function agentsView(baseUrl: string, query = ''): Promise<AgentView[]> {
  const res = await getJson<{ data: AgentView[] }>(`${baseUrl}/api/agents${query}`);
  if (res.status !== 200) throw new Error(`GET /api/agents: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

export async function agentView(baseUrl: string, id: string): Promise<AgentView | undefined> {
  return (await agentsView(baseUrl, '?page_size=100')).find((a) => a.id === id);
}

export interface ConversationView {
  id: string;
  status: string;
  subject: string;
  assignedAgent: { id: string; name: string } | null;
  participants: Array<{ id: string; role?: string }>;
  queuedAt: string | null;
}

export async function conversationsView(baseUrl: string, query: string): Promise<ConversationView[]> {
  const res = await getJson<{ data: ConversationView[] }>(`${baseUrl}/api/conversations${query}`);
  if (res.status !== 200) throw new Error(`GET /api/conversations: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

export function expectCode(ack: AnyAck, code: string): string {
  if (ack.ok) throw new Error(`expected ${code}, got ${JSON.stringify(ack)}`);
  if (ack.error.code !== code) throw new Error(`expected ${code}, got ${ack.error.code}: ${ack.error.message}`);
  return ack.error.message;
}
