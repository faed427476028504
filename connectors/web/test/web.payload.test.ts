import { expect } from 'chai';
import { toCallbackPayload } from '../src/web.payload.js';
import { hubMessage } from './fixtures.js';

describe('web callback payload (unit)', () => {
  it('maps a hub message to {id, conversationId, userId, text, attachments, from, timestamp}', () => {
    const m = hubMessage();
    expect(toCallbackPayload(m)).to.deep.equal({
      id: m.id,
      conversationId: m.conversationId,
      userId: 'user-42',
      text: 'Your order ships today',
      attachments: m.attachments,
      from: { name: 'Alex', role: 'agent' },
      timestamp: '2026-11-22T05:00:00.000Z',
    });
  });

  it('fills absent text and attachments, and omits an absent role', () => {
    const m = hubMessage({ from: { id: 'sys', name: 'Campaigns' } });
    delete m.text;
    delete m.attachments;
    const payload = toCallbackPayload(m);
    expect(payload.text).to.equal('');
    expect(payload.attachments).to.deep.equal([]);
    expect(payload.from).to.deep.equal({ name: 'Campaigns' });
    expect(JSON.stringify(payload)).not.to.include('never leaves the hub');
  });
});
