import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { closeAllSockets, connect, emitAck, initCustomer, nextEvent, type AnyAck } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

const HISTORY_CACHE_BYTES = 1024 * 1024;
const CONVERSATION_CACHE_BYTES = 512 * 1024;
const ENTRY_BYTES = 64 * 1024;

/** 50 custom init fields of 2,000 characters: about 200 KB of customer data per conversation. */
function bulkyCustomFields(): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i < 50; i += 1) fields[`note${i}`] = 'n'.repeat(2000);
  return fields;
}

/** The heap in use after a full collection (the hub runs in this process). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Issue 13 item 9: caches were bounded by count, not bytes (610 messages of 200 KB killed a hub
 * with a 160 MB heap; conversations with 200 KB of customer fields were kept 50,000 at a time).
 */
describe('hostile: caches bounded by bytes (issue 13, item 9)', function () {
  this.timeout(120_000);
  let store: TestStore;
  let hub: RunningHub;

  const cacheBytes = async (cache: string): Promise<number> => {
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    const match = new RegExp(`^hub_cache_bytes\\{cache="${cache}"\\} (\\d+)$`, 'm').exec(metrics);
    if (!match) throw new Error(`no hub_cache_bytes for ${cache} in /metrics`);
    return Number(match[1]);
  };

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_cache_bytes'), {
      HISTORY_CACHE_MAX_BYTES: String(HISTORY_CACHE_BYTES),
      CONVERSATION_CACHE_MAX_BYTES: String(CONVERSATION_CACHE_BYTES),
      CACHE_MAX_ENTRY_BYTES: String(ENTRY_BYTES),
      RATE_LIMIT_INIT_PER_MINUTE: '100000',
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
      // Joins here show whole histories, so the check below sees every message.
      JOIN_HISTORY_MAX_BYTES: String(4 * 1024 * 1024),
      SOCKET_MAX_BUFFERED_BYTES: String(8 * 1024 * 1024),
    });
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('keeps the history cache within HISTORY_CACHE_MAX_BYTES under large messages, skips oversized ones, and still serves whole histories', async () => {
    let last: { conversationId: string; ids: string[] } | undefined;
    for (let c = 0; c < 4; c += 1) {
      const init = await initCustomer(hub.url);
      const socket = await connect(hub.url, { token: init.token });
      expect((await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id })).ok).to.equal(true);
      const ids: string[] = [];
      const send = async (text: string, metadata: Record<string, unknown> = {}): Promise<void> => {
        const ack = (await emitAck(socket, 'sendMessage', {
          conversationId: init.conversationId,
          type: 'ChatMessage',
          from: { id: init.participant.id, name: 'J' },
          text,
          metadata,
        })) as AnyAck & { message?: { id: string } };
        if (!ack.ok) throw new Error(JSON.stringify(ack));
        ids.push(ack.message?.id ?? '');
      };
      // About 40 KB each in memory: cacheable, but 4 x 15 of them are more than the cache may hold.
      for (let i = 0; i < 15; i += 1) await send(`${'x'.repeat(19_990)} ${c}.${i}`);
      // About 240 KB each: over the per-entry bound, never cached.
      const blob = Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`part${k}`, 'b'.repeat(10_000)]));
      for (let i = 0; i < 3; i += 1) await send(`big ${c}.${i}`, blob);
      last = { conversationId: init.conversationId, ids };
      socket.close();
    }
    expect(await cacheBytes('history')).to.be.at.most(HISTORY_CACHE_BYTES);

    // Skipped and evicted messages are read from the database: a join still gets the whole recent history.
    const viewer = await connect(hub.url, { token: SYSTEM_TOKEN });
    const info = nextEvent<{ messages: Array<{ id: string; text?: string }> }>(viewer, 'conversationInfo');
    expect((await emitAck(viewer, 'joinConversation', { conversationId: last?.conversationId, id: 'auditor' })).ok).to.equal(true);
    const shown = (await info).messages.filter((m) => m.text !== undefined).map((m) => m.id);
    expect(shown.slice(-18)).to.deep.equal(last?.ids);
  });

  it('does not cache conversations with hundreds of KB of customer fields, and keeps many conversations within CONVERSATION_CACHE_MAX_BYTES', async () => {
    const bulky: string[] = [];
    const before = heapAfterGc();
    await Promise.all(Array.from({ length: 6 }, async () => {
      for (let i = 0; i < 50; i += 1) bulky.push((await initCustomer(hub.url, bulkyCustomFields())).conversationId);
    }));
    // 300 x 100 KB (one-byte strings) would be 30 MB: none of them is kept.
    const grown = heapAfterGc() - before;
    expect(grown, `heap grew by ${Math.round(grown / 1e6)} MB`).to.be.below(15_000_000);
    expect(await cacheBytes('conversations')).to.be.below(CONVERSATION_CACHE_BYTES / 2);
    // Many small ones (and their empty histories) fill the caches only up to their bounds.
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 40; i += 1) await initCustomer(hub.url, { comment: 'c'.repeat(2000), url: `https://example.org/${'u'.repeat(1900)}` });
    }));
    expect(await cacheBytes('conversations')).to.be.at.most(CONVERSATION_CACHE_BYTES);
    expect(await cacheBytes('history')).to.be.at.most(HISTORY_CACHE_BYTES);
    // An uncached conversation still works: its customer joins and writes (read from the database).
    const init = await initCustomer(hub.url, bulkyCustomFields());
    const socket = await connect(hub.url, { token: init.token });
    expect((await emitAck(socket, 'joinConversation', { conversationId: init.conversationId, id: init.participant.id })).ok).to.equal(true);
    const sent = await emitAck(socket, 'sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from: { id: init.participant.id, name: 'J' }, text: 'still works' });
    expect(sent.ok, JSON.stringify(sent)).to.equal(true);
    expect(bulky).to.have.length(300);
  });
});
