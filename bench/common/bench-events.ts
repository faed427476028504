import type { Socket } from 'socket.io-client';

/**
 * The slice of the wire protocol the bench speaks, shared by the client side and the
 * bare relay, so both targets receive byte-for-byte the same sendMessage payloads.
 */

export interface BenchParticipant {
  id: string;
  name: string;
}

/** What a sender embeds so the receiver can time the hop: send time (performance.now) and phase id. */
export interface BenchMetadata {
  t: number;
  p: number;
}

export interface OutgoingChatMessage {
  conversationId: string;
  type: 'ChatMessage';
  from: BenchParticipant;
  text: string;
  metadata: BenchMetadata;
  /** Cluster failover: a retry after a reconnect repeats it, so the hub stores the message once. */
  clientMessageId?: string;
}

/** An arrival as the bench reads it; the hub also delivers activities, which lack `t`. */
export interface ArrivedMessage {
  id?: string;
  seq?: number;
  type?: string;
  metadata?: { t?: unknown; p?: unknown };
}

/** A message whose state changed (hub only), e.g. a connector's ack made it DELIVERED. */
export interface UpdatedMessage {
  id: string;
  conversationId: string;
  state: string;
  metadata?: { t?: unknown; p?: unknown };
}

export interface AckResponse {
  ok: boolean;
  /** sendMessage: the stored message. */
  message?: { id: string; seq: number };
  error?: { code?: string; message?: string };
}

export interface JoinConversationPayload {
  conversationId: string;
  id: string;
  name: string;
  /** Catch-up after a reconnect: the conversationInfo that follows carries the messages after it. */
  afterSeq?: number;
}

export interface BenchServerToClient {
  messageArrived: (message: ArrivedMessage) => void;
  conversationInfo: (info: { messages?: ArrivedMessage[]; hasMore?: boolean }) => void;
  messageUpdated: (message: UpdatedMessage) => void;
}

export interface BenchClientToServer {
  joinConversation: (payload: JoinConversationPayload, ack: (response: AckResponse) => void) => void;
  /** Bare relay only. */
  join: (payload: { room: string }, ack: (response: AckResponse) => void) => void;
  sendMessage: (payload: OutgoingChatMessage, ack: (response: AckResponse) => void) => void;
  /** Hub only: ends a conversation (the system token may end any). */
  endConversation: (payload: { conversationId: string }, ack: (response: AckResponse) => void) => void;
}

export type BenchSocket = Socket<BenchServerToClient, BenchClientToServer>;
