import type { HubMessage } from '@chat-hub/connector-sdk/protocol';

/** An outbound message as the hub sends it to the web connector. */
export function hubMessage(extra: Partial<HubMessage> = {}): HubMessage {
  return {
    id: '6f1c2a9e-3b7d-4c1e-9a2b-0d4e5f6a7b8c',
    conversationId: '0b5e7c3a-1d2f-4e6a-8b9c-7d6e5f4a3b2c',
    seq: 7,
    type: 'ChatMessage',
    from: { id: 'agent-1', name: 'Alex', role: 'agent' },
    to: [],
    text: 'Your order ships today',
    attachments: [{ type: 'application/pdf', name: 'invoice.pdf', contentUrl: 'https://example.org/invoice.pdf' }],
    refId: 'user-42',
    tag: '',
    channel: 'web',
    state: 'PENDING',
    metadata: { internal: 'never leaves the hub' },
    timestamp: '2026-11-22T05:00:00.000Z',
    ...extra,
  };
}
