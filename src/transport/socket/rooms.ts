/** Room names: one per conversation, one per participant in it, one for its non-staff sockets, one per agent. */
export const rooms = {
  conversation: (conversationId: string): string => `c:${conversationId}`,
  participant: (conversationId: string, participantId: string): string => `c:${conversationId}:p:${participantId}`,
  /** Customers and their connectors: the sockets a whisper must never reach. */
  nonStaff: (conversationId: string): string => `c:${conversationId}:ns`,
  /** Every socket of one agent (tabs, devices): they receive the agent's conversations together. */
  agent: (agentId: string): string => `a:${agentId}`,
};
