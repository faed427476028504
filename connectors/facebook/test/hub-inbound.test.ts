import { HubRequestError } from '@chat-hub/connector-sdk';
import { expect } from 'chai';
import type { FbInboundMessage } from '../src/fb-inbound.js';
import { hubInbound } from '../src/hub-inbound.js';

const message: FbInboundMessage = { refId: 'PSID', text: 'hi', attachments: [], clientMessageId: 'm_1', metadata: { pageId: 'P' } };

describe('hubInbound port (unit)', () => {
  it('relays the message unchanged and reports it stored', async () => {
    const sent: unknown[] = [];
    const deliver = hubInbound({
      sendInbound: async (input) => {
        sent.push(input);
        return { conversationId: 'c', message: {} as never };
      },
    });
    expect(await deliver(message)).to.equal('stored');
    expect(sent).to.deep.equal([message]);
  });

  it('reports a message the hub refuses as invalid as rejected, and rethrows everything transient', async () => {
    const failing = (err: Error) => hubInbound({ sendInbound: async () => Promise.reject(err) });
    expect(await failing(new HubRequestError('BAD_REQUEST', 'text: too long'))(message)).to.equal('rejected');
    expect(await failing(new HubRequestError('PAYLOAD_TOO_LARGE', 'too big'))(message)).to.equal('rejected');
    for (const code of ['UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL', 'UNAUTHORIZED']) {
      let thrown: unknown;
      try {
        await failing(new HubRequestError(code, 'x'))(message);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, code).to.be.instanceOf(HubRequestError);
    }
  });
});
