import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { closeAllSockets, connect, emitAck, initCustomer, nextEvent, postJson, sleep, type AnyAck } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { until } from '../support/routing.js';
import { startTestStore, type TestStore } from '../support/store.js';

interface Info {
  conversation: { id: string };
  messages: Array<{ id: string; seq: number; text?: string }>;
  hasMore?: boolean;
  olderCursor?: string | null;
}

const HISTORY_BYTES = 1024 * 1024;
const BUFFERED_BYTES = 2 * 1024 * 1024;
const JOINS_PER_MINUTE = 25;
/** About 60 KB of JSON per message: 20,000 characters of three UTF-8 bytes each. */
const bulky = (i: number): string => `${'€'.repeat(19_990)} #${i}`;

/** The raw TCP socket under a socket.io-client connection (websocket transport, Node). */
function tcpOf(socket: Socket): { pause(): void; resume(): void } {
  const engine = socket.io.engine as unknown as { transport: { ws: { _socket: { pause(): void; resume(): void } } } };
  return engine.transport.ws._socket;
}

/**
 * Issue 13 item 7: a 200-byte joinConversation made the hub queue up to 100 history messages of
 * up to 256 KB (about 19 MB) for a client that never reads, as often as it liked.
 */
describe('hostile: join flood (issue 13, item 7)', function () {
  this.timeout(90_000);
  let store: TestStore;
  let hub: RunningHub;
  let conversationId: string;
  let messageIds: string[];

  before(async function () {
    this.timeout(180_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_join_flood'), {
      JOIN_HISTORY_MAX_BYTES: String(HISTORY_BYTES),
      SOCKET_MAX_BUFFERED_BYTES: String(BUFFERED_BYTES),
      RATE_LIMIT_JOINS_PER_MINUTE: String(JOINS_PER_MINUTE),
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
    });
    // A conversation whose history is about 6 MB: 100 messages of about 60 KB.
    const init = await initCustomer(hub.url);
    conversationId = init.conversationId;
    const customer = await connect(hub.url, { token: init.token });
    const joined = await emitAck(customer, 'joinConversation', { conversationId, id: init.participant.id });
    expect(joined.ok, JSON.stringify(joined)).to.equal(true);
    messageIds = [];
    for (let i = 0; i < 100; i += 1) {
      const ack = (await emitAck(customer, 'sendMessage', {
        conversationId,
        type: 'ChatMessage',
        from: { id: init.participant.id, name: 'Jane' },
        text: bulky(i),
      })) as AnyAck & { message?: { id: string } };
      if (!ack.ok) throw new Error(`send ${i} failed: ${JSON.stringify(ack)}`);
      messageIds.push(ack.message?.id ?? '');
    }
    customer.close();
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('bounds conversationInfo by bytes, keeps the newest message, and says where older ones are (hasMore, olderCursor for messages.list)', async () => {
    const viewer = await connect(hub.url, { token: SYSTEM_TOKEN });
    const infoArrives = nextEvent<Info>(viewer, 'conversationInfo', (i) => i.conversation.id === conversationId, 10_000);
    const ack = await emitAck(viewer, 'joinConversation', { conversationId, id: 'auditor' });
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    const info = await infoArrives;
    expect(Buffer.byteLength(JSON.stringify(info.messages))).to.be.at.most(HISTORY_BYTES);
    // The newest stored message is the last one shown (its join notice aside, the hub adds none for the system).
    const chats = info.messages.filter((m) => m.text !== undefined);
    expect(chats.length).to.be.greaterThan(0);
    expect(chats[chats.length - 1]?.id).to.equal(messageIds[messageIds.length - 1]);
    expect(chats.length).to.be.lessThan(100);
    expect(info.hasMore).to.equal(true);
    expect(info.olderCursor).to.be.a('string');

    // The cursor pages backwards from the first message shown.
    const firstShown = info.messages[0]?.seq ?? 0;
    const older = await postJson<{ data: Array<{ id: string }>; pagination_data: { previous_cursor: string | null } }>(
      `${hub.url}/messages.list`,
      { conversation_id: conversationId, cursor: info.olderCursor, page_size: 10 },
      { authorization: `Bearer ${SYSTEM_TOKEN}` },
    );
    expect(older.status, JSON.stringify(older.body).slice(0, 300)).to.equal(200);
    const olderIds = older.body.data.map((m) => m.id);
    expect(olderIds).to.have.length(10);
    const firstShownIndex = messageIds.indexOf(chats[0]?.id ?? '');
    expect(olderIds).to.deep.equal(messageIds.slice(firstShownIndex - 10, firstShownIndex));
    expect(older.body.pagination_data.previous_cursor).to.be.a('string');
    expect(firstShown).to.be.greaterThan(0);
    // A reader is never taken for a slow one.
    await sleep(1500);
    expect(viewer.connected).to.equal(true);
  });

  it('closes a connection that never reads while it join-spams, instead of queueing megabytes of history for it', async () => {
    const attacker = await connect(hub.url, { token: SYSTEM_TOKEN });
    const id = attacker.id ?? '';
    expect(hub.hub.io.of('/').sockets.has(id)).to.equal(true);
    // The client stops reading: everything the hub sends it from now on waits in buffers.
    tcpOf(attacker).pause();
    for (let i = 0; i < JOINS_PER_MINUTE; i += 1) attacker.emit('joinConversation', { conversationId, id: 'flooder' });
    await until(() => !hub.hub.io.of('/').sockets.has(id), 'the hub to close the connection that does not read', 20_000);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).to.match(/^hub_socket_backlog_closed_total [1-9]\d*$/m);
    tcpOf(attacker).resume();
  });

  it('counts joins per credential: a customer cannot multiply its join budget by opening more sockets', async () => {
    const other = await initCustomer(hub.url);
    const tabs = [await connect(hub.url, { token: other.token }), await connect(hub.url, { token: other.token }), await connect(hub.url, { token: other.token })];
    const codes: string[] = [];
    for (let i = 0; i <= JOINS_PER_MINUTE; i += 1) {
      const tab = tabs[i % tabs.length] as Socket;
      const ack = await emitAck(tab, 'joinConversation', { conversationId: other.conversationId, id: other.participant.id });
      codes.push(ack.ok ? 'ok' : ack.error.code);
      if (!ack.ok) expect(ack.error.message).to.match(/at most 25 joinConversation per minute per credential/);
    }
    expect(codes.slice(0, JOINS_PER_MINUTE).every((c) => c === 'ok'), codes.join(',')).to.equal(true);
    expect(codes[JOINS_PER_MINUTE]).to.equal('RATE_LIMITED');
    // A fourth socket of the same customer starts with nothing left either.
    const fresh = await connect(hub.url, { token: other.token });
    const late = await emitAck(fresh, 'joinConversation', { conversationId: other.conversationId, id: other.participant.id });
    expect(late.ok ? 'ok' : late.error.code).to.equal('RATE_LIMITED');
  });

  it('limits joinConversation per connection for the system token: past RATE_LIMIT_JOINS_PER_MINUTE the join is RATE_LIMITED', async () => {
    const small = await initCustomer(hub.url);
    const socket = await connect(hub.url, { token: SYSTEM_TOKEN });
    const codes: string[] = [];
    for (let i = 0; i <= JOINS_PER_MINUTE; i += 1) {
      const ack = await emitAck(socket, 'joinConversation', { conversationId: small.conversationId, id: 'watcher' });
      codes.push(ack.ok ? 'ok' : ack.error.code);
      if (!ack.ok) expect(ack.error.message).to.match(/at most 25 joinConversation per minute/);
    }
    expect(codes.slice(0, JOINS_PER_MINUTE).every((c) => c === 'ok'), codes.join(',')).to.equal(true);
    expect(codes[JOINS_PER_MINUTE]).to.equal('RATE_LIMITED');
    // The connection stays open and usable.
    expect(socket.connected).to.equal(true);
  });
});
