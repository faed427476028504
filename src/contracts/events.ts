import type { ErrorAck } from './errors.js';
import type { WireConversation, WireMessage } from './wire.js';
import type { Participant, Role } from './schemas.js';

/** An agent as GET /api/agents and the agentState ack show them. */
export interface AgentView {
  id: string;
  name: string;
  skills: string[];
  maxChats: number;
  state: 'ready' | 'notReady';
  /** Some hub process holds a socket of the agent. */
  connected: boolean;
  load: number;
  conversations: string[];
  idleSince: string;
  stateSince: string;
}

/** Acknowledgement callback of every client→hub event. */
export type Ack<T extends object> = (response: ({ ok: true } & T) | ErrorAck) => void;

export interface ConversationInfo {
  conversation: WireConversation;
  messages: WireMessage[];
  /** Extension: older messages visible to the receiver were left out (count or byte bound). */
  hasMore: boolean;
  /** Extension: a POST /messages.list cursor for the chat messages before `messages`; null without `hasMore`. */
  olderCursor: string | null;
  participants: Participant[];
  role: Role;
}

/**
 * Events the hub emits to clients. To a connector, messageArrived carries an ack callback
 * (its DeliveryAck, see connectors/sdk/src/protocol.ts); to everyone else it does not.
 */
export interface ServerToClientEvents {
  messageArrived: (message: WireMessage) => void;
  /** A stored message changed (delivery state, metadata); sent to the conversation's staff. */
  messageUpdated: (message: WireMessage) => void;
  conversationInfo: (info: ConversationInfo) => void;
  error: (error: ErrorAck) => void;
}

/** Events clients emit to the hub; payloads are validated by the schemas in schemas.ts. */
export interface ClientToServerEvents {
  joinConversation: (payload: unknown, ack?: Ack<{ role: Role }>) => void;
  sendMessage: (payload: unknown, ack?: Ack<{ message: WireMessage }>) => void;
  endConversation: (payload: unknown, ack?: Ack<{ conversationId: string; endedAt: string }>) => void;
  registerConnector: (payload: unknown, ack?: Ack<{ connector: { id: string; name: string; channel: string } }>) => void;
  /** Extension: a connector's later delivery report. */
  messageStatus: (payload: unknown, ack?: Ack<{ message: WireMessage }>) => void;
  /** §4: an agent socket's availability. */
  agentState: (payload: unknown, ack?: Ack<{ agent: AgentView }>) => void;
  /** §4: hands a conversation to another agent or back to a subject's queue. */
  transferConversation: (payload: unknown, ack?: Ack<{ conversation: WireConversation }>) => void;
  /** §4: an agent (or system participant) leaves; the assigned agent's conversation goes back to the queue. */
  leaveConversation: (payload: unknown, ack?: Ack<{ conversation: WireConversation }>) => void;
}

/** Hints between hub processes (serverSideEmit over the Redis adapter); see transport/socket/cluster-bus.ts. */
export interface InterServerEvents {
  /** A conversation was written: drop it from the conversation cache. */
  conversationChanged: (conversationId: string) => void;
  /** The routing put an agent in a conversation: their sockets on other processes join it too. */
  agentJoined: (agentId: string, conversationId: string) => void;
  /** An agent was taken out of a conversation: their sockets on other processes leave it. */
  agentLeft: (agentId: string, conversationId: string) => void;
  /** A message owed to this connector was stored: the process holding its outbox lease reads it. */
  outboxWake: (connector: string) => void;
  /** The outbox lease of this connector was given up: a process with members takes it now. */
  outboxReleased: (connector: string) => void;
}
