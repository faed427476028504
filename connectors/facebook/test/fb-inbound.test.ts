import { expect } from 'chai';
import { fbWebhookBodySchema } from '../src/fb-events.schema.js';
import { extractInbound, mimeFor } from '../src/fb-inbound.js';
import { messageEvent, PAGE_ID, pageBody } from './fixtures.js';

const parse = (body: unknown) => fbWebhookBodySchema.parse(body);

describe('Messenger webhook events → hub messages (unit)', () => {
  it('turns a text message into sendInbound input: PSID as refId, mid as clientMessageId, the page id in metadata', () => {
    const batch = extractInbound(parse(pageBody(messageEvent('PSID-1', { mid: 'm_1', text: 'hello' }))));
    expect(batch.messages).to.deep.equal([
      { refId: 'PSID-1', text: 'hello', attachments: [], clientMessageId: 'm_1', metadata: { pageId: PAGE_ID } },
    ]);
    expect(batch.skipped).to.deep.equal([]);
  });

  it('maps attachments: name from type and index, contentUrl from payload.url, MIME from type (refined by extension)', () => {
    const body = pageBody(
      messageEvent('PSID-2', {
        mid: 'm_2',
        attachments: [
          { type: 'image', payload: { url: 'https://cdn.example/p/photo.png?x=1' } },
          { type: 'video', payload: { url: 'https://cdn.example/v/clip' } },
          { type: 'audio', payload: { url: 'https://cdn.example/a/voice.mp4' } },
          { type: 'file', payload: { url: 'https://cdn.example/f/report.pdf' } },
          { type: 'fallback', payload: null, title: 'A link', url: 'https://example.org/article' },
          { type: 'template', payload: { template_type: 'generic' } },
        ],
      }),
    );
    const [m] = extractInbound(parse(body)).messages;
    expect(m?.text).to.equal(undefined);
    expect(m?.attachments).to.deep.equal([
      { type: 'image/png', name: 'image-1.png', contentUrl: 'https://cdn.example/p/photo.png?x=1' },
      { type: 'video/mp4', name: 'video-2', contentUrl: 'https://cdn.example/v/clip' },
      { type: 'audio/mp4', name: 'audio-3.mp4', contentUrl: 'https://cdn.example/a/voice.mp4' },
      { type: 'application/pdf', name: 'file-4.pdf', contentUrl: 'https://cdn.example/f/report.pdf' },
      { type: 'text/html', name: 'fallback-5', contentUrl: 'https://example.org/article' },
    ]);
  });

  it('skips echoes, deliveries, reads, postbacks and messages with nothing to relay', () => {
    const body = {
      object: 'page',
      entry: [
        {
          id: PAGE_ID,
          time: 1,
          messaging: [
            { sender: { id: PAGE_ID }, recipient: { id: 'PSID-3' }, timestamp: 1, message: { mid: 'm_echo', text: 'sent by the page', is_echo: true, app_id: 42 } },
            { sender: { id: 'PSID-3' }, recipient: { id: PAGE_ID }, timestamp: 2, delivery: { mids: ['m_x'], watermark: 1 } },
            { sender: { id: 'PSID-3' }, recipient: { id: PAGE_ID }, timestamp: 3, read: { watermark: 1 } },
            { sender: { id: 'PSID-3' }, recipient: { id: PAGE_ID }, timestamp: 4, postback: { title: 'Start', payload: 'GET_STARTED' } },
            { sender: { id: 'PSID-3' }, recipient: { id: PAGE_ID }, timestamp: 5, message: { mid: 'm_loc', attachments: [{ type: 'location', payload: { coordinates: { lat: 1, long: 2 } } }] } },
            { sender: { id: 'PSID-3' }, recipient: { id: PAGE_ID }, timestamp: 6, message: { mid: 'm_real', text: 'real one' } },
          ],
        },
      ],
    };
    const batch = extractInbound(parse(body));
    expect(batch.messages.map((m) => m.clientMessageId)).to.deep.equal(['m_real']);
    expect(batch.skipped.map((s) => s.kind)).to.deep.equal(['echo', 'delivery', 'read', 'postback', 'empty']);
  });

  it('keeps arrival order across entries and senders, and ignores entries without messaging', () => {
    const body = {
      object: 'page',
      entry: [
        { id: PAGE_ID, time: 1, messaging: [messageEvent('A', { mid: 'a1', text: '1' }), messageEvent('B', { mid: 'b1', text: '2' })] },
        { id: PAGE_ID, time: 2, standby: [{ sender: { id: 'C' } }] },
        { id: PAGE_ID, time: 3, messaging: [messageEvent('A', { mid: 'a2', text: '3' })] },
      ],
    };
    expect(extractInbound(parse(body)).messages.map((m) => m.clientMessageId)).to.deep.equal(['a1', 'b1', 'a2']);
  });

  it('accepts unknown fields Meta may add, refuses a body without the fields it needs', () => {
    const withExtras = pageBody(messageEvent('P', { mid: 'm', text: 't', quick_reply: { payload: 'X' }, reply_to: { mid: 'm0' }, nlp: {} }));
    expect(fbWebhookBodySchema.safeParse(withExtras).success).to.equal(true);
    expect(fbWebhookBodySchema.safeParse({ object: 'page' }).success).to.equal(false, 'no entry');
    expect(fbWebhookBodySchema.safeParse(pageBody({ recipient: { id: PAGE_ID }, message: { mid: 'm' } })).success).to.equal(false, 'no sender');
    expect(fbWebhookBodySchema.safeParse(pageBody(messageEvent('P', { text: 'no mid' }))).success).to.equal(false, 'no mid');
    expect(fbWebhookBodySchema.safeParse(pageBody(messageEvent('P', { mid: 'm', text: 42 }))).success).to.equal(false, 'text not a string');
  });

  it('mimeFor falls back to a type per kind and never lets an extension contradict the kind', () => {
    expect(mimeFor('image', 'https://x/y')).to.equal('image/jpeg');
    expect(mimeFor('image', 'https://x/y.gif')).to.equal('image/gif');
    expect(mimeFor('image', 'https://x/y.pdf')).to.equal('image/jpeg');
    expect(mimeFor('file', 'https://x/y.docx')).to.match(/wordprocessingml/);
    expect(mimeFor('file', 'https://x/y')).to.equal('application/octet-stream');
    expect(mimeFor('weird', 'https://x/y')).to.equal('application/octet-stream');
  });
});
