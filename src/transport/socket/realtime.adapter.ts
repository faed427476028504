import type { RealtimePort } from '../../domain/ports.js';
import { forCustomer, hasStaffMetadata, type WireMessage } from '../../domain/types.js';
import type { HubServer } from './socket.gateway.js';
import { rooms } from './rooms.js';
import { toSeedActivity, toSeedMessage } from '../../domain/seed-view.js';
import { CHAT_PLUGIN_SOURCE } from '../../domain/visitor-conversations.js';
import { chatPluginNamespace, type ChatPluginNamespace } from './chatplugin.namespace.js';

/** The domain's outbound port over Socket.IO rooms, so it also works across processes with an adapter. */
export class SocketRealtime implements RealtimePort {
  private readonly plugin: ChatPluginNamespace;

  constructor(private readonly io: HubServer) {
    this.plugin = chatPluginNamespace(io);
  }

  deliver(message: WireMessage, audience: string[], exceptSocketId?: string): void {
    const cid = message.conversationId;
    const targets = audience.includes('*') ? [rooms.conversation(cid)] : audience.map((id) => rooms.participant(cid, id));
    const skip = exceptSocketId ? [exceptSocketId] : [];
    const whisper = message.tag === 'whisper';
    if (whisper || hasStaffMetadata(message.metadata)) {
      // Staff read it whole; customers never read a whisper, and read the rest without staff metadata.
      this.io.to(targets).except([rooms.nonStaff(cid), ...skip]).emit('messageArrived', message);
      if (!whisper) this.io.to(targets).except([rooms.staff(cid), ...skip]).emit('messageArrived', forCustomer(message));
    } else {
      this.io.to(targets).except(skip).emit('messageArrived', message);
    }
    // Only chat plugin conversations have visitors on /ws.chatplugin, and they are customers:
    // never a whisper. Other messages skip the seed view's cost.
    if (message.channel !== CHAT_PLUGIN_SOURCE || whisper) return;
    const visitors = this.plugin.to(targets);
    if (message.type === 'ChatMessage') visitors.emit('message', { message: toSeedMessage(forCustomer(message)) });
    else visitors.emit('activity', { activity: toSeedActivity(message) });
  }

  updated(message: WireMessage): void {
    const cid = message.conversationId;
    this.io.to(rooms.conversation(cid)).except(rooms.nonStaff(cid)).emit('messageUpdated', message);
  }
}
