/**
 * Issue 13, item 8 (and the under-attack bench): a customer may ask for its own transcript as
 * often as the per-caller limit allows, and each request was a whole render: reading the
 * conversation from the database and drawing it again. Twenty requests of one long transcript
 * kept both render slots and the store busy for everyone. An ended conversation's transcript does
 * not change, so the hub draws it once for all requests that arrive while it draws, and answers
 * later ones with the PDF it drew.
 */
import { expect } from 'chai';
import { closeAllSockets, emitAck, joinedCustomer } from '../support/clients.js';
import { startHub, SYSTEM_TOKEN, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('hostile: repeated transcript requests (issue 13, item 8)', function () {
  this.timeout(90_000);
  let store: TestStore;
  let hub: RunningHub;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_transcript_repeat'), {
      TRANSCRIPT_MAX_CONCURRENT: '1',
      TRANSCRIPT_MAX_QUEUED: '30',
      RATE_LIMIT_TRANSCRIPTS_PER_MINUTE: '100',
    });
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('draws a transcript once however often its customer asks, concurrently or later; every answer is the same PDF', async () => {
    const c = await joinedCustomer(hub.url);
    const cid = c.init.conversationId;
    const from = { id: c.init.participant.id, name: c.init.participant.name };
    for (let i = 0; i < 30; i += 1) {
      const ack = await emitAck(c.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, text: `question ${i}: ${'why is my invoice wrong '.repeat(20)}` });
      expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    }
    expect((await emitAck(c.socket, 'endConversation', { conversationId: cid })).ok).to.equal(true);
    const url = `${hub.url}/api/customer/transcript/${cid}/pdf`;
    const ask = async (token: string): Promise<Buffer> => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).to.equal(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const before = await (await fetch(`${hub.url}/metrics`)).text();
    // The attack: many requests at once, then more later; an agent-side request (system) too.
    const burst = await Promise.all(Array.from({ length: 12 }, () => ask(c.init.token)));
    const later = await Promise.all([ask(c.init.token), ask(SYSTEM_TOKEN)]);
    const after = await (await fetch(`${hub.url}/metrics`)).text();
    const pdfs = [...burst, ...later];
    for (const pdf of pdfs) {
      expect(pdf.subarray(0, 5).toString('latin1')).to.equal('%PDF-');
      expect(pdf.equals(pdfs[0] as Buffer)).to.equal(true);
    }
    const renders = metric(after, 'hub_transcript_renders_total', 'source="rendered"') - metric(before, 'hub_transcript_renders_total', 'source="rendered"');
    const cached = metric(after, 'hub_transcript_renders_total', 'source="cached"') - metric(before, 'hub_transcript_renders_total', 'source="cached"');
    // The burst shares the one render; the later requests get the kept PDF.
    expect(renders, 'renders for 14 requests of one transcript').to.equal(1);
    expect(cached).to.equal(2);
    expect(after).to.match(/^hub_cache_bytes\{cache="transcripts"\} [1-9]\d*$/m);
  });

  it('keeps transcripts of other time zones apart (a cached PDF is never served for another tz)', async () => {
    const c = await joinedCustomer(hub.url);
    const cid = c.init.conversationId;
    const from = { id: c.init.participant.id, name: c.init.participant.name };
    expect((await emitAck(c.socket, 'sendMessage', { conversationId: cid, type: 'ChatMessage', from, text: 'hello' })).ok).to.equal(true);
    expect((await emitAck(c.socket, 'endConversation', { conversationId: cid })).ok).to.equal(true);
    const get = async (tz: string): Promise<Buffer> => {
      const res = await fetch(`${hub.url}/api/customer/transcript/${cid}/pdf?tz=${encodeURIComponent(tz)}`, { headers: { authorization: `Bearer ${SYSTEM_TOKEN}` } });
      expect(res.status).to.equal(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const utc = await get('UTC');
    const tokyo = await get('Asia/Tokyo');
    expect(utc.equals(tokyo)).to.equal(false);
  });
});
