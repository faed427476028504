import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { agentToken, closeAllSockets, emitAck, joinedAgent, nextEvent, pending } from '../support/clients.js';
import { startHub, type RunningHub } from '../support/hub.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { launchChromium, openPage, type OpenedPage } from './chromium.js';

/** The widget's budget (tools/build-web.ts): gzipped, Socket.IO client included. */
const WIDGET_GZIP_BUDGET = 40 * 1024;
const AGENT = 'agent-widget';
const AGENT_NAME = `Agent ${AGENT}`;

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const manifest = (): { widget?: { file: string; gzipBytes: number } } =>
  JSON.parse(readFileSync(new URL('../../web/manifest.json', import.meta.url), 'utf8')) as { widget?: { file: string; gzipBytes: number } };

interface Arrived {
  conversationId: string;
  type: string;
  text?: string;
  activityType?: string;
}

/**
 * A customer's website on its own origin (not the hub's): one page embedding the widget with its
 * script tag, under a strict CSP without 'unsafe-inline' (the hub's origin for the script, its
 * HTTP and WebSocket for connections).
 */
async function startSite(): Promise<{ origin: string; url(hub: string, attrs?: Record<string, string>): string; close(): Promise<void> }> {
  let server: Server | undefined;
  const pages = new Map<string, { html: string; csp: string }>();
  server = createServer((req, res) => {
    const page = pages.get(new URL(req.url ?? '/', 'http://site.invalid').pathname);
    if (req.method === 'GET' && page) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': page.csp }).end(page.html);
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    origin,
    url(hub, attrs = {}) {
      const path = `/shop-${pages.size}`;
      const hubUrl = new URL(hub);
      const data = Object.entries({ hub, channel: 'web', 'confirm-end': 'false', ...attrs })
        .map(([k, v]) => ` data-${k}="${v}"`)
        .join('');
      const csp = `default-src 'none'; script-src ${hubUrl.origin}; style-src 'self'; connect-src ${hubUrl.origin} ws://${hubUrl.host}; img-src 'self'; base-uri 'none'; form-action 'none'`;
      pages.set(path, {
        csp,
        html: `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>\n<body><main><h1>Shop</h1><p>Products.</p></main>\n<script src="${hubUrl.origin}/widget.js"${data} async></script>\n</body></html>\n`,
      });
      return origin + path;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server?.close((err) => (err ? reject(err) : resolve()));
        server?.closeAllConnections();
      }),
  };
}

describe('Web chat widget in Chromium (issue 16)', function () {
  this.timeout(90_000);
  let store: TestStore | undefined;
  let hub: RunningHub;
  let site: Awaited<ReturnType<typeof startSite>> | undefined;
  let browser: Browser | undefined;

  before(async function () {
    this.timeout(120_000);
    browser = await launchChromium();
    store = await startTestStore();
    site = await startSite();
    hub = await startHub(store.uri('widget_browser'), { ALLOWED_ORIGINS: site.origin });
  });

  afterEach(() => closeAllSockets());

  after(async () => {
    await browser?.close();
    await site?.close();
    await hub?.close();
    await store?.close();
  });

  /**
   * Runs `test` in a page of a fresh profile (its own localStorage), then fails on any page error
   * or CSP refusal it caused; `prepare` runs on the profile first.
   */
  async function inPage(test: (opened: OpenedPage) => Promise<void>, prepare?: (context: BrowserContext) => Promise<unknown>): Promise<void> {
    const opened = await openPage(browser, { acceptDownloads: true });
    try {
      await prepare?.(opened.context);
      await test(opened);
      expect([...opened.pageErrors, ...opened.cspViolations]).to.deep.equal([]);
    } finally {
      await opened.context.close();
    }
  }

  /** A new page of the customer's site, embedding the widget with `attrs` as data- attributes. */
  const siteUrl = (attrs?: Record<string, string>): string => {
    if (!site) throw new Error('no site');
    return site.url(hub.url, attrs);
  };
  const panel = (page: Page): Locator => page.locator('[data-chathub-widget] section.panel');
  const items = (page: Page): Promise<string[]> => panel(page).locator('ol.log li.msg p.text').allTextContents();
  const shown = (page: Page, text: string): Promise<void> => panel(page).locator('ol.log li.msg:not([data-pending]) p.text', { hasText: text }).first().waitFor();

  async function openAndStart(page: Page, name: string, email: string): Promise<string> {
    if (await panel(page).isHidden()) await page.getByRole('button', { name: 'Open chat' }).click();
    await page.getByLabel('Your name').fill(name);
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Start chat' }).click();
    await panel(page).and(page.locator('[data-state="ready"][data-socket="connected"]')).waitFor();
    const id = await panel(page).getAttribute('data-conversation-id');
    if (!id) throw new Error('the widget names no conversation');
    return id;
  }

  async function type(page: Page, text: string): Promise<void> {
    await page.getByLabel('Message', { exact: true }).pressSequentially(text);
    await page.keyboard.press('Enter');
  }

  it('the build kept the widget, Socket.IO client included, under 40 KB gzipped', () => {
    const widget = manifest().widget;
    expect(widget, 'dist/web/manifest.json names the widget').to.not.equal(undefined);
    expect(widget?.gzipBytes).to.be.at.most(WIDGET_GZIP_BUDGET);
  });

  it('a customer on another origin (strict CSP) fills the pre-chat form, sees the queue notice, chats with an agent with typing both ways, never sees a whisper, and a reload or a second tab keeps the conversation', async () => {
    await inPage(async ({ context, page }) => {
      await page.goto(siteUrl());
      const conversationId = await openAndStart(page, 'Jane Widget', 'jane@example.org');
      expect(conversationId).to.match(/^[0-9a-f-]{36}$/);
      await panel(page).locator('li.notice[data-activity="handOff"]').waitFor();
      // Focus moved to the message box once the chat started.
      expect(await page.evaluate(() => document.querySelector('[data-chathub-widget]')?.shadowRoot?.activeElement?.id)).to.equal('chathub-message');

      const { socket: agent } = await joinedAgent(hub.url, conversationId, AGENT);
      await panel(page).locator('li.notice', { hasText: `${AGENT_NAME} joined the chat` }).waitFor();

      const arrived = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.text === 'Hello from the widget'));
      const typing = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.activityType === 'typing', 10_000));
      await type(page, 'Hello from the widget');
      expect((await typing).conversationId, 'the agent sees the customer typing').to.equal(conversationId);
      expect((await arrived).conversationId).to.equal(conversationId);
      await shown(page, 'Hello from the widget');

      const say = (text: string, tag: '' | 'whisper' = ''): Promise<unknown> =>
        emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: AGENT, name: AGENT_NAME }, text, tag });
      expect(await emitAck(agent, 'sendMessage', { conversationId, type: 'ActivityMessage', from: { id: AGENT, name: AGENT_NAME }, activityType: 'typing', info: {} })).to.deep.include({ ok: true });
      await panel(page).locator('p.typing', { hasText: `${AGENT_NAME} is typing…` }).waitFor();
      expect(await say('Hi, how can I help?')).to.deep.include({ ok: true });
      await shown(page, 'Hi, how can I help?');
      expect(await panel(page).locator('p.typing').textContent(), 'a message clears the typing line').to.equal('');
      expect(await say('Internal: VIP customer', 'whisper')).to.deep.include({ ok: true });
      expect(await say('Anything else?')).to.deep.include({ ok: true });
      await shown(page, 'Anything else?');
      expect(await items(page)).to.deep.equal(['Hello from the widget', 'Hi, how can I help?', 'Anything else?']);

      await page.reload();
      await panel(page).and(page.locator('[data-state="ready"][data-socket="connected"]')).waitFor();
      expect(await panel(page).getAttribute('data-conversation-id'), 'the token in localStorage resumes the conversation').to.equal(conversationId);
      await shown(page, 'Anything else?');
      expect(await items(page)).to.deep.equal(['Hello from the widget', 'Hi, how can I help?', 'Anything else?']);
      expect(await page.content()).to.not.contain('VIP customer');

      // Another tab of the same site: the same conversation, its history, and live messages in both.
      const tab = await context.newPage();
      await tab.goto(page.url());
      await tab.getByRole('button', { name: 'Open chat' }).click();
      await panel(tab).and(tab.locator('[data-state="ready"][data-socket="connected"]')).waitFor();
      expect(await panel(tab).getAttribute('data-conversation-id')).to.equal(conversationId);
      await shown(tab, 'Anything else?');
      await type(tab, 'From the second tab');
      await shown(page, 'From the second tab');
    });
  });

  it('offline in mid-conversation loses nothing: the reconnecting banner shows, a message typed offline is sent when back, the agent\'s message meanwhile arrives (afterSeq catch-up); minimised, an unread badge counts; then the customer ends the chat and downloads the transcript PDF', async () => {
    await inPage(async ({ context, page }) => {
      await page.goto(siteUrl());
      const conversationId = await openAndStart(page, 'Olga Offline', 'olga@example.org');
      const { socket: agent } = await joinedAgent(hub.url, conversationId, AGENT);
      const say = (text: string): Promise<unknown> => emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: AGENT, name: AGENT_NAME }, text });
      await type(page, 'Before going offline');
      await shown(page, 'Before going offline');

      await context.setOffline(true);
      await panel(page).locator('p.banner').waitFor();
      expect(await panel(page).getAttribute('data-socket')).to.equal('disconnected');
      expect(await say('Sent while you were away')).to.deep.include({ ok: true });
      await type(page, 'Typed while offline');
      await panel(page).locator('li[data-pending] p.text', { hasText: 'Typed while offline' }).waitFor();

      const arrived = pending(nextEvent<Arrived & { clientMessageId?: string }>(agent, 'messageArrived', (m) => m.text === 'Typed while offline', 15_000));
      await context.setOffline(false);
      await shown(page, 'Sent while you were away');
      await shown(page, 'Typed while offline');
      expect((await arrived).clientMessageId, 'sent with its clientMessageId').to.match(/^w-/);
      await panel(page).locator('p.banner').waitFor({ state: 'hidden' });
      expect(await panel(page).locator('li[data-pending]').count()).to.equal(0);
      expect(await items(page)).to.deep.equal(['Before going offline', 'Sent while you were away', 'Typed while offline']);

      // Minimised: an agent's message raises the unread badge; opening clears it.
      await page.getByRole('button', { name: 'Minimise chat' }).click();
      expect(await say('Are you still there?')).to.deep.include({ ok: true });
      await page.getByRole('button', { name: 'Open chat, 1 unread' }).waitFor();
      await page.getByRole('button', { name: /Open chat/ }).click();
      await shown(page, 'Are you still there?');
      expect(await page.locator('[data-chathub-widget] .badge').isHidden()).to.equal(true);

      // The customer ends the chat and downloads the transcript.
      const ended = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.activityType === 'endOfConversation'));
      await page.getByRole('button', { name: 'End chat' }).click();
      await ended;
      await panel(page).and(page.locator('[data-state="ended"]')).waitFor();
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download transcript (PDF)' }).click()]);
      const path = await download.path();
      expect(readFileSync(path).subarray(0, 5).toString('latin1')).to.equal('%PDF-');
    });
  });

  it('the hub\'s own /demo page (same origin, not in ALLOWED_ORIGINS) runs the widget under its strict CSP: init, socket, a message, attachments as links', async () => {
    await inPage(async ({ page }) => {
      const response = await page.goto(`${hub.url}/demo`);
      expect(response?.headers()['content-security-policy']).to.match(/^default-src 'none'; script-src 'self'/);
      const conversationId = await openAndStart(page, 'Demo Visitor', 'demo@example.org');
      const { socket: agent } = await joinedAgent(hub.url, conversationId, AGENT);
      const arrived = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.text === 'Hello from the demo'));
      await type(page, 'Hello from the demo');
      expect((await arrived).conversationId).to.equal(conversationId);
      // Attachments are links, their names text; a script URL is not made a link.
      const attachments = [
        { type: 'application/pdf', name: 'invoice <b>42</b>.pdf', contentUrl: 'https://files.example/invoice-42.pdf' },
        { type: 'text/html', name: 'trap', contentUrl: 'data:text/html,<script>alert(1)</script>' },
      ];
      expect(await emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: AGENT, name: AGENT_NAME }, text: 'Your invoice', attachments })).to.deep.include({ ok: true });
      const link = panel(page).getByRole('link', { name: 'Attachment: invoice <b>42</b>.pdf' });
      await link.waitFor();
      expect(await link.getAttribute('href')).to.equal('https://files.example/invoice-42.pdf');
      expect(await link.getAttribute('rel')).to.equal('noopener noreferrer');
      await panel(page).getByText('Attachment: trap', { exact: true }).waitFor();
      expect(await panel(page).locator('a[href^="data:"]').count()).to.equal(0);
    });
  });

  it('keyboard only: Tab reaches the launcher, Enter opens with focus in the form, Enter sends, Escape minimises back to the launcher; minimised, the title flashes; a narrow phone gets the full screen', async () => {
    await inPage(async ({ page }) => {
      await page.setViewportSize({ width: 375, height: 740 });
      await page.goto(siteUrl());
      const focused = (): Promise<string | undefined> =>
        page.evaluate(() => {
          const el = document.querySelector('[data-chathub-widget]')?.shadowRoot?.activeElement;
          return el ? `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className}` : undefined;
        });
      await page.locator('[data-chathub-widget] button.launcher').waitFor();
      await page.keyboard.press('Tab');
      expect(await focused()).to.equal('button.launcher');
      await page.keyboard.press('Enter');
      expect(await focused()).to.equal('input#chathub-name.');
      await page.keyboard.type('Kim Keys');
      await page.keyboard.press('Tab');
      await page.keyboard.type('kim@example.org');
      await page.keyboard.press('Enter');
      await panel(page).and(page.locator('[data-state="ready"][data-socket="connected"]')).waitFor();
      expect(await focused()).to.equal('textarea#chathub-message.');
      const box = await panel(page).boundingBox();
      expect(box?.width, 'full width on a narrow screen').to.equal(375);
      expect(box?.height).to.equal(740);
      const conversationId = (await panel(page).getAttribute('data-conversation-id')) ?? '';
      const { socket: agent } = await joinedAgent(hub.url, conversationId, AGENT);
      const arrived = pending(nextEvent<Arrived>(agent, 'messageArrived', (m) => m.text === 'Typed with keys'));
      await page.keyboard.type('Typed with keys');
      await page.keyboard.press('Enter');
      await arrived;
      await page.keyboard.press('Escape');
      expect(await panel(page).isHidden()).to.equal(true);
      expect(await focused()).to.equal('button.launcher');
      expect(await emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: AGENT, name: AGENT_NAME }, text: 'Ping' })).to.deep.include({ ok: true });
      await page.waitForFunction(() => document.title === '(1) New message');
      await page.keyboard.press('Enter');
      await shown(page, 'Ping');
      expect(await page.title(), 'opening stops the flashing').to.equal('Shop');
    });
  });

  it('Arabic renders right to left, in Arabic', async () => {
    await inPage(async ({ page }) => {
      await page.goto(siteUrl({ lang: 'ar' }));
      const root = page.locator('[data-chathub-widget] .root');
      await root.waitFor();
      expect(await root.getAttribute('dir')).to.equal('rtl');
      expect(await root.getAttribute('lang')).to.equal('ar');
      await page.getByRole('button', { name: 'افتح المحادثة' }).click();
      await page.getByLabel('اسمك').waitFor();
      expect(await page.evaluate(() => getComputedStyle(document.querySelector('[data-chathub-widget]')?.shadowRoot?.querySelector('.panel') as Element).direction)).to.equal('rtl');
    });
  });

  it('German renders in German; a site colour is used with readable text on it, a colour too pale for that is replaced', async () => {
    const launcherColours = async (page: Page): Promise<{ background: string; color: string }> =>
      page.evaluate(() => {
        const launcher = document.querySelector('[data-chathub-widget]')?.shadowRoot?.querySelector('.launcher') as Element;
        const style = getComputedStyle(launcher);
        return { background: style.backgroundColor, color: style.color };
      });
    await inPage(async ({ page }) => {
      await page.goto(siteUrl({ lang: 'de', color: '#fde047' }));
      const root = page.locator('[data-chathub-widget] .root');
      await root.waitFor();
      expect(await root.getAttribute('lang')).to.equal('de');
      expect(await root.getAttribute('dir')).to.equal('ltr');
      // A light yellow keeps its place, with near-black text on it (not white).
      expect(await launcherColours(page)).to.deep.equal({ background: 'rgb(253, 224, 71)', color: 'rgb(17, 24, 39)' });
      await page.getByRole('button', { name: 'Chat öffnen' }).click();
      await page.getByLabel('Ihr Name').fill('Greta Grün');
      await page.getByLabel('E-Mail').fill('greta@example.org');
      await page.getByRole('button', { name: 'Chat starten' }).click();
      await panel(page).and(page.locator('[data-state="ready"]')).waitFor();
      await panel(page).locator('li.notice', { hasText: 'Sie sind in der Warteschlange' }).waitFor();
      await page.getByRole('button', { name: 'Chat beenden' }).click();
      await panel(page).and(page.locator('[data-state="ended"]')).waitFor();
    });
    await inPage(async ({ page }) => {
      // Neither white nor near-black text reaches 4.5:1 on this grey: the default colour is used instead.
      await page.goto(siteUrl({ color: '#777777' }));
      await page.locator('[data-chathub-widget] .root').waitFor();
      const colours = await launcherColours(page);
      expect(colours.background).to.not.equal('rgb(119, 119, 119)');
      expect(colours.color).to.equal('rgb(255, 255, 255)');
    });
  });

  it('axe-core finds no serious or critical accessibility violation in the open widget (pre-chat form, then a conversation)', async () => {
    // axe comes in as an init script (DevTools protocol), which the page's strict CSP does not
    // apply to; page.addScriptTag would add an inline script the CSP refuses.
    await inPage(
      async ({ page }) => {
        await page.goto(siteUrl());
        await page.getByRole('button', { name: 'Open chat' }).click();
        await page.getByLabel('Your name').waitFor();
        const audit = async (): Promise<string[]> =>
          page.evaluate(async () => {
            const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; nodes: Array<{ target: unknown }> }> }> } }).axe;
            const result = await axe.run(document, { resultTypes: ['violations'] });
            return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${JSON.stringify(v.nodes.map((n) => n.target))}`);
          });
        expect(await audit(), 'pre-chat form').to.deep.equal([]);
        const conversationId = await openAndStart(page, 'Axel Axe', 'axel@example.org');
        const { socket: agent } = await joinedAgent(hub.url, conversationId, AGENT);
        expect(await emitAck(agent, 'sendMessage', { conversationId, type: 'ChatMessage', from: { id: AGENT, name: AGENT_NAME }, text: 'Welcome!' })).to.deep.include({ ok: true });
        await type(page, 'Thanks');
        await shown(page, 'Welcome!');
        await shown(page, 'Thanks');
        expect(await audit(), 'conversation').to.deep.equal([]);
      },
      (context) => context.addInitScript({ path: axePath }),
    );
  });

  /** An agent's desk (/desk on the hub) in its own profile, signed in with a minted token and ready. */
  async function readyDesk(agentId: string, name: string, skills: string[]): Promise<OpenedPage> {
    const desk = await openPage(browser);
    // Room for the conversations other tests left in the queue (routing offers the oldest first).
    const token = await agentToken(hub.url, agentId, name, skills, 20);
    await desk.page.goto(`${hub.url}/desk#token=${token}`);
    await desk.page.locator('#desk[data-socket="connected"]').waitFor();
    await desk.page.locator('#ready-toggle').click();
    await desk.page.locator('#desk[data-state="ready"]').waitFor();
    return desk;
  }

  it('a customer in the widget and agents in the desk hold a whole conversation: pre-chat form, queue notice, assignment, messages both ways, typing, a whisper the customer never sees, a transfer, the end and the transcript', async () => {
    const ava = await readyDesk('desk-ava', 'Ava Desk', ['billing']);
    const ben = await readyDesk('desk-ben', 'Ben Desk', ['sales']);
    try {
      await inPage(async ({ page }) => {
        await page.goto(siteUrl({ subject: 'billing' }));
        const cid = await openAndStart(page, 'Jane Both', 'jane.both@example.org');
        await panel(page).locator('li.notice[data-activity="handOff"]').first().waitFor();
        // Routing gives it to the billing agent: her desk opens it, the widget says she joined.
        await ava.page.locator(`#mine button[data-conversation-id="${cid}"]`).click();
        await ava.page.locator(`#view[data-conversation-id="${cid}"]`).waitFor();
        await panel(page).locator('li.notice', { hasText: 'Ava Desk joined the chat' }).waitFor();

        // Customer → desk, with typing.
        await page.getByLabel('Message', { exact: true }).pressSequentially('Hello from the', { delay: 20 });
        await ava.page.locator('#typing').getByText('Jane Both is typing…').waitFor();
        await page.getByLabel('Message', { exact: true }).pressSequentially(' widget');
        await page.keyboard.press('Enter');
        await ava.page.locator('#messages li.message p.text').getByText('Hello from the widget', { exact: true }).waitFor();

        // Desk → customer, with typing.
        await ava.page.locator('#text').pressSequentially('Hi Jane', { delay: 20 });
        await panel(page).locator('p.typing', { hasText: 'Ava Desk is typing…' }).waitFor();
        await ava.page.locator('#text').press('Enter');
        await shown(page, 'Hi Jane');

        // A whisper stays on the desk.
        await ava.page.locator('#whisper').check();
        await ava.page.locator('#text').fill('Internal: moving her to sales');
        await ava.page.locator('#text').press('Enter');
        await ava.page.locator('#messages li.message.whisper').getByText('Internal: moving her to sales').waitFor();
        await ava.page.locator('#whisper').uncheck();
        await ava.page.locator('#text').fill('A colleague from sales will take over');
        await ava.page.locator('#text').press('Enter');
        await shown(page, 'A colleague from sales will take over');

        // Transfer to the sales queue: the widget says so, Ben's desk gets it, and the chat goes on.
        await ava.page.locator('#transfer-kind').selectOption('subject');
        await ava.page.locator('#transfer-target').fill('sales');
        await ava.page.locator('#transfer button[type="submit"]').click();
        await ben.page.locator(`#mine button[data-conversation-id="${cid}"]`).click();
        await ben.page.locator(`#view[data-conversation-id="${cid}"]`).waitFor();
        await panel(page).locator('li.notice', { hasText: 'Ben Desk joined the chat' }).waitFor();
        await ben.page.locator('#text').fill('Ben from sales here');
        await ben.page.locator('#text').press('Enter');
        await shown(page, 'Ben from sales here');
        await ben.page.locator('#messages li.message p.text').getByText('Hello from the widget', { exact: true }).waitFor();
        expect(await items(page)).to.deep.equal(['Hello from the widget', 'Hi Jane', 'A colleague from sales will take over', 'Ben from sales here']);
        expect(await page.content()).to.not.contain('moving her to sales');

        // The customer ends the chat: the desk shows it ended; the transcript downloads.
        await page.getByRole('button', { name: 'End chat' }).click();
        await panel(page).and(page.locator('[data-state="ended"]')).waitFor();
        await ben.page.locator('#view[data-status="ended"]').waitFor();
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download transcript (PDF)' }).click()]);
        expect(readFileSync(await download.path()).subarray(0, 5).toString('latin1')).to.equal('%PDF-');
      });
      expect([...ava.pageErrors, ...ava.cspViolations, ...ben.pageErrors, ...ben.cspViolations]).to.deep.equal([]);
    } finally {
      await ava.context.close();
      await ben.context.close();
    }
  });
});
