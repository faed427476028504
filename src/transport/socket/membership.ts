import type { Membership } from '../../domain/conversation.service.js';
import { rooms } from './rooms.js';
import type { HubSocket } from './socket.gateway.js';

/** The rooms of a member: the conversation's, their own, and for non-staff the room whispers skip. */
function memberRooms(membership: Membership): string[] {
  const { conversationId, participant, staff } = membership;
  const names = [rooms.conversation(conversationId), rooms.participant(conversationId, participant.id)];
  if (!staff) names.push(rooms.nonStaff(conversationId));
  return names;
}

/**
 * Makes the socket a member: its rights (sendMessage checks them) at once, so a second caller
 * in the same tick sees it is one, then its rooms.
 */
export async function enterConversation(socket: HubSocket, membership: Membership): Promise<void> {
  socket.data.memberships.set(membership.conversationId, membership);
  await socket.join(memberRooms(membership));
}

/** Takes the socket out of a conversation it is a member of (no-op otherwise). */
export async function leaveConversation(socket: HubSocket, conversationId: string): Promise<void> {
  const membership = socket.data.memberships.get(conversationId);
  if (!membership) return;
  socket.data.memberships.delete(conversationId);
  for (const room of memberRooms(membership)) await socket.leave(room);
}
