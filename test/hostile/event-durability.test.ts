import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, connect, initCustomer, type AnyAck } from '../support/clients.js';
import { HubProcess } from '../support/hub-process.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'event-durability-secret-0123456789';
const ROUNDS = 4;

/** Emits with an ack and kills the hub the moment the ack arrives, before anything else runs here. */
function emitThenCrash(socket: Socket, hub: HubProcess, event: string, payload: unknown): Promise<AnyAck> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), 8000);
    socket.emit(event, payload, (ack: AnyAck) => {
      hub.killNow();
      clearTimeout(timer);
      resolve(ack);
    });
  });
}

/**
 * The attack (or just bad luck): the hub process dies right after it acknowledged a message or an
 * end. Before the fix, message.created and conversation.ended were inserted into the webhook outbox
 * after the ack, in a separate write: a SIGKILL in between lost them for good (5 of 8 in the issue).
 */
describe('hostile: SIGKILL right after the ack loses no webhook event (issue 13, item 13)', function () {
  this.timeout(180_000);
  let store: TestStore;
  let receiver: WebhookReceiver;
  let hub: HubProcess | undefined;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    receiver = await startWebhookReceiver(SECRET);
  });
  after(async () => {
    closeAllSockets();
    await hub?.stop();
    await receiver?.close();
    await store?.close();
  });

  it('delivers message.created and conversation.ended after a restart, each once per id', async () => {
    const uri = store.uri('hostile_event_durability');
    // A short attempt timeout keeps the lease of an attempt cut off by a kill short (timeout + 15 s).
    const env = { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_TIMEOUT_MS: '1000' };
    const restart = async (): Promise<HubProcess> => {
      closeAllSockets();
      await hub?.kill();
      await hub?.stop();
      hub = new HubProcess(uri, env);
      await hub.start();
      return hub;
    };
    let current = await restart();
    const messageIds: string[] = [];
    const endedIds: string[] = [];
    const created = (hooks: typeof receiver.received): Set<string> =>
      new Set(hooks.filter((h) => h.body.type === 'message.created').map((h) => (h.body.payload as { message: { id: string } }).message.id));
    const endedOf = (hooks: typeof receiver.received): Set<string> =>
      new Set(hooks.filter((h) => h.body.type === 'conversation.ended').map((h) => String(h.body.payload['conversation_id'])));
    /** Every event acked so far reaches the receiver from the restarted hub. */
    const allDelivered = (): Promise<unknown> =>
      receiver.until(
        (hooks) => messageIds.every((id) => created(hooks).has(id)) && endedIds.every((id) => endedOf(hooks).has(id)),
        `message.created for ${messageIds.length} messages and conversation.ended for ${endedIds.length} conversations`,
        30_000,
      );
    for (let round = 0; round < ROUNDS; round += 1) {
      const init = await initCustomer(current.url);
      const customer = await connect(current.url, { token: init.token });
      expect((await customer.timeout(5000).emitWithAck('joinConversation', { conversationId: init.conversationId, id: init.participant.id })).ok).to.equal(true);
      const sent = await emitThenCrash(customer, current, 'sendMessage', {
        conversationId: init.conversationId,
        type: 'ChatMessage',
        from: { id: init.participant.id, name: 'Jane' },
        text: `acked, then the hub died (${round})`,
      });
      expect(sent.ok, JSON.stringify(sent)).to.equal(true);
      messageIds.push((sent as unknown as { message: { id: string } }).message.id);

      current = await restart();
      await allDelivered();
      const again = await connect(current.url, { token: init.token });
      const ended = await emitThenCrash(again, current, 'endConversation', { conversationId: init.conversationId });
      expect(ended.ok, JSON.stringify(ended)).to.equal(true);
      endedIds.push(init.conversationId);
      current = await restart();
      await allDelivered();
    }

    // At least once, under one id per event: a receiver deduplicating by id sees each event once.
    const ids = (type: string, key: (h: (typeof receiver.received)[number]) => string): Map<string, Set<string>> => {
      const byKey = new Map<string, Set<string>>();
      for (const h of receiver.received.filter((r) => r.body.type === type)) byKey.set(key(h), (byKey.get(key(h)) ?? new Set()).add(h.body.id));
      return byKey;
    };
    for (const [message, eventIds] of ids('message.created', (h) => (h.body.payload as { message: { id: string } }).message.id)) {
      expect(eventIds.size, `message ${message} has one event id`).to.equal(1);
    }
    for (const [conversation, eventIds] of ids('conversation.ended', (h) => String(h.body.payload['conversation_id']))) {
      expect(eventIds.size, `conversation ${conversation} has one event id`).to.equal(1);
    }
  });
});
