import type { Logger } from 'pino';
import { HubError } from '../../contracts/errors.js';
import { connectorInboundSchema, messageStatusSchema, parseOrThrow, registerConnectorSchema } from '../../contracts/schemas.js';
import type { ConnectorService } from '../../domain/connector.service.js';
import type { OutboxService } from '../../domain/outbox.service.js';
import { SocketConnectorLink } from './connector-link.js';
import type { HubSocket } from './socket.gateway.js';

export interface ConnectorHandlerDeps {
  connectors: ConnectorService;
  outbox: OutboxService;
  log: Logger;
}

/** The connector side of the gateway (§5): registration, inbound messages, delivery reports. */
export function connectorHandlers(deps: ConnectorHandlerDeps) {
  const { connectors, outbox, log } = deps;

  const registered = (socket: HubSocket): string => {
    const connector = socket.data.connector;
    if (!connector) throw new HubError('FORBIDDEN', 'register first: emit registerConnector with your connector id and key');
    return connector.id;
  };

  return {
    registerConnector: async (socket: HubSocket, payload: unknown): Promise<object> => {
      let info;
      try {
        const input = parseOrThrow(registerConnectorSchema, payload, 'registerConnector payload');
        const handshakeKey = (socket.handshake.auth as { connectorKey?: unknown } | undefined)?.connectorKey;
        info = connectors.authenticate(input, typeof handshakeKey === 'string' ? handshakeKey : undefined);
      } catch (err) {
        if (err instanceof HubError && err.code === 'UNAUTHORIZED') {
          log.warn({ socketId: socket.id, address: socket.handshake.address }, 'connector registration refused');
          // The refusal is acked first; the disconnect follows on the same connection.
          setImmediate(() => socket.disconnect(true));
        }
        throw err;
      }
      const current = socket.data.connector;
      if (current && current.id !== info.id) throw new HubError('CONFLICT', `this connection is already registered as connector "${current.id}"`);
      if (!current) {
        const link = new SocketConnectorLink(socket, info.id);
        socket.data.connector = info;
        socket.data.connectorLink = link;
        socket.on('disconnect', () => {
          link.close();
          outbox.removeLink(link);
        });
        outbox.addLink(link);
        log.info({ connector: info.id, name: info.name, socketId: socket.id, members: outbox.members(info.id) }, 'connector registered');
      }
      return { connector: info };
    },

    /** sendMessage from a registered connector: a customer's message, addressed by channel and refId. */
    inbound: async (socket: HubSocket, payload: unknown): Promise<object> => {
      const connector = registered(socket);
      if (payload && typeof payload === 'object' && 'conversationId' in payload) {
        throw new HubError('BAD_REQUEST', 'connectors address a customer by channel and refId, without conversationId');
      }
      const input = parseOrThrow(connectorInboundSchema, payload, 'sendMessage payload');
      return connectors.receive(connector, input);
    },

    messageStatus: async (socket: HubSocket, payload: unknown): Promise<object> => {
      const connector = registered(socket);
      const input = parseOrThrow(messageStatusSchema, payload, 'messageStatus payload');
      return { message: await connectors.report(connector, input) };
    },
  };
}
