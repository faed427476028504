import { expect } from 'chai';
import { HistoryCache } from '../../src/domain/history-cache.js';
import { storedMessage } from './fixtures.js';

const msg = storedMessage;

describe('HistoryCache (unit)', () => {
  it('answers only for conversations it tracks, filtered by visibility', () => {
    const cache = new HistoryCache(100, 1000);
    expect(cache.visible('x', 'cust', false, 100)).to.equal(undefined);
    cache.track('c');
    cache.append(msg('c'));
    cache.append(msg('c', { tag: 'whisper' }));
    cache.append(msg('c', { audience: ['other', 'agent'] }));
    cache.append(msg('untracked'));
    expect(cache.visible('c', 'cust', false, 100)!.map((m) => m.text)).to.have.length(1);
    expect(cache.visible('c', 'agent', true, 100)).to.have.length(3);
    expect(cache.visible('untracked', 'agent', true, 100)).to.equal(undefined);
  });

  it('sends a viewer to the database once older messages were trimmed and too few remain visible', () => {
    const cache = new HistoryCache(3, 1000);
    cache.track('c');
    for (let i = 0; i < 3; i += 1) cache.append(msg('c', { tag: 'whisper' }));
    cache.append(msg('c'));
    expect(cache.visible('c', 'agent', true, 3)).to.have.length(3);
    expect(cache.visible('c', 'cust', false, 3)).to.equal(undefined);
  });

  it('evicts the least recently written conversations past its message budget', () => {
    const cache = new HistoryCache(10, 4);
    for (const id of ['a', 'b', 'c']) cache.track(id);
    cache.append(msg('a'));
    cache.append(msg('a'));
    cache.append(msg('b'));
    cache.append(msg('c'));
    cache.append(msg('c'));
    expect(cache.visible('a', 'x', true, 10)).to.equal(undefined);
    expect(cache.visible('b', 'x', true, 10)).to.have.length(1);
    expect(cache.visible('c', 'x', true, 10)).to.have.length(2);
  });

  it('is off with a zero budget', () => {
    const cache = new HistoryCache(10, 0);
    cache.track('c');
    cache.append(msg('c'));
    expect(cache.visible('c', 'x', true, 10)).to.equal(undefined);
  });
});
