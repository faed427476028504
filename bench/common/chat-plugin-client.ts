import type { Socket } from 'socket.io-client';
import { connectSocket, postJson } from './client-util.js';

/** The seed message view (docs/protocol.md §6), as far as the bench reads it. */
export interface SeedMessageView {
  id: string;
  conversation_id: string;
  sent_at: string;
  from_contact: boolean;
  content: { text: string };
}

/** A chat plugin visitor: a conversation and the token that writes to it. */
export interface Visitor {
  conversationId: string;
  token: string;
}

export interface MessagePageView {
  data: SeedMessageView[];
  pagination_data: { previous_cursor: string | null; next_cursor: string | null; total: number };
}

export interface IdentifyView {
  contact: { id: string; external_id: string | null };
  conversations: Array<{ id: string; channel: { id: string }; status: string; resume_token: string | null }>;
}

/** What /ws.chatplugin sends that the bench listens to. */
export interface ChatPluginEvents {
  message: (payload: { message: SeedMessageView }) => void;
  error: (payload: { code: string; message: string }) => void;
}

export type VisitorSocket = Socket<ChatPluginEvents, Record<string, never>>;

const NAMESPACE = '/ws.chatplugin';
const CONNECT_TIMEOUT_MS = 20_000;

/** POST /channels.connect {source: 'chat_plugin'} with the system token: the channel's id. */
export async function connectChatPluginChannel(baseUrl: string, systemToken: string, name: string): Promise<string> {
  const channel = await postJson<{ id: string }>(`${baseUrl}/channels.connect`, { source: 'chat_plugin', name }, systemToken);
  return channel.id;
}

/** POST /chatplugin.authenticate {channel_id}: a new anonymous conversation. */
export async function authenticateVisitor(baseUrl: string, channelId: string): Promise<Visitor> {
  const res = await postJson<{ token: string; conversation_id: string }>(`${baseUrl}/chatplugin.authenticate`, { channel_id: channelId });
  return { conversationId: res.conversation_id, token: res.token };
}

/** POST /chatplugin.send: the stored message in the seed shape. */
export function sendAsVisitor(baseUrl: string, visitor: Visitor, text: string): Promise<SeedMessageView> {
  return postJson<SeedMessageView>(`${baseUrl}/chatplugin.send`, { message: { text } }, visitor.token);
}

/** POST /messages.list with the system token (every message of the conversation). */
export function listMessages(baseUrl: string, systemToken: string, conversationId: string, pageSize: number, cursor?: string): Promise<MessagePageView> {
  return postJson<MessagePageView>(`${baseUrl}/messages.list`, { conversation_id: conversationId, page_size: pageSize, ...(cursor !== undefined && { cursor }) }, systemToken);
}

/** POST /contacts.identify with the system token. */
export function identifyContact(baseUrl: string, systemToken: string, channelId: string, externalId: string): Promise<IdentifyView> {
  return postJson<IdentifyView>(`${baseUrl}/contacts.identify`, { channel_id: channelId, external_id: externalId }, systemToken);
}

/** A /ws.chatplugin socket of its own (websocket only, no reconnect); `listen` runs before the handshake. */
export function connectVisitorSocket(baseUrl: string, token: string, listen: (socket: VisitorSocket) => void): Promise<VisitorSocket> {
  return connectSocket<VisitorSocket>(`${baseUrl}${NAMESPACE}`, { token }, CONNECT_TIMEOUT_MS, listen);
}
