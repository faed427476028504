import { expect } from 'chai';
import { closeAllSockets, connect, emitAck, joinedAgent, joinedCustomer, nextEvent, postJson, sleep, type AnyAck } from './support/clients.js';
import { startHub, type RunningHub } from './support/hub.js';
import { canControlStore, startTestStore, type TestStore } from './support/store.js';

type Msg = { id: string; seq?: number; text?: string; type: string };

/** Times a call; the contract allows each failure at most 5 s. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - started };
}

describe('durability and database faults', function () {
  this.timeout(90_000);
  let store: TestStore;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await store?.close();
  });

  it('keeps history and seq across a restart of the hub process', async () => {
    const uri = store.uri('durability_restart');
    let hub: RunningHub = await startHub(uri);
    let cid: string;
    let customerToken: string;
    let customerId: string;
    const sent: Msg[] = [];
    try {
      const customer = await joinedCustomer(hub.url);
      cid = customer.init.conversationId;
      customerToken = customer.init.token;
      customerId = customer.init.participant.id;
      const agent = await joinedAgent(hub.url, cid, 'agent-restart');
      for (let i = 0; i < 5; i += 1) {
        const socket = i % 2 === 0 ? customer.socket : agent.socket;
        const from = i % 2 === 0 ? { id: customerId, name: 'J' } : { id: 'agent-restart', name: 'A' };
        const ack = (await emitAck(socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, text: `before restart ${i}` })) as {
          ok: true;
          message: Msg;
        };
        sent.push(ack.message);
      }
    } finally {
      closeAllSockets();
      await hub.close();
    }

    hub = await startHub(uri);
    try {
      const socket = await connect(hub.url, { token: customerToken });
      const info = nextEvent<{ messages: Msg[] }>(socket, 'conversationInfo');
      const greetings: Msg[] = [];
      socket.on('messageArrived', (m: Msg & { activityType?: string }) => {
        if (m.activityType === 'greetings') greetings.push(m);
      });
      const ack = await emitAck(socket, 'joinConversation', { conversationId: cid, id: customerId, name: 'J' });
      expect(ack.ok).to.equal(true);
      const history = (await info).messages.filter((m) => m.type === 'ChatMessage');
      expect(history.map((m) => m.id)).to.deep.equal(sent.map((m) => m.id));
      const next = (await emitAck(socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from: { id: customerId, name: 'J' }, text: 'after restart' })) as {
        ok: true;
        message: Msg;
      };
      // The new process continues the sequence instead of starting over.
      expect(next.message.seq).to.be.greaterThan(sent[sent.length - 1]!.seq!);
      await sleep(200);
      expect(greetings, 'a rejoin after restart is not a first join').to.have.length(0);
    } finally {
      await hub.close();
    }
  });

  it('never doubles a join announcement, even when a join is recorded again', async () => {
    const uri = store.uri('durability_once');
    let hub: RunningHub = await startHub(uri);
    let cid: string;
    let token: string;
    let customerId: string;
    try {
      const customer = await joinedCustomer(hub.url);
      cid = customer.init.conversationId;
      token = customer.init.token;
      customerId = customer.init.participant.id;
      await sleep(200);
      // As if the announcement's outcome had been lost: the join is un-recorded.
      await hub.db.connection.collection('conversations').updateOne({ _id: cid as never }, { $pull: { joined: customerId } } as never);
    } finally {
      closeAllSockets();
      await hub.close();
    }
    hub = await startHub(uri);
    try {
      const socket = await connect(hub.url, { token });
      const seen: Array<Msg & { activityType?: string }> = [];
      socket.on('messageArrived', (m: Msg & { activityType?: string }) => seen.push(m));
      const info = nextEvent<{ messages: Array<Msg & { activityType?: string }> }>(socket, 'conversationInfo');
      expect((await emitAck(socket, 'joinConversation', { conversationId: cid, id: customerId })).ok).to.equal(true);
      const history = (await info).messages;
      await sleep(300);
      const messages = hub.db.connection.collection('messages');
      expect(await messages.countDocuments({ conversationId: cid, activityType: 'greetings' })).to.equal(1);
      expect(await messages.countDocuments({ conversationId: cid, activityType: 'participantJoined' })).to.equal(1);
      expect(history.filter((m) => m.activityType === 'greetings')).to.have.length(1);
      expect(seen.filter((m) => m.activityType === 'greetings'), 'the stored greeting is not sent again').to.have.length(0);
    } finally {
      await hub.close();
    }
  });

  (canControlStore ? describe : describe.skip)('with the database stopped', () => {
    let hub: RunningHub;
    before(async () => {
      hub = await startHub(store.uri('durability_faults'));
    });
    after(async () => {
      await hub?.close();
    });

    it('answers 503 and UNAVAILABLE within 5 s, never a false ack, and recovers by itself', async () => {
      const customer = await joinedCustomer(hub.url);
      const cid = customer.init.conversationId;
      const from = { id: customer.init.participant.id, name: 'J' };
      const agent = await joinedAgent(hub.url, cid, 'agent-fault');
      const agentSaw: Msg[] = [];
      agent.socket.on('messageArrived', (m: Msg) => agentSaw.push(m));
      expect((await emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, text: 'before the outage' })).ok).to.equal(true);

      await store.stop();

      const ready = await timed(() => fetch(`${hub.url}/ready`));
      expect(ready.value.status).to.equal(503);
      expect(((await ready.value.json()) as { code: string }).code).to.equal('UNAVAILABLE');
      expect(ready.ms).to.be.lessThan(5000);
      expect((await fetch(`${hub.url}/health`)).status, 'the process itself is up').to.equal(200);

      const init = await timed(() => postJson<{ code: string }>(`${hub.url}/api/customer/init`, { firstName: 'Outage', channel: 'web', email: 'o@x.org' }));
      expect(init.value.status).to.equal(503);
      expect(init.value.body.code).to.equal('UNAVAILABLE');
      expect(init.ms).to.be.lessThan(5000);

      const send = await timed(() =>
        emitAck(customer.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, text: 'during the outage', clientMessageId: 'outage-1' }, 10_000),
      );
      expect(send.value.ok, 'no false ack while the database is down').to.equal(false);
      if (!send.value.ok) expect(send.value.error.code).to.equal('UNAVAILABLE');
      expect(send.ms).to.be.lessThan(5000);

      await store.restart();

      // Service returns by itself: poll /ready, then the same calls succeed.
      const deadline = Date.now() + 30_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await fetch(`${hub.url}/ready`)).status;
        if (status === 200) break;
        await sleep(250);
      }
      expect(status).to.equal(200);
      const retried: AnyAck = await emitAck(customer.socket, 'sendMessage', {
        conversationId: cid,
        type: 'ChatMessage',
        from,
        text: 'during the outage',
        clientMessageId: 'outage-1',
      });
      expect(retried.ok).to.equal(true);
      const initAgain = await postJson(`${hub.url}/api/customer/init`, { firstName: 'Back', channel: 'web', email: 'b@x.org' });
      expect(initAgain.status).to.equal(200);
      await sleep(200);
      const texts = agentSaw.map((m) => m.text);
      expect(texts.filter((t) => t === 'during the outage')).to.have.length(1);
      const stored = await hub.db.connection.collection('messages').countDocuments({ conversationId: cid, text: 'during the outage' });
      expect(stored).to.equal(1);
    });
  });
});
