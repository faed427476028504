import type { Socket } from 'socket.io-client';
import { connect, emitAck, type AnyAck } from './clients.js';

export interface Outbound {
  id: string;
  conversationId: string;
  refId: string;
  channel: string;
  text?: string;
  tag?: string;
  state: string;
  seq?: number;
}

export type Answer = Record<string, unknown> | 'silence';

/**
 * A connector speaking the wire protocol by hand (plain socket.io-client), to test the hub's
 * side of §5 without the SDK: records every messageArrived and answers as `answer` says.
 */
export interface RawConnector {
  socket: Socket;
  received: Outbound[];
  /** How to answer the next messages; default `{ok: true, externalId: 'ext-<id>'}`. */
  answer: (message: Outbound) => Answer;
  register(): Promise<AnyAck>;
}

export async function rawConnector(baseUrl: string, id: string, key: string, inHandshake = false): Promise<RawConnector> {
  const socket = await connect(baseUrl, inHandshake ? { connectorKey: key } : {});
  const connector: RawConnector = {
    socket,
    received: [],
    answer: (m) => ({ ok: true, externalId: `ext-${m.id}` }),
    register: () => emitAck(socket, 'registerConnector', inHandshake ? { id, name: `${id} test`, channel: id } : { id, name: `${id} test`, channel: id, key }),
  };
  socket.on('messageArrived', (message: Outbound, ack?: (r: unknown) => void) => {
    connector.received.push(message);
    const answer = connector.answer(message);
    if (answer !== 'silence') ack?.(answer);
  });
  return connector;
}

/** Waits until `check` holds, polling every 20 ms, or throws after `ms` with `what`. */
export async function until(check: () => boolean, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
