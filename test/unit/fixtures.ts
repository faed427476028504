import type { StoredMessage } from '../../src/domain/types.js';

let counter = 0;

/** A stored chat message for unit tests: unique id, seq and dedupKey unless overridden. */
export function storedMessage(conversationId: string, overrides: Partial<StoredMessage> = {}): StoredMessage {
  counter += 1;
  const id = `m${counter}`;
  return {
    id,
    conversationId,
    seq: counter,
    type: 'ChatMessage',
    from: { id: 'agent', name: 'A', role: 'agent' },
    to: [],
    audience: ['*'],
    text: id,
    refId: '',
    tag: '',
    channel: 'web',
    state: 'DELIVERED',
    metadata: {},
    timestamp: new Date(),
    dedupKey: id,
    ...overrides,
  };
}
