import type { ConversationInfo } from '../../contracts/events.js';
import type { Membership } from '../../domain/conversation.service.js';
import type { HistoryPage } from '../../domain/join-history.js';
import { toWireConversation, type Conversation } from '../../domain/types.js';
import { rooms } from './rooms.js';
import type { HubSocket } from './socket.gateway.js';
import type { BacklogGuard } from './write-backlog.js';

/** The rooms of a member: the conversation's, their own, and the staff or the non-staff room (whispers and staff metadata skip the latter). */
function memberRooms(membership: Membership): string[] {
  const { conversationId, participant, staff } = membership;
  const names = [
    rooms.conversation(conversationId),
    rooms.participant(conversationId, participant.id),
    staff ? rooms.staff(conversationId) : rooms.nonStaff(conversationId),
  ];
  // Revoking the conversation's tokens closes the sockets that joined with one of them.
  if (membership.credential?.kind === 'customer') names.push(rooms.customerCredential(membership.credential.conversationId));
  return names;
}

/**
 * Makes the socket a member: its rights (sendMessage checks them) at once, so a second caller
 * in the same tick sees it is one, then its rooms.
 */
export async function enterConversation(socket: HubSocket, membership: Membership): Promise<void> {
  const previous = socket.data.memberships.get(membership.conversationId);
  socket.data.memberships.set(membership.conversationId, membership);
  // The socket now also lives until this credential expires, if that is sooner.
  socket.data.expiry?.arm();
  const names = memberRooms(membership);
  await socket.join(names);
  // Joined again as someone else (another participant, other rights): out of the old rooms, so the
  // socket sits in exactly one of the staff and non-staff rooms and gets each message once.
  if (previous) for (const room of memberRooms(previous)) if (!names.includes(room)) await socket.leave(room);
}

/** Takes the socket out of a conversation it is a member of (no-op otherwise). */
export async function leaveConversation(socket: HubSocket, conversationId: string): Promise<void> {
  const membership = socket.data.memberships.get(conversationId);
  if (!membership) return;
  socket.data.memberships.delete(conversationId);
  for (const room of memberRooms(membership)) await socket.leave(room);
}

/**
 * Emits conversationInfo unless the socket's unread backlog would pass its bound with it; such a
 * socket is closed instead (its client does not read), so joins cannot pile history up on the hub.
 */
export function sendConversationInfo(socket: HubSocket, conversation: Conversation, page: HistoryPage, role: ConversationInfo['role'], backlog: BacklogGuard | undefined): boolean {
  const info: ConversationInfo = {
    conversation: toWireConversation(conversation),
    messages: page.messages,
    hasMore: page.hasMore,
    olderCursor: page.olderCursor,
    participants: conversation.participants,
    role,
  };
  if (backlog && !backlog.admits(socket.conn, page.bytes + Buffer.byteLength(JSON.stringify({ ...info, messages: [] })))) return false;
  socket.emit('conversationInfo', info);
  return true;
}
