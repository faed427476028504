import { expect } from 'chai';
import pino from 'pino';
import { OutboundDispatcher } from '../src/outbound-dispatcher.js';
import { ackForError, ackForResult } from '../src/delivery.js';
import { RetryableError } from '../src/errors.js';
import type { DeliveryAck, HubMessage } from '../src/protocol.js';
import { sleep } from './fake-hub.js';

const log = pino({ level: 'silent' });

function message(id: string): HubMessage {
  return {
    id,
    conversationId: 'c',
    type: 'ChatMessage',
    from: { id: 'a', name: 'A', role: 'agent' },
    to: [],
    text: 'x',
    refId: 'r',
    tag: '',
    channel: 'web',
    state: 'PENDING',
    metadata: {},
    timestamp: new Date().toISOString(),
  };
}

describe('delivery ack mapping (unit)', () => {
  it('maps results', () => {
    expect(ackForResult(undefined)).to.deep.equal({ ok: true });
    expect(ackForResult({})).to.deep.equal({ ok: true });
    expect(ackForResult({ externalId: 'x' })).to.deep.equal({ ok: true, externalId: 'x' });
    expect(ackForResult({ externalId: 'x', state: 'PENDING' })).to.deep.equal({ ok: true, externalId: 'x', state: 'PENDING' });
  });

  it('maps errors', () => {
    expect(ackForError(new RetryableError('503'))).to.deep.equal({ ok: false, error: { message: '503', retryable: true } });
    expect(ackForError(new Error('bad number'))).to.deep.equal({ ok: false, error: { message: 'bad number' } });
    expect(ackForError('plain')).to.deep.equal({ ok: false, error: { message: 'plain' } });
  });
});

describe('OutboundDispatcher (unit)', () => {
  it('acks exactly once even when a timed-out handler settles later', async () => {
    const d = new OutboundDispatcher(log, 50);
    d.setHandler(() => sleep(150).then(() => ({ externalId: 'late' })));
    const acks: DeliveryAck[] = [];
    await d.handle(message('m1'), (a: DeliveryAck) => acks.push(a));
    expect(acks).to.have.length(1);
    expect(acks[0]).to.deep.include({ ok: false });
    await d.drain(1000);
    expect(acks).to.have.length(1);
  });

  it('runs the handler once when the hub re-sends a message still being delivered', async () => {
    const d = new OutboundDispatcher(log, 1000);
    let calls = 0;
    d.setHandler(async () => {
      calls += 1;
      await sleep(100);
      return { externalId: 'e1' };
    });
    const acks: DeliveryAck[] = [];
    await Promise.all([d.handle(message('m2'), (a: DeliveryAck) => acks.push(a)), d.handle(message('m2'), (a: DeliveryAck) => acks.push(a))]);
    expect(calls).to.equal(1);
    expect(acks).to.deep.equal([
      { ok: true, externalId: 'e1' },
      { ok: true, externalId: 'e1' },
    ]);
  });

  it('refuses a message without id permanently and survives a missing ack callback', async () => {
    const d = new OutboundDispatcher(log, 1000);
    d.setHandler(() => undefined);
    const acks: DeliveryAck[] = [];
    await d.handle({ ...message('x'), id: undefined as unknown as string }, (a: DeliveryAck) => acks.push(a));
    expect(acks).to.deep.equal([{ ok: false, error: { message: 'messageArrived without a message id' } }]);
    await d.handle(message('m3'), undefined);
  });

  it('drain() reports whether everything finished in time', async () => {
    const d = new OutboundDispatcher(log, 5000);
    d.setHandler(() => sleep(200));
    void d.handle(message('m4'), () => undefined);
    expect(await d.drain(50)).to.equal(false);
    expect(await d.drain(1000)).to.equal(true);
    expect(d.running).to.equal(0);
  });
});
