import type { Socket } from 'socket.io-client';
import type { AsyncApiContract } from './asyncapi-contract.js';
import { emitAck, type AnyAck } from './clients.js';

/**
 * Checks real Socket.IO traffic against docs/asyncapi.yaml: every event a watched socket receives,
 * and every event emitted through it with the acknowledgement that comes back. Problems are
 * collected (an event handler cannot fail a test) and asserted by the test.
 */
export class SocketRecorder {
  readonly problems: string[] = [];
  /** `channel action event` of every event seen, and `operation reply` of every ack. */
  readonly seen = new Set<string>();

  constructor(private readonly contract: AsyncApiContract) {}

  /** Checks every event `socket` receives from now on (on `channel`: the namespace's key in the document). */
  watch(socket: Socket, channel = 'root'): Socket {
    socket.onAny((event: string, ...args: unknown[]) => {
      this.seen.add(`${channel} send ${event}`);
      this.report(`${channel}: hub → client "${event}"`, this.contract.payloadErrors(channel, 'send', event, args[0]), args[0]);
    });
    return socket;
  }

  /**
   * Emits `event` with an ack and checks both: a payload the hub accepted must match the document, and
   * with `invalid` the document must refuse a payload the hub refused; the ack must match the reply.
   */
  async emit(socket: Socket, event: string, payload: unknown, options: { channel?: string; invalid?: boolean } = {}): Promise<AnyAck> {
    const channel = options.channel ?? 'root';
    const ack = await emitAck(socket, event, payload);
    this.seen.add(`${channel} receive ${event}`);
    const payloadErrors = this.contract.payloadErrors(channel, 'receive', event, payload);
    if (ack.ok) this.report(`${channel}: client → hub "${event}" accepted by the hub but not by the document`, payloadErrors, payload);
    if (options.invalid) {
      if (ack.ok || ack.error.code !== 'BAD_REQUEST') this.problems.push(`${channel}: "${event}" expected BAD_REQUEST, got ${JSON.stringify(ack)}`);
      if (payloadErrors.length === 0) this.problems.push(`${channel}: the hub refused a "${event}" payload the document accepts: ${JSON.stringify(payload)}`);
    }
    const operation = this.contract.operationId(channel, 'receive', event);
    if (operation) this.reply(operation, ack);
    else this.problems.push(`${channel}: no receive operation carries "${event}"`);
    return ack;
  }

  /** Checks an acknowledgement (the hub's, or a client's answer to a hub event) against `operation`'s reply. */
  reply(operation: string, reply: unknown): void {
    this.seen.add(`${operation} reply`);
    this.report(`ack of ${operation}`, this.contract.replyErrors(operation, reply), reply);
  }

  /** Checks a value against a part of the document other than a message (the handshake details). */
  check(what: string, errors: string[], value: unknown): void {
    this.report(what, errors, value);
  }

  /** Events of `channel`'s operations never seen, and replies never checked. */
  unseen(channel: string): string[] {
    const missing: string[] = [];
    for (const [id, op] of Object.entries(this.contract.doc.operations)) {
      if (op.channel.$ref !== `#/channels/${channel}`) continue;
      for (const event of this.contract.eventsOf(id)) if (!this.seen.has(`${channel} ${op.action} ${event}`)) missing.push(`${id}: "${event}"`);
      if (op.reply && !this.seen.has(`${id} reply`)) missing.push(`${id}: its ack`);
    }
    return missing;
  }

  private report(what: string, errors: string[], value: unknown): void {
    if (errors.length > 0) this.problems.push(`${what}:\n    - ${errors.join('\n    - ')}\n    payload: ${String(JSON.stringify(value)).slice(0, 400)}`);
  }
}
