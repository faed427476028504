/**
 * Issue 13, item 10: connections that never open a namespace (a bare engine.io handshake) were
 * counted by no cap and lived for Socket.IO's 45 s connect timeout; one address could hold as many
 * as it liked. They are now bounded per address at the transport's handshake (twice
 * MAX_SOCKETS_PER_ADDRESS, so the socket cap refuses clients that open namespaces first, with its
 * clear message) and closed after 10 s without a namespace.
 */
import { expect } from 'chai';
import { Manager } from 'socket.io-client';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

const PER_ADDRESS = 5;

/** Opens a bare connection (no namespace): resolves with the manager once open, or with the error. */
function bare(url: string): Promise<{ manager: Manager; error?: Error }> {
  const manager = new Manager(url, { transports: ['websocket'], reconnection: false, autoConnect: false, forceNew: true } as never);
  return new Promise((resolve) => {
    manager.open((err?: Error) => resolve(err ? { manager, error: err } : { manager }));
  });
}

describe('hostile: bare connections that open no namespace (issue 13, item 10)', function () {
  this.timeout(60_000);
  let store: TestStore;
  let hub: RunningHub;
  const managers: Manager[] = [];

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_raw_connections'), { MAX_SOCKETS_PER_ADDRESS: String(PER_ADDRESS) });
  });
  after(async () => {
    for (const m of managers) (m as unknown as { engine?: { close(): void } }).engine?.close();
    await hub?.close();
    await store?.close();
  });

  it('bounds them per address: past twice the socket cap the handshake is refused, and a freed slot can be used again', async () => {
    const open = [];
    for (let i = 0; i < 2 * PER_ADDRESS; i += 1) open.push(await bare(hub.url));
    managers.push(...open.map((o) => o.manager));
    expect(open.every((o) => !o.error), open.map((o) => o.error?.message).join(',')).to.equal(true);
    const extra = await bare(hub.url);
    managers.push(extra.manager);
    expect(extra.error, 'the connection past the cap').to.be.instanceOf(Error);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).to.match(/^hub_socket_handshakes_refused_total\{cap="address"\} [1-9]\d*$/m);
    // One closes: its place is free again.
    (open[0]?.manager as unknown as { engine: { close(): void } }).engine.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const again = await bare(hub.url);
    managers.push(again.manager);
    expect(again.error).to.equal(undefined);
  });

  it('closes a bare connection that opens no namespace within 10 s', async () => {
    for (const m of managers) (m as unknown as { engine?: { close(): void } }).engine?.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { manager, error } = await bare(hub.url);
    managers.push(manager);
    expect(error).to.equal(undefined);
    const engine = (manager as unknown as { engine: { once(event: 'close', fn: (reason: string) => void): void } }).engine;
    const started = Date.now();
    const reason = await new Promise<string>((resolve) => engine.once('close', resolve));
    expect(Date.now() - started).to.be.within(5_000, 15_000);
    expect(reason).to.be.a('string');
  });
});
