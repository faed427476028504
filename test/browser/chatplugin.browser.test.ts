import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { chatPluginChannel, newVisitor } from '../support/chatplugin.js';
import { closeAllSockets, emitAck, joinedAgent, nextEvent, pending } from '../support/clients.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { conversationsView } from '../support/routing.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { launchChromium, openPage, type OpenedPage } from './chromium.js';
import { startPageServer, type PageServer } from './page-server.js';

/** What an agent's socket receives as `messageArrived` (the fields checked here). */
interface Arrived {
  conversationId: string;
  text: string;
  from: { id: string; role: string };
}

/** The socket.io browser client as the page's script tag defines it. */
interface BrowserIo {
  io(url: string, options: Record<string, unknown>): { on(event: string, listener: (err?: { message?: string }) => void): void; close(): void };
}

const AGENT = 'agent-browser';

/** Waits until the widget has authenticated and its socket is up, or has failed; answers which. */
async function widgetSettled(page: Page): Promise<'ready' | 'error'> {
  await page.locator('#chat[data-state="ready"][data-socket="connected"], #chat[data-state="error"]').waitFor();
  return (await page.locator('#chat').getAttribute('data-state')) === 'error' ? 'error' : 'ready';
}

/** The widget's error text, to fail with. */
async function widgetError(page: Page): Promise<Error> {
  return new Error(`the widget failed: ${await page.locator('#error').textContent()}`);
}

async function widgetReady(page: Page): Promise<void> {
  if ((await widgetSettled(page)) === 'error') throw await widgetError(page);
}

/** Types `text` into the widget and submits its form, as a visitor would. */
async function typeAndSend(page: Page, text: string): Promise<void> {
  await page.locator('#text').pressSequentially(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** Waits until the widget lists a message reading exactly `text` (failing early if the widget shows an error). */
async function shown(page: Page, text: string): Promise<{ fromContact: string | null }> {
  const item = page.locator('#messages').getByText(text, { exact: true });
  await item.or(page.locator('#chat[data-state="error"]')).first().waitFor();
  if (!(await item.isVisible())) throw await widgetError(page);
  return { fromContact: await item.getAttribute('data-from-contact') };
}

const listed = (page: Page): Promise<string[]> => page.locator('#messages li').allTextContents();

async function chatPluginConversations(hubUrl: string): Promise<number> {
  return (await conversationsView(hubUrl, '?channel=chat_plugin&page_size=100')).length;
}

describe('Chat plugin widget in Chromium (§6, real browser)', function () {
  let store: TestStore | undefined;
  let hub: RunningHub;
  let site: PageServer | undefined;
  let stranger: PageServer | undefined;
  let browser: Browser | undefined;
  let channelId: string;

  before(async function () {
    this.timeout(120_000);
    // First, so a machine without Chromium fails at once and says what to install.
    browser = await launchChromium();
    store = await startTestStore();
    site = await startPageServer();
    stranger = await startPageServer();
    hub = await startHub(store.uri('chatplugin_browser'), { ALLOWED_ORIGINS: site.origin });
    channelId = await chatPluginChannel(hub.url);
  });

  afterEach(() => closeAllSockets());

  after(async () => {
    await browser?.close();
    await site?.close();
    await stranger?.close();
    await hub?.close();
    await store?.close();
  });

  /** A fresh browser profile (its own localStorage) whose page errors fail the test. */
  const openContext = (): Promise<OpenedPage> => openPage(browser);

  it('a visitor writes from a page on another origin, an agent answers live, whispers stay with the staff, and a reload resumes the conversation with its history', async () => {
    if (!site) throw new Error('no page server');
    const { context, page, pageErrors } = await openContext();
    try {
      await page.goto(site.widgetUrl(hub.url, channelId));
      await widgetReady(page);
      const conversationId = await page.locator('#chat').getAttribute('data-conversation-id');
      if (!conversationId) throw new Error('the widget names no conversation');
      expect(conversationId).to.match(/^[0-9a-f-]{36}$/);
      expect(await listed(page), 'a new visitor has no history').to.deep.equal([]);

      const { socket: agent } = await joinedAgent(hub.url, conversationId, AGENT);
      const arrived = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.text === 'Hello from Chromium'));
      await typeAndSend(page, 'Hello from Chromium');
      expect((await shown(page, 'Hello from Chromium')).fromContact).to.equal('true');
      const hello = await arrived;
      expect(hello.conversationId).to.equal(conversationId);
      expect(hello.from.role).to.equal('customer');

      const say = (text: string, tag: '' | 'whisper' = ''): Promise<unknown> =>
        emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: AGENT, name: 'Agent Browser' }, text, tag });
      expect(await say('Hi from the agent')).to.deep.include({ ok: true });
      expect((await shown(page, 'Hi from the agent')).fromContact).to.equal('false');

      // A whisper, then a message after it: /ws.chatplugin delivers in order, so once the second
      // is on the page the whisper would be there too, had it been sent to the visitor.
      expect(await say('Internal: frequent buyer', 'whisper')).to.deep.include({ ok: true });
      expect(await say('Anything else?')).to.deep.include({ ok: true });
      await shown(page, 'Anything else?');
      expect(await listed(page)).to.deep.equal(['Hello from Chromium', 'Hi from the agent', 'Anything else?']);

      // The reload authenticates with the resume token from localStorage: same conversation, its history.
      await page.reload();
      await widgetReady(page);
      expect(await page.locator('#chat').getAttribute('data-conversation-id')).to.equal(conversationId);
      expect(await listed(page)).to.deep.equal(['Hello from Chromium', 'Hi from the agent', 'Anything else?']);
      expect((await shown(page, 'Hello from Chromium')).fromContact).to.equal('true');
      expect((await shown(page, 'Hi from the agent')).fromContact).to.equal('false');

      const again = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.text === 'Back again'));
      await typeAndSend(page, 'Back again');
      await shown(page, 'Back again');
      expect((await again).conversationId, 'the send after the reload lands in the same conversation').to.equal(conversationId);
      expect(await listed(page)).to.deep.equal(['Hello from Chromium', 'Hi from the agent', 'Anything else?', 'Back again']);
      expect(await chatPluginConversations(hub.url), 'the reload opened no new conversation').to.equal(1);
      expect(await page.locator('#error').isHidden()).to.equal(true);
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });

  it('a page on an origin not in ALLOWED_ORIGINS can neither call the API (CORS) nor open /ws.chatplugin, and creates nothing', async () => {
    if (!stranger) throw new Error('no page server');
    const before = await chatPluginConversations(hub.url);
    const { context, page, pageErrors } = await openContext();
    try {
      await page.goto(stranger.widgetUrl(hub.url, channelId));
      expect(await widgetSettled(page), 'the widget must not get going').to.equal('error');
      // The preflight is refused (403, no Access-Control-Allow-Origin), so fetch rejects.
      expect(await page.locator('#error').textContent()).to.equal('start: Failed to fetch');
      expect(await page.locator('#chat').getAttribute('data-conversation-id')).to.equal('');
      expect(await chatPluginConversations(hub.url), 'no conversation was opened').to.equal(before);

      // Even with a valid token (obtained server-side), the Socket.IO handshake checks the origin.
      const visitor = await newVisitor(hub.url, channelId);
      const outcome = await page.evaluate(
        ({ hubUrl, token }) =>
          new Promise<string>((resolve) => {
            const socket = (globalThis as unknown as BrowserIo).io(`${hubUrl}/ws.chatplugin`, { auth: { token }, transports: ['websocket'], reconnection: false });
            socket.on('connect', () => {
              socket.close();
              resolve('connected');
            });
            socket.on('connect_error', (err) => {
              socket.close();
              resolve(`refused: ${err?.message ?? ''}`);
            });
          }),
        { hubUrl: hub.url, token: visitor.token },
      );
      expect(outcome).to.equal('refused: websocket error');
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });
});
