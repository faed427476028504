import type { Socket } from 'socket.io-client';
import { connect, postJson, type JsonResponse } from './clients.js';
import { SYSTEM_TOKEN } from './hub.js';
import { hubSuite, type HubSuite } from './hub-suite.js';
import type { SeedMessage } from '../../src/domain/seed-view.js';

export const system = { authorization: `Bearer ${SYSTEM_TOKEN}` };
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** The seed's message shape, as the chat plugin and messages API return it (the hub's own type: the wire is checked against docs/openapi.yaml). */
export type { SeedMessage };

export interface AuthenticateBody {
  token: string;
  messages: SeedMessage[];
  /** Older messages exist that `messages` leaves out. */
  has_more: boolean;
  conversation_id: string;
  channel_id: string;
  status: string;
}

let channels = 0;
/** A chat plugin channel made with POST /channels.connect. */
export async function chatPluginChannel(url: string, source = 'chat_plugin'): Promise<string> {
  channels += 1;
  const res = await postJson<{ id: string }>(`${url}/channels.connect`, { source, name: `site ${channels} ${Date.now()}` }, system);
  if (res.status !== 200) throw new Error(`channels.connect failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export function authenticate(url: string, body: Record<string, unknown>): Promise<JsonResponse<AuthenticateBody>> {
  return postJson<AuthenticateBody>(`${url}/chatplugin.authenticate`, body);
}

/** A new visitor of `channelId`: its token and conversation. */
export async function newVisitor(url: string, channelId: string): Promise<AuthenticateBody> {
  const res = await authenticate(url, { channel_id: channelId });
  if (res.status !== 200) throw new Error(`chatplugin.authenticate failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function pluginSend(url: string, token: string, text: string): Promise<JsonResponse<SeedMessage>> {
  return postJson<SeedMessage>(`${url}/chatplugin.send`, { message: { text } }, bearer(token));
}

export async function resumeTokenOf(url: string, token: string): Promise<string> {
  const res = await postJson<{ resume_token: string }>(`${url}/chatplugin.resumeToken`, {}, bearer(token));
  if (res.status !== 200) throw new Error(`chatplugin.resumeToken failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.resume_token;
}

/** A socket on /ws.chatplugin with the visitor's token. */
export function pluginSocket(url: string, token: string, listen?: (socket: Socket) => void): Promise<Socket> {
  return connect(`${url}/ws.chatplugin`, { token }, listen);
}

/** What a chat plugin test file shares: a store, a hub on it, and a chat plugin channel. */
export interface ChatPluginWorld extends HubSuite {
  channelId: string;
}

/**
 * Registers the suite's hooks: starts a store and a hub (database `name`) with a chat plugin
 * channel before the tests, closes sockets after each, and everything after all. The world is
 * filled in by the `before` hook.
 */
export function chatPluginWorld(name: string): ChatPluginWorld {
  const world = hubSuite(name) as ChatPluginWorld;
  // After hubSuite's own before hook, which starts the hub.
  before(async () => {
    world.channelId = await chatPluginChannel(world.hub.url);
  });
  return world;
}
