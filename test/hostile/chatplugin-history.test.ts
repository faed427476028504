/**
 * Issue 13, item 7, on the chat plugin: chatplugin.authenticate with a resume token answered with
 * the latest 100 chat messages whatever their size (up to 100 × 256 KB in one HTTP answer, read
 * whole from the database), as often as the per-address limit allowed. It now carries at most
 * JOIN_HISTORY_MAX_BYTES of messages, reads no further than that, and says when older ones exist.
 */
import { expect } from 'chai';
import { closeAllSockets } from '../support/clients.js';
import { authenticate, chatPluginChannel, newVisitor, pluginSend, resumeTokenOf } from '../support/chatplugin.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';

const HISTORY_BYTES = 256 * 1024;
/** About 60 KB of JSON per message: 20,000 characters of three UTF-8 bytes each. */
const bulky = (i: number): string => `${'€'.repeat(19_990)} #${i}`;

describe('hostile: chat plugin resume of a conversation of large messages (issue 13, item 7)', function () {
  this.timeout(90_000);
  let store: TestStore;
  let hub: RunningHub;

  before(async function () {
    this.timeout(120_000);
    store = await startTestStore();
    hub = await startHub(store.uri('hostile_chatplugin_history'), {
      JOIN_HISTORY_MAX_BYTES: String(HISTORY_BYTES),
      RATE_LIMIT_SOCKET_EVENTS_PER_SECOND: '1000',
    });
  });
  afterEach(() => closeAllSockets());
  after(async () => {
    await hub?.close();
    await store?.close();
  });

  it('answers with at most JOIN_HISTORY_MAX_BYTES of the newest messages and has_more, not 20 messages of 60 KB', async () => {
    const channelId = await chatPluginChannel(hub.url);
    const visitor = await newVisitor(hub.url, channelId);
    for (let i = 0; i < 20; i += 1) {
      const sent = await pluginSend(hub.url, visitor.token, bulky(i));
      expect(sent.status, JSON.stringify(sent.body).slice(0, 200)).to.equal(200);
    }
    const resume = await resumeTokenOf(hub.url, visitor.token);
    const back = await authenticate(hub.url, { resume_token: resume });
    expect(back.status).to.equal(200);
    const texts = back.body.messages.map((m) => String(m.content.text));
    expect(Buffer.byteLength(JSON.stringify(back.body.messages))).to.be.at.most(HISTORY_BYTES);
    expect(texts.length).to.be.within(1, 5);
    // The newest, in order, and the answer says older ones exist.
    expect(texts[texts.length - 1]).to.match(/#19$/);
    texts.forEach((t, i) => expect(t).to.match(new RegExp(`#${20 - texts.length + i}$`)));
    expect(back.body.has_more).to.equal(true);
  });

  it('a short conversation comes back whole, with has_more false', async () => {
    const channelId = await chatPluginChannel(hub.url);
    const visitor = await newVisitor(hub.url, channelId);
    for (const text of ['one', 'two', 'three']) expect((await pluginSend(hub.url, visitor.token, text)).status).to.equal(200);
    const back = await authenticate(hub.url, { resume_token: await resumeTokenOf(hub.url, visitor.token) });
    expect(back.body.messages.map((m) => m.content.text)).to.deep.equal(['one', 'two', 'three']);
    expect(back.body.has_more).to.equal(false);
  });
});
