import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { emitAck, joinedAgent } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { startTestStore } from '../support/store.js';

/** A hub message as the connector e2e tests read it from acks, events and conversationInfo. */
export type HubMessage = {
  id: string;
  conversationId: string;
  type: string;
  text?: string;
  state?: string;
  clientMessageId?: string;
  attachments?: Array<{ type: string; name: string; contentUrl: string }>;
  metadata: Record<string, unknown>;
  from: { id: string; name: string; role?: string };
};

/** How the hub takes one connector: its id and key, how long it waits for an ack, how often it tries a message. */
export interface HubForConnector {
  id: string;
  key: string;
  ackTimeoutMs: number;
  maxAttempts: number;
}

/** The real hub on a fresh test store (database `database`), retrying from 100 ms; its close() also closes the store. */
export async function startConnectorHub(database: string, connector: HubForConnector): Promise<RunningHub> {
  const store = await startTestStore();
  try {
    const hub = await startHub(store.uri(database), {
      CONNECTOR_KEYS: `${connector.id}:${connector.key}`,
      CONNECTOR_ACK_TIMEOUT_MS: String(connector.ackTimeoutMs),
      CONNECTOR_RETRY_BASE_MS: '100',
      CONNECTOR_MAX_ATTEMPTS: String(connector.maxAttempts),
    });
    return {
      ...hub,
      async close() {
        await hub.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The conversations of one customer of a channel, through the hub's HTTP API. */
export async function conversationsOf(hubUrl: string, channel: string, refId: string): Promise<Array<{ id: string; channel: string; customer?: { refId?: string } }>> {
  const res = await fetch(`${hubUrl}/api/conversations?channel=${channel}&refId=${encodeURIComponent(refId)}`, { headers: { authorization: `Bearer ${SYSTEM_TOKEN}` } });
  expect(res.status).to.equal(200);
  return ((await res.json()) as { data: Array<{ id: string; channel: string; customer?: { refId?: string } }> }).data;
}

/** A joined agent sends a chat message; resolves with the stored message from the ack. */
export async function agentSays(agent: Socket, agentId: string, conversationId: string, text: string, as: { name: string; role?: string } = { name: 'Agent' }): Promise<HubMessage> {
  const ack = await emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: agentId, ...as }, text });
  expect(ack.ok, JSON.stringify(ack)).to.equal(true);
  return (ack as unknown as { message: HubMessage }).message;
}

/** The customer's conversation (which must have been opened) with agent `agentId` joined to it. */
export async function agentJoinedTo(hubUrl: string, channel: string, refId: string, agentId: string): Promise<{ conversationId: string; agent: Socket }> {
  const [conversation] = await conversationsOf(hubUrl, channel, refId);
  expect(conversation, 'conversation opened').to.not.equal(undefined);
  const { socket } = await joinedAgent(hubUrl, conversation!.id, agentId);
  return { conversationId: conversation!.id, agent: socket };
}
