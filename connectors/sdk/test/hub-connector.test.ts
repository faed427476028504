import { expect } from 'chai';
import { once } from 'node:events';
import type { HubConnectorOptions } from '../src/connector.types.js';
import { HubConnector } from '../src/hub-connector.js';
import { ConnectorAuthError, HubRequestError, RetryableError } from '../src/errors.js';
import { createConnectorLogger } from '../src/logger.js';
import type { DeliveryAck, HubMessage, InboundMessagePayload } from '../src/protocol.js';
import { FakeHub, sleep, waitFor, type FakeHubSocket } from './fake-hub.js';

const KEY = 'sms-key-0123456789';

let counter = 0;
function hubMessage(extra: Partial<HubMessage> = {}): HubMessage {
  counter += 1;
  return {
    id: `m${counter}`,
    conversationId: 'c1',
    type: 'ChatMessage',
    from: { id: 'agent-1', name: 'Agent', role: 'agent' },
    to: [],
    text: `hello ${counter}`,
    refId: '+4915112345678',
    tag: '',
    channel: 'sms',
    state: 'PENDING',
    metadata: {},
    timestamp: new Date().toISOString(),
    ...extra,
  };
}

/** Sends messageArrived from the hub side and resolves with the connector's ack. */
function deliver(socket: FakeHubSocket, message: HubMessage, ms = 3000): Promise<DeliveryAck> {
  return socket.timeout(ms).emitWithAck('messageArrived', message);
}

describe('HubConnector (against a real socket.io server)', () => {
  let hub: FakeHub;
  let connectors: HubConnector[];
  let logLines: string[];

  function connector(options: Partial<HubConnectorOptions> = {}): HubConnector {
    const c = new HubConnector({
      hubUrl: hub.url,
      id: 'sms',
      name: 'SMS Connector',
      key: KEY,
      logger: createConnectorLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
      ackTimeoutMs: 2000,
      handlerTimeoutMs: 1000,
      reconnectDelayMs: 50,
      reconnectDelayMaxMs: 200,
      ...options,
    });
    connectors.push(c);
    return c;
  }

  beforeEach(async () => {
    hub = await new FakeHub({ key: KEY }).listen();
    connectors = [];
    logLines = [];
  });

  afterEach(async function () {
    // The connector's own log tells what went wrong in a failed test.
    if (this.currentTest?.state === 'failed') process.stderr.write(logLines.join(''));
    await Promise.all(connectors.map((c) => c.close()));
    await hub.close();
  });

  describe('registration', () => {
    it('sends the key in the handshake and registers {id, name, channel: id, key}', async () => {
      const c = connector();
      expect(c.registered).to.equal(false);
      await c.start();
      expect(c.registered).to.equal(true);
      expect(hub.handshakes).to.deep.equal([{ connectorKey: KEY }]);
      expect(hub.registrations).to.deep.equal([{ id: 'sms', name: 'SMS Connector', channel: 'sms', key: KEY }]);
      expect(logLines.some((l) => JSON.parse(l).event === 'registered')).to.equal(true);
    });

    it('never writes the key to its logs', async () => {
      const c = connector();
      await c.start();
      hub.socket().disconnect(true);
      await once(c, 'registered');
      await c.close();
      expect(logLines.length).to.be.greaterThan(3);
      expect(logLines.join('\n')).not.to.include(KEY);
    });

    it('rejects with ConnectorAuthError when the handshake refuses the key, and stops reconnecting', async () => {
      const c = connector({ key: 'wrong-key-0123456789' });
      const err = await c.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ConnectorAuthError);
      expect((err as Error).message).to.include('sms');
      await sleep(600); // several reconnect delays
      expect(hub.handshakes).to.have.length(1);
      expect(c.registered).to.equal(false);
    });

    it('rejects with ConnectorAuthError when registerConnector is answered UNAUTHORIZED, and stops reconnecting', async () => {
      await hub.close();
      hub = await new FakeHub({ key: KEY, checkHandshake: false }).listen();
      const c = connector({ key: 'wrong-key-0123456789' });
      let authFailed = 0;
      c.on('authFailed', () => (authFailed += 1));
      const err = await c.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ConnectorAuthError);
      await sleep(600);
      expect(hub.handshakes).to.have.length(1);
      expect(hub.registrations).to.have.length(1);
      expect(authFailed).to.equal(0); // start() reports it
    });

    it('emits authFailed and stops when the key is revoked while running', async () => {
      const c = connector();
      await c.start();
      const failed = once(c, 'authFailed');
      hub.key = 'rotated-key-0123456789';
      hub.socket().disconnect(true);
      const [err] = (await failed) as [Error];
      expect(err).to.be.instanceOf(ConnectorAuthError);
      const handshakes = hub.handshakes.length;
      await sleep(500);
      expect(hub.handshakes).to.have.length(handshakes);
      expect(c.registered).to.equal(false);
      const refused = await c.sendInbound({ refId: 'u1', text: 'x' }).catch((e: unknown) => e);
      expect((refused as HubRequestError).code).to.equal('UNAUTHORIZED');
    });

    it('registers again after the server drops the connection', async () => {
      const c = connector();
      await c.start();
      const disconnected = once(c, 'disconnected');
      const again = once(c, 'registered');
      hub.socket().disconnect(true);
      expect((await disconnected)[0]).to.equal('io server disconnect');
      const [info] = (await again) as [{ reconnect: boolean }];
      expect(info.reconnect).to.equal(true);
      expect(c.registered).to.equal(true);
      expect(hub.registrations).to.have.length(2);
      expect(logLines.map((l) => JSON.parse(l)).some((l) => l.event === 'registered' && l.reconnect === true)).to.equal(true);
    });

    it('registers again after the transport closes (socket.io reconnects by itself)', async () => {
      const c = connector();
      await c.start();
      const again = once(c, 'registered');
      hub.socket().conn.close();
      await again;
      expect(hub.registrations).to.have.length(2);
      expect(hub.registered.size).to.equal(1);
    });

    it('keeps trying while the hub is down and registers once it is up', async () => {
      const url = hub.url;
      await hub.close();
      const c = connector({ hubUrl: url });
      const started = c.start();
      await sleep(300);
      expect(c.registered).to.equal(false);
      const port = Number(new URL(url).port);
      hub = await new FakeHub({ key: KEY }).listen(port);
      await started;
      expect(c.registered).to.equal(true);
    });
  });

  describe('outbound messages', () => {
    it('acks a handler result: externalId → ok, PENDING passed through', async () => {
      const c = connector();
      const seen: HubMessage[] = [];
      c.onMessage(async (m) => {
        seen.push(m);
        return m.text === 'queued' ? { externalId: 'Q1', state: 'PENDING' } : { externalId: 'SM1' };
      });
      await c.start();
      const msg = hubMessage();
      expect(await deliver(hub.socket(), msg)).to.deep.equal({ ok: true, externalId: 'SM1' });
      expect(seen[0]).to.deep.equal(msg);
      expect(await deliver(hub.socket(), hubMessage({ text: 'queued' }))).to.deep.equal({ ok: true, externalId: 'Q1', state: 'PENDING' });
    });

    it('acks a handler that returns nothing as delivered', async () => {
      const c = connector();
      c.onMessage(() => undefined);
      await c.start();
      expect(await deliver(hub.socket(), hubMessage())).to.deep.equal({ ok: true });
    });

    it('maps RetryableError to a retryable failure and any other error to a permanent one', async () => {
      const c = connector();
      c.onMessage(async (m) => {
        if (m.text === 'retry') throw new RetryableError('provider answered 503');
        throw new Error('invalid number');
      });
      await c.start();
      expect(await deliver(hub.socket(), hubMessage({ text: 'retry' }))).to.deep.equal({
        ok: false,
        error: { message: 'provider answered 503', retryable: true },
      });
      expect(await deliver(hub.socket(), hubMessage({ text: 'fail' }))).to.deep.equal({ ok: false, error: { message: 'invalid number' } });
    });

    it('maps a synchronous throw like a rejected promise', async () => {
      const c = connector();
      c.onMessage(() => {
        throw new Error('boom');
      });
      await c.start();
      expect(await deliver(hub.socket(), hubMessage())).to.deep.equal({ ok: false, error: { message: 'boom' } });
    });

    it('answers a handler slower than handlerTimeoutMs as retryable', async () => {
      const c = connector({ handlerTimeoutMs: 150 });
      c.onMessage(() => sleep(600).then(() => ({ externalId: 'late' })));
      await c.start();
      const started = Date.now();
      const ack = await deliver(hub.socket(), hubMessage());
      expect(Date.now() - started).to.be.lessThan(550);
      expect(ack.ok).to.equal(false);
      if (!ack.ok) {
        expect(ack.error.retryable).to.equal(true);
        expect(ack.error.message).to.include('150 ms');
      }
    });

    it('runs handlers concurrently', async () => {
      const c = connector();
      let active = 0;
      let peak = 0;
      c.onMessage(async () => {
        active += 1;
        peak = Math.max(peak, active);
        await sleep(100);
        active -= 1;
      });
      await c.start();
      const socket = hub.socket();
      await Promise.all([deliver(socket, hubMessage({ conversationId: 'a' })), deliver(socket, hubMessage({ conversationId: 'b' }))]);
      expect(peak).to.equal(2);
    });

    it('answers retryable when no handler is set', async () => {
      const c = connector();
      await c.start();
      const ack = await deliver(hub.socket(), hubMessage());
      expect(ack).to.deep.equal({ ok: false, error: { message: 'connector has no message handler', retryable: true } });
    });
  });

  describe('sendInbound and reportStatus', () => {
    it('sends an InboundMessagePayload and returns the ack', async () => {
      const received: InboundMessagePayload[] = [];
      hub.connection((socket) =>
        socket.on('sendMessage', (payload, ack) => {
          received.push(payload);
          ack({ ok: true, conversationId: 'conv-1', message: hubMessage({ id: 'in-1', conversationId: 'conv-1' }) });
        }),
      );
      const c = connector();
      await c.start();
      const result = await c.sendInbound({
        refId: '+4915112345678',
        name: 'Jane',
        text: 'hello',
        attachments: [{ type: 'image/png', name: 'a.png', contentUrl: 'https://example.org/a.png' }],
        clientMessageId: 'SM42',
        metadata: { provider: 'twilio' },
        customer: { firstName: 'Jane' },
      });
      expect(result.conversationId).to.equal('conv-1');
      expect(result.message.id).to.equal('in-1');
      expect(received).to.deep.equal([
        {
          type: 'ChatMessage',
          channel: 'sms',
          refId: '+4915112345678',
          from: { name: 'Jane' },
          text: 'hello',
          attachments: [{ type: 'image/png', name: 'a.png', contentUrl: 'https://example.org/a.png' }],
          clientMessageId: 'SM42',
          metadata: { provider: 'twilio' },
          customer: { firstName: 'Jane' },
        },
      ]);
    });

    it('gives a message without a provider id a generated clientMessageId', async () => {
      const received: InboundMessagePayload[] = [];
      hub.connection((socket) =>
        socket.on('sendMessage', (payload, ack) => {
          received.push(payload);
          ack({ ok: true, conversationId: 'conv-1', message: hubMessage() });
        }),
      );
      const c = connector();
      await c.start();
      await c.sendInbound({ refId: 'u1', text: 'a' });
      await c.sendInbound({ refId: 'u1', text: 'b' });
      const ids = received.map((p) => p.clientMessageId);
      expect(ids[0]).to.be.a('string').with.length.greaterThan(10);
      expect(ids[0]).not.to.equal(ids[1]);
    });

    it('rejects HubRequestError(code, message) on an error ack', async () => {
      hub.connection((socket) =>
        socket.on('sendMessage', (_payload, ack) =>
          ack({ ok: false, error: { code: 'BAD_REQUEST', message: 'text: too long', details: [{ field: 'text', message: 'too long' }] } }),
        ),
      );
      const c = connector();
      await c.start();
      const err = await c.sendInbound({ refId: 'u1', text: 'x' }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(HubRequestError);
      expect((err as HubRequestError).code).to.equal('BAD_REQUEST');
      expect((err as HubRequestError).message).to.equal('text: too long');
      expect((err as HubRequestError).details).to.deep.equal([{ field: 'text', message: 'too long' }]);
    });

    it('sends again with the same clientMessageId when the connection drops before the ack', async () => {
      const received: Array<{ payload: InboundMessagePayload; socketId: string }> = [];
      hub.connection((socket) =>
        socket.on('sendMessage', (payload, ack) => {
          received.push({ payload, socketId: socket.id });
          // The first attempt is lost with its connection; the retry is answered.
          if (received.length === 1) socket.conn.close();
          else ack({ ok: true, conversationId: 'conv-9', message: hubMessage({ id: 'stored-once' }) });
        }),
      );
      const c = connector({ ackTimeoutMs: 3000 });
      await c.start();
      const result = await c.sendInbound({ refId: 'u1', text: 'hi', clientMessageId: 'web-1' });
      expect(result).to.deep.include({ conversationId: 'conv-9' });
      expect(received).to.have.length(2);
      expect(received.map((r) => r.payload.clientMessageId)).to.deep.equal(['web-1', 'web-1']);
      expect(received[0]!.socketId).not.to.equal(received[1]!.socketId);
      expect(hub.registrations).to.have.length(2); // re-registered before the retry
    });

    it('rejects UNAVAILABLE when the hub does not ack within ackTimeoutMs', async () => {
      hub.connection((socket) => socket.on('sendMessage', () => undefined));
      const c = connector({ ackTimeoutMs: 300 });
      await c.start();
      const started = Date.now();
      const err = await c.sendInbound({ refId: 'u1', text: 'x' }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(HubRequestError);
      expect((err as HubRequestError).code).to.equal('UNAVAILABLE');
      expect(Date.now() - started).to.be.within(250, 1000);
    });

    it('rejects UNAVAILABLE when it cannot register within ackTimeoutMs', async () => {
      const c = connector({ ackTimeoutMs: 300 });
      const err = await c.sendInbound({ refId: 'u1', text: 'x' }).catch((e: unknown) => e);
      expect((err as HubRequestError).code).to.equal('UNAVAILABLE');
      expect(hub.registrations).to.have.length(0);
    });

    it('reportStatus emits messageStatus and returns the updated message', async () => {
      const statuses: unknown[] = [];
      hub.connection((socket) =>
        socket.on('messageStatus', (payload, ack) => {
          statuses.push(payload);
          if (payload.messageId === 'unknown') ack({ ok: false, error: { code: 'NOT_FOUND', message: 'message not found' } });
          else ack({ ok: true, message: hubMessage({ id: payload.messageId, state: payload.state }) });
        }),
      );
      const c = connector();
      await c.start();
      const message = await c.reportStatus({ messageId: 'm-7', state: 'DELIVERED', externalId: 'SM7' });
      expect(message).to.deep.include({ id: 'm-7', state: 'DELIVERED' });
      expect(statuses).to.deep.equal([{ messageId: 'm-7', state: 'DELIVERED', externalId: 'SM7' }]);
      const err = await c.reportStatus({ messageId: 'unknown', state: 'FAILED', error: { message: 'x' } }).catch((e: unknown) => e);
      expect((err as HubRequestError).code).to.equal('NOT_FOUND');
    });
  });

  describe('close()', () => {
    it('waits for a running handler, sends its ack, and answers new messages retryable', async () => {
      const c = connector();
      let finished = false;
      c.onMessage(async (m) => {
        if (m.text === 'slow') {
          await sleep(300);
          finished = true;
        }
        return { externalId: m.id };
      });
      await c.start();
      const socket = hub.socket();
      const slow = hubMessage({ text: 'slow' });
      const slowAck = deliver(socket, slow);
      await sleep(50);
      const closed = c.close();
      const lateAck = await deliver(socket, hubMessage({ text: 'late' }));
      expect(lateAck).to.deep.equal({ ok: false, error: { message: 'connector shutting down', retryable: true } });
      expect(finished).to.equal(false);
      await closed;
      expect(finished).to.equal(true);
      expect(await slowAck).to.deep.equal({ ok: true, externalId: slow.id });
      await waitFor(() => hub.registered.size === 0, 2000, 'the connector to disconnect');
      expect(c.registered).to.equal(false);
    });

    it('gives up waiting after closeTimeoutMs', async () => {
      const c = connector({ closeTimeoutMs: 100, handlerTimeoutMs: 5000 });
      c.onMessage(() => sleep(2000));
      await c.start();
      void deliver(hub.socket(), hubMessage()).catch(() => undefined);
      await sleep(30);
      const started = Date.now();
      await c.close();
      expect(Date.now() - started).to.be.lessThan(500);
    });

    it('does not reconnect after close, and rejects later requests', async () => {
      const c = connector();
      await c.start();
      await c.close();
      await sleep(300);
      expect(hub.registrations).to.have.length(1);
      const err = await c.sendInbound({ refId: 'u1', text: 'x' }).catch((e: unknown) => e);
      expect((err as HubRequestError).code).to.equal('UNAVAILABLE');
    });
  });
});
