import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectorAuthError } from '../src/errors.js';
import { HubConnector } from '../src/hub-connector.js';
import { createConnectorLogger } from '../src/logger.js';
import { runConnector, type RunConnectorOptions, type RunnableHub } from '../src/run-connector.js';
import { FakeHub, sleep, waitFor } from './fake-hub.js';

const KEY = 'sms-key-0123456789';

type LogLine = { level: number; msg: string; event?: string; signal?: string; hubUrl?: string; connector?: string };

describe('runConnector (start, ready/fatal logs, graceful shutdown)', () => {
  let hub: FakeHub;
  let servers: Server[];
  let links: HubConnector[];
  let lines: LogLine[];
  let exits: number[];
  const logger = () => createConnectorLogger({ level: 'debug', connector: 'sms', destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  const logged = (msg: string): LogLine | undefined => lines.find((l) => l.msg === msg);

  /** A listening HTTP server whose handler is `handle` (default: 200 at once). */
  async function server(handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok')): Promise<Server> {
    const s = createServer(handle);
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return s;
  }
  const urlOf = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

  function link(key = KEY): HubConnector {
    const c = HubConnector.fromConfig({ hubUrl: hub.url, connectorId: 'sms', connectorName: 'SMS Connector', connectorKey: key }, { logger: logger(), reconnectDelayMs: 50, reconnectDelayMaxMs: 200 });
    links.push(c);
    return c;
  }

  /** runConnector without real signals or process.exit: exits are recorded in `exits`. */
  const run = (options: Partial<RunConnectorOptions> & Pick<RunConnectorOptions, 'hub' | 'server'>) =>
    runConnector({ logger: logger(), signals: [], exit: (code) => void exits.push(code), ...options });

  beforeEach(async () => {
    hub = await new FakeHub({ key: KEY }).listen();
    servers = [];
    links = [];
    lines = [];
    exits = [];
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    await Promise.all(links.map((c) => c.close()));
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await hub.close();
  });

  it('starts the hub link and logs "connector ready" once registered', async () => {
    const hubLink = link();
    const running = run({ hub: hubLink, server: await server() });
    await running.started;
    await waitFor(() => logged('connector ready') !== undefined, 1000, 'the ready line');
    expect(logged('connector ready')).to.deep.include({ level: 30, event: 'ready', hubUrl: hub.url, connector: 'sms' });
    expect(logged('registered with the hub')).to.deep.include({ event: 'registered' }); // the SDK's own line, before it
    expect(hubLink.registered).to.equal(true);
    expect(exits).to.deep.equal([]);
  });

  it('a refused key: one fatal line naming CONNECTOR_KEY and the connector id, the server closed, exit 1', async () => {
    const s = await server();
    const running = run({ hub: link('wrong-key-0123456789'), server: s });
    expect(await running.started.then(() => 'started', (err: unknown) => err)).to.be.instanceOf(ConnectorAuthError);
    await waitFor(() => exits.length > 0, 1000, 'the exit');
    expect(exits).to.deep.equal([1]);
    const fatal = lines.filter((l) => l.level === 60);
    expect(fatal).to.have.length(1);
    expect(fatal[0]).to.deep.include({ event: 'unauthorized', msg: `the hub refused CONNECTOR_KEY for connector "sms"; check the hub's CONNECTOR_KEYS entry` });
    expect(JSON.stringify(lines)).not.to.include('wrong-key-0123456789');
    expect(s.listening).to.equal(false);
  });

  it('any other start failure: "could not start the hub connection", exit 1', async () => {
    const failing: RunnableHub = { id: 'sms', hubUrl: hub.url, start: () => Promise.reject(new Error('boom')), close: async () => {}, on: () => undefined };
    run({ hub: failing, server: await server() });
    await waitFor(() => exits.length > 0, 1000, 'the exit');
    expect(exits).to.deep.equal([1]);
    expect(logged('could not start the hub connection')).to.deep.include({ level: 60 });
  });

  it('shutdown: stops taking requests, lets a running one finish, then closes the hub link, logs "stopped", exit 0', async () => {
    const order: string[] = [];
    // Connection: close, or the client's idle keep-alive connection would hold server.close() up.
    const s = await server((_req, res) => void sleep(300).then(() => (order.push('request done'), res.setHeader('connection', 'close'), res.end('late'))));
    const hubLink = link();
    const close = hubLink.close.bind(hubLink);
    hubLink.close = () => (order.push('hub closed'), close());
    const running = run({ hub: hubLink, server: s });
    await running.started;
    const response = fetch(urlOf(s)).then((r) => r.text());
    await sleep(50);
    const stopped = running.shutdown('SIGTERM');
    expect(await response).to.equal('late');
    await stopped;
    expect(order).to.deep.equal(['request done', 'hub closed']);
    expect(exits).to.deep.equal([0]);
    expect(s.listening).to.equal(false);
    expect(hubLink.registered).to.equal(false);
    expect(logged('shutting down')).to.deep.include({ event: 'stopping', signal: 'SIGTERM' });
    expect(logged('stopped')).to.deep.include({ event: 'stopped' });
    // Idempotent: a second call joins the first.
    await running.shutdown('SIGINT');
    expect(exits).to.deep.equal([0]);
  });

  it('a signal starts the shutdown; the listeners are gone after the exit', async () => {
    const before = process.listenerCount('SIGUSR2');
    const running = run({ hub: link(), server: await server(), signals: ['SIGUSR2'] });
    await running.started;
    expect(process.listenerCount('SIGUSR2')).to.equal(before + 1);
    process.emit('SIGUSR2');
    await waitFor(() => exits.length > 0, 3000, 'the exit');
    expect(exits).to.deep.equal([0]);
    expect(logged('shutting down')).to.deep.include({ signal: 'SIGUSR2' });
    expect(process.listenerCount('SIGUSR2')).to.equal(before);
  });

  it('a signal while start() is still waiting for the hub: no fatal line, exit 0 only', async () => {
    // Nothing listens there: start() keeps retrying.
    const hubLink = HubConnector.fromConfig({ hubUrl: 'http://127.0.0.1:9', connectorId: 'sms', connectorName: 'SMS', connectorKey: KEY }, { logger: logger(), reconnectDelayMs: 50 });
    links.push(hubLink);
    const running = run({ hub: hubLink, server: await server() });
    await sleep(100);
    await running.shutdown('SIGINT');
    await sleep(50);
    expect(exits).to.deep.equal([0]);
    expect(lines.filter((l) => l.level >= 50)).to.deep.equal([]);
  });

  it('exits 1 with "shutdown took too long" when the stop outlasts shutdownTimeoutMs', async () => {
    const stuck: RunnableHub = { id: 'sms', hubUrl: hub.url, start: async () => {}, close: () => new Promise(() => {}), on: () => undefined };
    const running = run({ hub: stuck, server: await server(), shutdownTimeoutMs: 100 });
    await running.started;
    void running.shutdown('SIGTERM');
    await waitFor(() => exits.length > 0, 1000, 'the exit');
    expect(exits).to.deep.equal([1]);
    expect(logged('shutdown took too long; exiting')).to.deep.include({ level: 50 });
    expect(logged('stopped')).to.equal(undefined);
  });

  it('with drainTimeoutMs, closes the hub link after that long and cuts requests still running', async () => {
    const s = await server(() => {}); // never answers
    let closedAt = 0;
    const hubStub: RunnableHub = { id: 'sms', hubUrl: hub.url, start: async () => {}, close: async () => void (closedAt = Date.now()), on: () => undefined };
    const running = run({ hub: hubStub, server: s, drainTimeoutMs: 150 });
    await running.started;
    const response = fetch(urlOf(s)).then(
      () => 'answered',
      () => 'cut',
    );
    await sleep(50);
    const from = Date.now();
    await running.shutdown('SIGTERM');
    expect(closedAt - from).to.be.within(100, 1000);
    expect(await response).to.equal('cut');
    expect(exits).to.deep.equal([0]);
  });

  describe('a key revoked while running', () => {
    async function revoke(exitOnAuthFailed: boolean): Promise<HubConnector> {
      const hubLink = link();
      await run({ hub: hubLink, server: await server(), exitOnAuthFailed }).started;
      hub.key = 'rotated-key-0123456789';
      hub.socket().disconnect(true);
      await waitFor(() => lines.some((l) => l.event === 'unauthorized'), 3000, 'the refusal');
      await sleep(50);
      return hubLink;
    }

    it('exitOnAuthFailed: one fatal line, exit 1', async () => {
      await revoke(true);
      expect(exits).to.deep.equal([1]);
      expect(logged('the hub no longer accepts CONNECTOR_KEY; exiting')).to.deep.include({ level: 60, event: 'unauthorized' });
    });

    it('without it: stays up, unregistered', async () => {
      const hubLink = await revoke(false);
      expect(exits).to.deep.equal([]);
      expect(hubLink.registered).to.equal(false);
    });
  });
});
