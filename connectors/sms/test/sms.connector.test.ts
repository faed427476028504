import { RetryableError } from '@chat-hub/connector-sdk';
import type { HubMessage } from '@chat-hub/connector-sdk/protocol';
import { expect } from 'chai';
import pino from 'pino';
import { createOutboundHandler } from '../src/sms.connector.js';
import { SmsSendError, type OutboundSms, type SendOutcome } from '../src/sms.provider.js';

const message = (extra: Partial<HubMessage> = {}): HubMessage => ({
  id: 'msg-1',
  conversationId: 'conv-1',
  type: 'ChatMessage',
  from: { id: 'agent-1', name: 'Agent', role: 'agent' },
  to: [],
  text: 'Your order shipped',
  refId: '+4915112345678',
  tag: '',
  channel: 'sms',
  state: 'PENDING',
  metadata: {},
  timestamp: '2026-01-01T00:00:00.000Z',
  ...extra,
});

/** A sender double answering with `answer` and recording what it was asked to send. */
function sender(answer: () => Promise<SendOutcome>): { sent: OutboundSms[]; send: (sms: OutboundSms) => Promise<SendOutcome> } {
  const sent: OutboundSms[] = [];
  return { sent, send: (sms) => (sent.push(sms), answer()) };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const silent = pino({ level: 'silent' });

describe('sms connector: outbound handler (unit)', () => {
  it("sends a chat message to the customer's number and returns the provider's outcome", async () => {
    const s = sender(async () => ({ externalId: 'SM1', state: 'PENDING' }));
    const attachments = [{ type: 'image/png', name: 'a.png', contentUrl: 'https://x/a.png' }];
    expect(await createOutboundHandler(s, silent)(message({ attachments }))).to.deep.equal({ externalId: 'SM1', state: 'PENDING' });
    expect(s.sent).to.deep.equal([{ messageId: 'msg-1', to: '+4915112345678', text: 'Your order shipped', attachments }]);
  });

  it('turns a retryable provider failure into RetryableError and a refusal into a permanent error', async () => {
    const retry = await rejection(createOutboundHandler(sender(async () => Promise.reject(new SmsSendError('provider answered 503', { retryable: true }))), silent)(message()));
    expect(retry).to.be.instanceOf(RetryableError);
    expect((retry as Error).message).to.equal('provider answered 503');
    const refused = await rejection(createOutboundHandler(sender(async () => Promise.reject(new SmsSendError('provider answered 400 (error 21211): bad To', { retryable: false }))), silent)(message()));
    expect(refused).to.not.be.instanceOf(RetryableError);
    expect((refused as Error).message).to.equal('provider answered 400 (error 21211): bad To');
  });

  it('lets the hub retry an unexpected crash instead of failing the message', async () => {
    const crash = await rejection(createOutboundHandler(sender(async () => Promise.reject(new TypeError('boom'))), silent)(message()));
    expect(crash).to.be.instanceOf(RetryableError);
  });

  it('sends no SMS for an activity or a whisper', async () => {
    const s = sender(async () => ({ externalId: 'SMx' }));
    const handler = createOutboundHandler(s, silent);
    expect(await handler(message({ type: 'ActivityMessage', activityType: 'typing', text: undefined }))).to.deep.equal({});
    const whisper = await rejection(handler(message({ tag: 'whisper' })));
    expect(whisper).to.not.be.instanceOf(RetryableError);
    expect(s.sent).to.have.length(0);
  });
});
