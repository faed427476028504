import { expect } from 'chai';
import { HubError } from '../../src/contracts/errors.js';
import { describeActivity, toTranscriptEntry, transcriptLocale } from '../../src/domain/transcript-entries.js';
import { composeTranscriptMail, headerSafe } from '../../src/domain/transcript-mail.js';
import type { Conversation } from '../../src/domain/types.js';
import { WorkGate } from '../../src/domain/work-gate.js';
import { storedMessage } from './fixtures.js';

const conversation: Conversation = {
  id: '3f2c9a4e-7b1d-4c6e-9a8f-2d5e6b7c8d9e',
  channel: 'web',
  status: 'ended',
  subject: 'billing\r\nX-Injected: yes',
  customer: { id: 'c1', firstName: 'Eve\r\nBcc: x@evil.example', lastName: '<b>Smith</b>', email: 'eve@example.org', custom: {} },
  participants: [],
  joined: [],
  requestId: 'r',
  openKey: 'k',
  createdAt: new Date('2026-11-20T10:00:00Z'),
  endedAt: new Date('2026-11-20T10:05:00Z'),
};

describe('Transcript domain', () => {
  it('describes activities as quiet lines and leaves typing out', () => {
    const base = storedMessage('c', { type: 'ActivityMessage', from: { id: 'a1', name: 'Sam', role: 'agent' } });
    expect(describeActivity({ ...base, activityType: 'participantJoined' })).to.equal('Sam joined the conversation');
    expect(describeActivity({ ...base, activityType: 'participantLeft' })).to.equal('Sam left the conversation');
    expect(describeActivity({ ...base, activityType: 'endOfConversation', info: { endedBy: { id: 'c', name: 'Jane' } } })).to.equal('Conversation ended by Jane');
    expect(describeActivity({ ...base, activityType: 'greetings', info: { text: 'Hello Jane' } })).to.equal('Hello Jane');
    expect(describeActivity({ ...base, activityType: 'participantAdded', info: { participant: { id: 'b', name: 'Bo' } } })).to.equal('Bo was added to the conversation');
    expect(toTranscriptEntry({ ...base, activityType: 'typing' })).to.equal(undefined);
  });

  it('turns a chat message into its sender, role, time, text and attachments', () => {
    const m = storedMessage('c', {
      text: 'Hi',
      from: { id: 'c1', name: 'Jane', role: 'customer' },
      attachments: [{ type: 'image/png', name: 'a.png', contentUrl: 'https://x.example/a.png' }],
    });
    expect(toTranscriptEntry(m)).to.deep.equal({
      kind: 'message',
      sender: 'Jane',
      role: 'customer',
      at: m.timestamp,
      text: 'Hi',
      attachments: [{ name: 'a.png', url: 'https://x.example/a.png' }],
    });
  });

  it('formats for the customer language when the runtime knows it', () => {
    expect(transcriptLocale('de-AT')).to.equal('de-AT');
    expect(transcriptLocale(undefined)).to.equal('en');
    expect(transcriptLocale('xx-notalocale-zzzz')).to.be.a('string');
  });

  it('keeps CR/LF out of header values and escapes the HTML body', () => {
    expect(headerSafe('a\r\nBcc: b\u0000c\u2028d')).to.equal('a Bcc: b c d');
    const mail = composeTranscriptMail({ conversation, to: 'eve@example.org', toCustomer: true, pdf: Buffer.from('%PDF'), locale: 'en', timeZone: 'UTC' });
    expect(mail.subject).to.equal('Transcript of your conversation about billing X-Injected: yes');
    expect(mail.to).to.deep.equal({ name: 'Eve Bcc: x@evil.example <b>Smith</b>', address: 'eve@example.org' });
    expect(mail.html).to.contain('&#60;b&#62;Smith&#60;/b&#62;');
    expect(mail.html).not.to.contain('<b>Smith');
    expect(mail.text).to.contain(conversation.id);
    expect(mail.attachment).to.include({ filename: `transcript-${conversation.id}.pdf`, contentType: 'application/pdf' });
  });

  it('addresses a mail an agent asked for without the customer name', () => {
    const mail = composeTranscriptMail({ conversation, to: 'archive@example.org', toCustomer: false, pdf: Buffer.alloc(1), locale: 'en', timeZone: 'UTC' });
    expect(mail.to).to.deep.equal({ name: '', address: 'archive@example.org' });
    expect(mail.text.startsWith('Hello,')).to.equal(true);
  });

  it('runs at most N jobs at once, queues a bounded number, refuses the rest', async () => {
    const gate = new WorkGate(2, 1, 'transcripts');
    const release: Array<() => void> = [];
    const job = (): Promise<void> => new Promise((resolve) => release.push(resolve));
    const running = [gate.run(job), gate.run(job), gate.run(job)];
    await new Promise((r) => setImmediate(r));
    expect(gate.load).to.deep.equal({ running: 2, waiting: 1 });
    try {
      await gate.run(job);
      expect.fail('a fourth job was accepted');
    } catch (err) {
      expect(err).to.be.instanceOf(HubError);
      expect((err as HubError).code).to.equal('UNAVAILABLE');
    }
    release.shift()?.();
    await new Promise((r) => setImmediate(r));
    expect(gate.load).to.deep.equal({ running: 2, waiting: 0 });
    while (release.length > 0) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(running);
    expect(gate.load).to.deep.equal({ running: 0, waiting: 0 });
  });
});
