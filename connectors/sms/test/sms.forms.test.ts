import { expect } from 'chai';
import { inboundFromForm, mediaName, statusFromForm } from '../src/sms.forms.js';

describe('sms connector: webhook forms (unit)', () => {
  it('maps an inbound SMS to the hub payload', () => {
    const r = inboundFromForm({
      MessageSid: 'SM0001',
      AccountSid: 'AC1',
      From: '+4915112345678',
      To: '+4930123456',
      Body: 'Hallo, ich brauche Hilfe',
      NumMedia: '0',
    });
    expect(r).to.deep.equal({
      ok: true,
      value: { refId: '+4915112345678', text: 'Hallo, ich brauche Hilfe', attachments: [], clientMessageId: 'SM0001', metadata: { to: '+4930123456' } },
    });
  });

  it('maps MMS media to attachments named after their content type', () => {
    const r = inboundFromForm({
      MessageSid: 'MM0002',
      From: '+1555',
      To: '+1666',
      Body: '',
      NumMedia: '2',
      MediaUrl0: 'https://api.twilio.com/media/ME1',
      MediaContentType0: 'image/jpeg',
      MediaUrl1: 'https://api.twilio.com/media/ME2',
      MediaContentType1: 'application/pdf',
    });
    expect(r.ok && r.value.attachments).to.deep.equal([
      { type: 'image/jpeg', name: 'image-1.jpg', contentUrl: 'https://api.twilio.com/media/ME1' },
      { type: 'application/pdf', name: 'application-2.pdf', contentUrl: 'https://api.twilio.com/media/ME2' },
    ]);
    expect(r.ok && r.value.text).to.equal('');
  });

  it('names unknown content types from their subtype', () => {
    expect(mediaName('image/x-icon', 0)).to.equal('image-1.icon');
    expect(mediaName('text/vcard; charset=utf-8', 2)).to.equal('text-3.vcf');
    expect(mediaName('', 0)).to.equal('file-1');
  });

  it('refuses an inbound form without MessageSid or From, or with missing media', () => {
    expect(inboundFromForm({ From: '+1', Body: 'x' }).ok).to.equal(false);
    expect(inboundFromForm({ MessageSid: 'SM1', Body: 'x' }).ok).to.equal(false);
    const missing = inboundFromForm({ MessageSid: 'SM1', From: '+1', NumMedia: '1' });
    expect(missing).to.deep.equal({ ok: false, error: 'MediaUrl0: missing although NumMedia is 1' });
  });

  it('settles delivered as DELIVERED and undelivered/failed as FAILED with the error code', () => {
    expect(statusFromForm('m1', { MessageSid: 'SM9', MessageStatus: 'delivered' })).to.deep.equal({
      ok: true,
      value: { kind: 'report', report: { messageId: 'm1', state: 'DELIVERED', externalId: 'SM9' } },
    });
    expect(statusFromForm('m1', { MessageSid: 'SM9', MessageStatus: 'undelivered', ErrorCode: '30003' })).to.deep.equal({
      ok: true,
      value: { kind: 'report', report: { messageId: 'm1', state: 'FAILED', externalId: 'SM9', error: { message: 'provider status undelivered (error 30003)' } } },
    });
    const failed = statusFromForm('m2', { MessageSid: 'SM8', MessageStatus: 'failed', ErrorCode: '30008', ErrorMessage: 'Unknown error' });
    expect(failed.ok && failed.value.kind === 'report' && failed.value.report.error?.message).to.equal('provider status failed (error 30008): Unknown error');
  });

  it('ignores statuses that are not final, sent included', () => {
    for (const s of ['queued', 'accepted', 'sending', 'sent', 'scheduled']) {
      expect(statusFromForm('m1', { MessageSid: 'SM9', MessageStatus: s })).to.deep.equal({ ok: true, value: { kind: 'ignore', status: s } });
    }
  });

  it('refuses a status form without MessageStatus', () => {
    expect(statusFromForm('m1', { MessageSid: 'SM9' }).ok).to.equal(false);
  });
});
