import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, emitAck, joinedAgent, joinedCustomer, type AnyAck } from '../support/clients.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'poison-webhook-secret-0123456789';

/** Metadata the database refuses or cannot nest: each must be a BAD_REQUEST naming the field. */
function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { end: true };
  for (let i = 1; i < levels; i += 1) value = { n: value };
  return value;
}
const POISONS: Array<{ metadata: Record<string, unknown>; field: RegExp }> = [
  { metadata: { list: [{ $where: 'sleep(1000)' }] }, field: /^metadata\.list\.0\.\$where$/ },
  { metadata: { rows: [[{ 'a.b': 1 }]] }, field: /^metadata\.rows\.0\.0\.a\.b$/ },
  { metadata: { tags: [{ 'x\u0000y': 1 }] }, field: /^metadata\.tags\.0\.x\u0000y$/ },
  { metadata: deep(120), field: /^metadata(\.n){20}$/ },
];

type Pair = { conversationId: string; customer: Socket; customerId: string; agent: Socket; seen: string[] };

/**
 * The attack: one sender's message the database would refuse, sent while other customers write.
 * Group commit puts them in one insert; before the fix the refusal failed the whole insert, so the
 * other senders' messages were stored but acked INTERNAL, never delivered, never webhooked.
 */
describe('hostile: a poison message among other senders’ messages (issue 13, item 11)', function () {
  this.timeout(90_000);
  let store: TestStore;
  let hub: RunningHub;
  let receiver: WebhookReceiver;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    receiver = await startWebhookReceiver(SECRET);
    hub = await startHub(store.uri('hostile_poison'), { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  });
  after(async () => {
    closeAllSockets();
    await hub?.close();
    await receiver?.close();
    await store?.close();
  });

  it('refuses the poison message alone, naming the field; every other sender’s message is acked, delivered and webhooked', async () => {
    const pairs: Pair[] = [];
    for (let i = 0; i < 6; i += 1) {
      const customer = await joinedCustomer(hub.url);
      const agent = await joinedAgent(hub.url, customer.init.conversationId, `agent-poison-${i}`);
      const seen: string[] = [];
      agent.socket.on('messageArrived', (m: { id: string; type: string }) => {
        if (m.type === 'ChatMessage') seen.push(m.id);
      });
      pairs.push({ conversationId: customer.init.conversationId, customer: customer.socket, customerId: customer.init.participant.id, agent: agent.socket, seen });
    }
    const [attacker, ...others] = pairs as [Pair, ...Pair[]];

    const send = (pair: Pair, text: string, metadata: Record<string, unknown> = {}): Promise<AnyAck> =>
      emitAck(pair.customer, 'sendMessage', { conversationId: pair.conversationId, type: 'ChatMessage', from: { id: pair.customerId, name: 'C' }, text, metadata });

    // Several rounds, all sockets at once, so the poison shares inserts with the good messages.
    const goodAcks: Array<Promise<AnyAck>> = [];
    const badAcks: Array<{ ack: Promise<AnyAck>; field: RegExp }> = [];
    for (let round = 0; round < 4; round += 1) {
      for (const poison of POISONS) {
        badAcks.push({ ack: send(attacker, `poison ${round}`, poison.metadata), field: poison.field });
        for (const pair of others) goodAcks.push(send(pair, `good ${round}`, { order: { id: round, lines: [{ sku: 'a' }] } }));
      }
    }

    const good = await Promise.all(goodAcks);
    const failed = good.filter((a) => !a.ok);
    expect(failed, `good messages refused: ${JSON.stringify(failed.slice(0, 3))}`).to.have.length(0);
    for (const { ack, field } of badAcks) {
      const answer = await ack;
      expect(answer.ok).to.equal(false);
      if (answer.ok) continue;
      expect(answer.error.code).to.equal('BAD_REQUEST');
      const details = answer.error.details as Array<{ field: string }>;
      expect(details.map((d) => d.field).some((f) => field.test(f)), `${JSON.stringify(details)} names ${String(field)}`).to.equal(true);
    }

    const goodIds = good.map((a) => (a as unknown as { message: { id: string } }).message.id);
    // Delivered live to each conversation's agent …
    const deadline = Date.now() + 5000;
    const delivered = (): number => others.reduce((n, p) => n + p.seen.length, 0);
    while (delivered() < goodIds.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(others.flatMap((p) => p.seen).sort()).to.deep.equal([...goodIds].sort());
    // … and webhooked.
    await receiver.until(
      (hooks) => goodIds.every((id) => hooks.some((h) => h.body.type === 'message.created' && (h.body.payload as { message: { id: string } }).message.id === id)),
      'message.created for every good message',
      15_000,
    );
    // Nothing of the attacker's was stored.
    expect(await hub.db.connection.collection('messages').countDocuments({ conversationId: attacker.conversationId, type: 'ChatMessage' })).to.equal(0);
  });

  it('refuses poison metadata on an activity’s info too', async () => {
    const customer = await joinedCustomer(hub.url);
    const agent = await joinedAgent(hub.url, customer.init.conversationId, 'agent-poison-info');
    const ack = await emitAck(agent.socket, 'sendMessage', {
      conversationId: customer.init.conversationId,
      type: 'ActivityMessage',
      activityType: 'participantAdded',
      from: { id: 'agent-poison-info', name: 'A' },
      info: { who: [{ $ne: null }] },
    });
    expect(ack.ok).to.equal(false);
    if (!ack.ok) {
      expect(ack.error.code).to.equal('BAD_REQUEST');
      expect(JSON.stringify(ack.error.details)).to.include('info.who.0.$ne');
    }
  });
});
