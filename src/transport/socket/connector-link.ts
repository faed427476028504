import { deliveryAckSchema, type DeliveryAck } from '../../contracts/schemas.js';
import type { ConnectorLink } from '../../domain/outbox.service.js';
import type { WireMessage } from '../../domain/types.js';
import type { HubSocket } from './socket.gateway.js';

type AckingEmitter = { emit(event: 'messageArrived', message: WireMessage, ack: (err: Error | null, response: unknown) => void): boolean };

/** A registered connector socket as the outbox sees it: send with an ack deadline. */
export class SocketConnectorLink implements ConnectorLink {
  readonly id: string;
  private readonly pending = new Set<(err: Error) => void>();

  constructor(
    private readonly socket: HubSocket,
    readonly connector: string,
  ) {
    this.id = socket.id;
  }

  send(message: WireMessage, timeoutMs: number): Promise<DeliveryAck> {
    return new Promise<DeliveryAck>((resolve, reject) => {
      const fail = (err: Error): void => {
        this.pending.delete(fail);
        reject(err);
      };
      this.pending.add(fail);
      // The customer-facing messageArrived has no ack; towards a connector it does.
      const emitter = this.socket.timeout(timeoutMs) as unknown as AckingEmitter;
      emitter.emit('messageArrived', message, (err, response) => {
        if (!this.pending.delete(fail)) return; // already failed by a disconnect
        if (err) {
          reject(Object.assign(new Error('no acknowledgement'), { code: 'TIMEOUT' }));
          return;
        }
        const parsed = deliveryAckSchema.safeParse(response);
        resolve(parsed.success ? parsed.data : { ok: false, error: { message: 'the connector answered with an invalid acknowledgement', retryable: true } });
      });
    });
  }

  /** The socket is gone: everything it did not acknowledge is retried elsewhere. */
  close(): void {
    for (const fail of [...this.pending]) fail(Object.assign(new Error('disconnected'), { code: 'DISCONNECTED' }));
  }
}
