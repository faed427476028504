import { expect } from 'chai';
import pino from 'pino';
import { DurableEvents, type MarkedEventSink } from '../../src/domain/durable-events.js';
import type { Conversation, StoredMessage } from '../../src/domain/types.js';
import type { EmitOptions, EventMarkerStore, WebhookEventType } from '../../src/domain/webhook.ports.js';
import { storedMessage } from './fixtures.js';

class MemoryMarkers implements EventMarkerStore {
  messages: StoredMessage[] = [];
  conversations: Conversation[] = [];
  async markedMessages(before: Date): Promise<StoredMessage[]> {
    return this.messages.filter((m) => m.pendingWebhook && m.timestamp < before);
  }
  async markedConversations(before: Date): Promise<Conversation[]> {
    return this.conversations.filter((c) => c.pendingWebhook && (c.endedAt ?? new Date()) < before);
  }
  async clearMessages(ids: string[]): Promise<void> {
    for (const m of this.messages) if (ids.includes(m.id)) delete m.pendingWebhook;
  }
  async clearConversations(ids: string[]): Promise<void> {
    for (const c of this.conversations) if (ids.includes(c.id)) delete c.pendingWebhook;
  }
}

class Sink implements MarkedEventSink {
  readonly emitted: Array<{ type: WebhookEventType; id: string | undefined }> = [];
  readonly outbox = new Set<string>();
  emit(type: WebhookEventType, _payload: Record<string, unknown>, options: EmitOptions): void {
    this.emitted.push({ type, id: options.id });
    if (options.id) this.outbox.add(options.id);
    setImmediate(() => options.settled?.());
  }
  async known(ids: string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.outbox.has(id)));
  }
  isUnsettled(): boolean {
    return false;
  }
}

const conversation = (id: string, eventId: string): Conversation =>
  ({
    id,
    channel: 'web',
    status: 'ended',
    subject: '',
    customer: { id: 'c', firstName: 'C', custom: {} },
    participants: [],
    joined: [],
    requestId: id,
    openKey: id,
    createdAt: new Date(Date.now() - 5000),
    endedAt: new Date(Date.now() - 1000),
    pendingWebhook: { id: eventId, endedBy: { id: 'c', name: 'C', role: 'customer' } },
  }) as Conversation;

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('DurableEvents (unit)', () => {
  const log = pino({ level: 'silent' });

  it('re-emits events of markers left behind under their own ids, skips ids the outbox has, and clears every marker', async () => {
    const store = new MemoryMarkers();
    const sink = new Sink();
    const lost = storedMessage('x', { pendingWebhook: 'ev-lost', timestamp: new Date(Date.now() - 1000) });
    const stored = storedMessage('x', { pendingWebhook: 'ev-stored', timestamp: new Date(Date.now() - 1000) });
    store.messages.push(lost, stored);
    store.conversations.push(conversation('x', 'ev-ended'));
    sink.outbox.add('ev-stored');
    const events = new DurableEvents(sink, store, async () => null, { sweepMs: 60_000, graceMs: 10_000 }, log);
    events.start();
    await eventually(() => store.messages.every((m) => !m.pendingWebhook) && store.conversations.every((c) => !c.pendingWebhook), 'markers cleared');
    expect(sink.emitted).to.have.deep.members([
      { type: 'message.created', id: 'ev-lost' },
      { type: 'conversation.ended', id: 'ev-ended' },
    ]);
    expect(events.recovered).to.equal(2);
    await events.close();
  });

  it('emits a stored message’s event under its marker id and only for marked chat messages', async () => {
    const store = new MemoryMarkers();
    const sink = new Sink();
    const events = new DurableEvents(sink, store, async () => null, { sweepMs: 60_000, graceMs: 10_000 }, log);
    events.messageStored(storedMessage('y', { pendingWebhook: 'ev-1' }));
    events.messageStored(storedMessage('y'));
    events.messageStored(storedMessage('y', { type: 'ActivityMessage', pendingWebhook: 'ev-2' }));
    await events.idle();
    expect(sink.emitted).to.deep.equal([{ type: 'message.created', id: 'ev-1' }]);
    await events.close();
  });
});
