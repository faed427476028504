import { expect } from 'chai';
import { approxBytes } from '../../src/domain/approx-size.js';
import { ByteLru } from '../../src/domain/byte-lru.js';
import { ConversationCache } from '../../src/domain/conversation-cache.js';
import { HistoryCache } from '../../src/domain/history-cache.js';
import { historyPage } from '../../src/domain/join-history.js';
import { decodeCursor } from '../../src/domain/cursor.js';
import type { ConversationStore } from '../../src/domain/ports.js';
import { toWireMessage, type Conversation } from '../../src/domain/types.js';
import { clientAddress } from '../../src/transport/client-address.js';
import { LogThrottle } from '../../src/log-throttle.js';
import { storedMessage } from './fixtures.js';

describe('byte-bounded caches (unit)', () => {
  it('approxBytes grows with the strings and structure of a value', () => {
    expect(approxBytes('x'.repeat(1000))).to.be.greaterThan(2000);
    expect(approxBytes({ a: 'x'.repeat(1000), b: ['y'.repeat(1000)] })).to.be.greaterThan(4000);
    expect(approxBytes({})).to.be.greaterThan(0);
  });

  it('ByteLru evicts least recently used entries past its bytes and refuses entries over the per-entry bound', () => {
    const lru = new ByteLru<string>({ maxBytes: 1000, maxEntryBytes: 400 });
    expect(lru.set('a', 'A', 300)).to.equal(true);
    expect(lru.set('b', 'B', 300)).to.equal(true);
    lru.touch('a');
    expect(lru.set('c', 'C', 300)).to.equal(true);
    expect(lru.bytes).to.be.at.most(1000);
    expect(lru.get('b')).to.equal(undefined);
    expect(lru.get('a')).to.equal('A');
    // Too large: not kept, and an older value of the key goes too (it would be stale).
    expect(lru.set('a', 'A2', 5000)).to.equal(false);
    expect(lru.get('a')).to.equal(undefined);
    lru.delete('c');
    expect(lru.size).to.equal(0);
    expect(lru.bytes).to.equal(0);
  });

  it('HistoryCache stays within its bytes, evicting whole conversations, empty ones included', () => {
    const cache = new HistoryCache(100, 1_000_000, { maxBytes: 50_000, maxMessageBytes: 10_000 });
    for (let i = 0; i < 1000; i += 1) cache.track(`empty${i}`);
    expect(cache.bytes).to.be.at.most(50_000);
    expect(cache.conversations).to.be.below(1000);
    cache.track('c');
    for (let i = 0; i < 50; i += 1) cache.append(storedMessage('c', { text: 'x'.repeat(2000) }));
    expect(cache.bytes).to.be.at.most(50_000);
  });

  it('HistoryCache skips an oversized message and then serves only what follows it', () => {
    const cache = new HistoryCache(100, 1000, { maxBytes: 1_000_000, maxMessageBytes: 10_000 });
    cache.track('c');
    cache.append(storedMessage('c'));
    cache.append(storedMessage('c', { text: 'x'.repeat(50_000) }));
    const after = [storedMessage('c'), storedMessage('c')];
    for (const m of after) cache.append(m);
    // Two are cached after the hole: enough for two, not for three.
    expect(cache.visible('c', 'x', true, 2)?.map((m) => m.id)).to.deep.equal(after.map((m) => m.id));
    expect(cache.visible('c', 'x', true, 3)).to.equal(undefined);
    // An update that makes a message oversized drops it (and what precedes it) as well.
    cache.update({ ...(after[0] as ReturnType<typeof storedMessage>), metadata: { blob: 'y'.repeat(50_000) } });
    expect(cache.visible('c', 'x', true, 2)).to.equal(undefined);
    expect(cache.visible('c', 'x', true, 1)?.map((m) => m.id)).to.deep.equal([after[1]?.id]);
  });

  it('ConversationCache bounds by bytes and reads an oversized conversation from the store each time', async () => {
    let reads = 0;
    const big = { id: 'big', customer: { custom: { notes: 'n'.repeat(100_000) } } } as unknown as Conversation;
    const store = { findById: async (id: string) => ((reads += 1), id === 'big' ? big : null) } as unknown as ConversationStore;
    const cache = new ConversationCache(store, Number.POSITIVE_INFINITY, { maxBytes: 20_000, maxEntryBytes: 10_000 });
    await cache.get('big');
    await cache.get('big');
    expect(reads).to.equal(2);
    for (let i = 0; i < 500; i += 1) cache.put({ id: `c${i}`, participants: [] } as unknown as Conversation);
    expect(cache.bytes).to.be.at.most(20_000);
  });

  it('historyPage keeps the newest messages within the bytes, always the newest one, with a cursor before the first', () => {
    const messages = Array.from({ length: 11 }, () => storedMessage('c', { text: 'x'.repeat(1000) }));
    const size = Buffer.byteLength(JSON.stringify(toWireMessage(messages[0] as ReturnType<typeof storedMessage>))) + 1;
    const budget = 2 + Math.floor(3.5 * size);
    const page = historyPage('c', messages, 10, budget, true);
    expect(page.messages.map((m) => m.id)).to.deep.equal(messages.slice(-3).map((m) => m.id));
    expect(page.hasMore).to.equal(true);
    expect(page.bytes).to.be.at.most(budget);
    expect(decodeCursor('m', page.olderCursor ?? '')).to.deep.equal(['c', 'b', messages[8]?.seq]);
    const one = historyPage('c', messages.slice(0, 1), 10, 10, true);
    expect(one.messages).to.have.length(1);
    expect(one.hasMore).to.equal(false);
    expect(one.olderCursor).to.equal(null);
    expect(historyPage('c', messages.slice(0, 10), 10, 1_000_000, true).hasMore).to.equal(false);
  });

  it('clientAddress follows X-Forwarded-For only through trusted proxies', () => {
    const loopback = (a: string): boolean => a === '127.0.0.1';
    expect(clientAddress('127.0.0.1', '198.51.100.1, 203.0.113.9', loopback)).to.equal('203.0.113.9');
    expect(clientAddress('192.0.2.5', '203.0.113.9', loopback)).to.equal('192.0.2.5');
    expect(clientAddress('127.0.0.1', undefined, loopback)).to.equal('127.0.0.1');
  });

  it('LogThrottle lets one line per key and interval through and counts the rest', () => {
    const throttle = new LogThrottle(1000);
    expect(throttle.admit('k', 0)).to.equal(0);
    expect(throttle.admit('k', 10)).to.equal(undefined);
    expect(throttle.admit('k', 20)).to.equal(undefined);
    expect(throttle.admit('other', 20)).to.equal(0);
    expect(throttle.admit('k', 1500)).to.equal(2);
  });
});
