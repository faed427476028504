import { expect } from 'chai';
import pino from 'pino';
import { RedisLink } from '../../src/adapters/redis/redis-link.js';
import { RateLimits } from '../../src/adapters/rate-limits/rate-limits.js';
import { freePort } from '../../src/devstore/local-docstore.js';

/**
 * Redis away (contract §7, issue 15 item 5): nothing the hub asks of Redis waits in memory for it.
 * Commands fail at once (no offline queue), the adapter's unawaited writes never reject
 * unobserved, and the rate limits count in memory instead.
 */
describe('RedisLink while Redis is unreachable', function () {
  this.timeout(20_000);
  let link: RedisLink;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    // Nothing listens on this port.
    link = new RedisLink({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: 500 }, pino({ level: 'silent' }));
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await link.close();
  });

  it('fails 10,000 commands at once and queues none of them', async () => {
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 10_000 }, (_, i) => link.client.set(`k${i}`, 'x'.repeat(1000))));
    expect(results.every((r) => r.status === 'rejected')).to.equal(true);
    expect(Date.now() - started).to.be.lessThan(5000);
    const queued = (link.client as unknown as { offlineQueue: { length: number } }).offlineQueue.length;
    expect(queued).to.equal(0);
    expect(link.state).to.not.equal('up');
  });

  it("the adapter's client swallows the writes it does not await", async () => {
    const client = link.adapterClient();
    for (let i = 0; i < 1000; i += 1) {
      void client.publish('socket.io#/#', 'x');
      void client.set('sio:session:x', 'y');
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(unhandled).to.deep.equal([]);
  });

  it('rate limits still hold, counted in memory', async () => {
    const limiter = new RateLimits(link.client).create({ name: 'test-away', points: 3, durationSeconds: 60 });
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => limiter.consume('someone')));
    expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
  });
});
