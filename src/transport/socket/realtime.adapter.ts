import type { RealtimePort } from '../../domain/ports.js';
import type { WireMessage } from '../../domain/types.js';
import type { HubServer } from './socket.gateway.js';
import { rooms } from './rooms.js';

/** The domain's outbound port over Socket.IO rooms, so it also works across processes with an adapter. */
export class SocketRealtime implements RealtimePort {
  constructor(private readonly io: HubServer) {}

  deliver(message: WireMessage, audience: string[], exceptSocketId?: string): void {
    const cid = message.conversationId;
    const targets = audience.includes('*') ? [rooms.conversation(cid)] : audience.map((id) => rooms.participant(cid, id));
    let op = this.io.to(targets);
    if (message.tag === 'whisper') op = op.except(rooms.nonStaff(cid));
    if (exceptSocketId) op = op.except(exceptSocketId);
    op.emit('messageArrived', message);
  }

  updated(message: WireMessage): void {
    const cid = message.conversationId;
    this.io.to(rooms.conversation(cid)).except(rooms.nonStaff(cid)).emit('messageUpdated', message);
  }
}
