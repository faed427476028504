/**
 * Room names: one per conversation, one per participant in it, one each for its staff and its
 * non-staff sockets, one per agent. Every member socket of a conversation is in exactly one of
 * the staff and non-staff rooms, so a message can go to each side in its own view.
 */
export const rooms = {
  conversation: (conversationId: string): string => `c:${conversationId}`,
  participant: (conversationId: string, participantId: string): string => `c:${conversationId}:p:${participantId}`,
  /** Customers and their connectors: the sockets a whisper and staff-only metadata must never reach. */
  nonStaff: (conversationId: string): string => `c:${conversationId}:ns`,
  /** Agents and system participants: the sockets that read messages whole. */
  staff: (conversationId: string): string => `c:${conversationId}:st`,
  /** Sockets holding a customer token of the conversation: closed when its tokens are revoked. */
  customerCredential: (conversationId: string): string => `c:${conversationId}:cred`,
  /** Every socket of one agent (tabs, devices): they receive the agent's conversations together. */
  agent: (agentId: string): string => `a:${agentId}`,
};
