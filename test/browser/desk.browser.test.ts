import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import { agentToken, closeAllSockets, connect, emitAck, initCustomer, joinedCustomer, nextEvent, record, type JoinedCustomer } from '../support/clients.js';
import { SYSTEM_TOKEN, startHub, type RunningHub } from '../support/hub.js';
import { rawConnector } from '../support/raw-connector.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { startTestStore, type TestStore } from '../support/store.js';
import { launchChromium } from './chromium.js';

/** What a customer socket receives (the fields checked here). */
interface Seen {
  conversationId: string;
  type: string;
  text?: string;
  tag?: string;
  activityType?: string;
  info?: Record<string, unknown>;
  from: { id: string; name: string; role?: string };
}

const SMS_KEY = 'desk-test-sms-key-0123456789';
/** Small enough that a few long messages leave older ones out of conversationInfo (hasMore). */
const JOIN_HISTORY_MAX_BYTES = 8192;

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
/** dist/web, where `npm run build` puts the desk's bundle (the hub serves /desk from it). */
const webDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

/** Awaits later; a failure before then is reported by what failed first, not as an unhandled rejection. */
function pending<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

async function customerSays(customer: JoinedCustomer, text: string): Promise<void> {
  const { init, socket } = customer;
  const ack = await emitAck(socket, 'sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from: { id: init.participant.id, name: init.participant.name }, text });
  if (!ack.ok) throw new Error(`customer send failed: ${JSON.stringify(ack)}`);
}

async function customerTypes(customer: JoinedCustomer): Promise<void> {
  const { init, socket } = customer;
  const ack = await emitAck(socket, 'sendMessage', { conversationId: init.conversationId, type: 'ActivityMessage', from: { id: init.participant.id, name: init.participant.name }, activityType: 'typing', info: {} });
  if (!ack.ok) throw new Error(`customer typing failed: ${JSON.stringify(ack)}`);
}

/** The desk's message list shows a message reading exactly `text`. */
function shown(page: Page, text: string) {
  return page.locator('#messages li.message p.text').getByText(text, { exact: true });
}

async function typeAndSend(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text);
  await page.locator('#text').press('Enter');
}

/** Serious and critical accessibility violations axe-core finds on the page, as readable lines. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: axePath });
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join(', ')})`);
}

describe('Agent desk in Chromium (issue 16, real browser)', function () {
  let store: TestStore | undefined;
  let hub: RunningHub;
  let browser: Browser | undefined;
  let smtp: SmtpSink | undefined;

  before(async function () {
    this.timeout(120_000);
    if (!existsSync(join(webDir, 'manifest.json'))) throw new Error(`${webDir}/manifest.json is missing: run npm run build (it bundles the desk)`);
    browser = await launchChromium();
    store = await startTestStore();
    smtp = new SmtpSink();
    const smtpPort = await smtp.listen();
    hub = await startHub(store.uri('desk_browser'), { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, CONNECTOR_KEYS: `sms:${SMS_KEY}`, JOIN_HISTORY_MAX_BYTES: String(JOIN_HISTORY_MAX_BYTES) });
  });

  afterEach(() => closeAllSockets());

  after(async () => {
    await browser?.close();
    await hub?.close();
    await smtp?.close();
    await store?.close();
  });

  /** A fresh profile signed in to the desk as `agentId` with `skills`, connected; page errors fail the test. */
  async function signedIn(agentId: string, name: string, skills: string[], bypassCSP = false): Promise<{ page: Page; pageErrors: string[]; token: string; close(): Promise<void> }> {
    if (!browser) throw new Error('no browser');
    // bypassCSP only where axe-core is injected (an inline script tag): the other tests run under the desk's CSP.
    const context = await browser.newContext({ bypassCSP });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const token = await agentToken(hub.url, agentId, name, skills);
    await page.goto(`${hub.url}/desk#token=${token}`);
    await page.locator('#desk[data-socket="connected"]').waitFor();
    expect(page.url(), 'the token leaves the address bar').to.not.include('token=');
    return { page, pageErrors, token, close: () => context.close() };
  }

  async function goReady(page: Page): Promise<void> {
    await page.locator('#ready-toggle').click();
    await page.locator('#desk[data-state="ready"]').waitFor();
    expect(await page.locator('#ready-toggle').getAttribute('aria-pressed')).to.equal('true');
  }

  it('an agent signs in with a minted token, goes ready, is given a customer, and they chat: messages both ways, typing, a whisper the customer never gets, a transfer to a subject, the end and the transcript as PDF and by mail', async () => {
    const { page, pageErrors, close } = await signedIn('desk-dana', 'Dana Desk', ['billing', 'sales']);
    try {
      await goReady(page);
      const customer = await joinedCustomer(hub.url, { firstName: 'Carla', lastName: 'Customer', subject: 'billing', plan: 'gold' });
      const cid = customer.init.conversationId;
      const seen = record<Seen>(customer.socket, 'messageArrived');

      // Assigned by routing: listed, opened, with the customer's details.
      await page.locator(`#mine button[data-conversation-id="${cid}"]`).waitFor();
      await page.locator(`#view[data-conversation-id="${cid}"]`).waitFor();
      expect(await page.locator('#conv-title').textContent()).to.equal('Carla Customer');
      expect(await page.locator('#customer').textContent()).to.include('gold');

      // Customer → desk, and typing both ways.
      await customerTypes(customer);
      await page.locator('#typing').getByText('Carla Customer is typing…').waitFor();
      await customerSays(customer, 'Hello desk <b>not bold</b>');
      await shown(page, 'Hello desk <b>not bold</b>').waitFor();
      expect(await page.locator('#messages b').count(), 'text is never parsed as HTML').to.equal(0);
      const agentTyping = pending(nextEvent<Seen>(customer.socket, 'messageArrived', (m) => m.activityType === 'typing'));
      await page.locator('#text').pressSequentially('Hi', { delay: 20 });
      expect((await agentTyping).from.id).to.equal('desk-dana');

      // Desk → customer.
      const reply = pending(nextEvent<Seen>(customer.socket, 'messageArrived', (m) => m.text === 'Hi Carla, how can I help?'));
      await typeAndSend(page, 'Hi Carla, how can I help?');
      expect((await reply).from.role).to.equal('agent');
      await shown(page, 'Hi Carla, how can I help?').waitFor();
      expect(await page.locator('#text').inputValue(), 'the composer is emptied').to.equal('');

      // A whisper: visibly different on the desk; the customer socket never receives it.
      await page.locator('#whisper').check();
      await typeAndSend(page, 'Internal: gold plan, be nice');
      await page.locator('#messages li.message.whisper').getByText('Internal: gold plan, be nice').waitFor();
      expect(await page.locator('#messages li.whisper .whisper-label').count()).to.equal(1);
      await page.locator('#whisper').uncheck();
      const after = pending(nextEvent<Seen>(customer.socket, 'messageArrived', (m) => m.text === 'One moment please'));
      await typeAndSend(page, 'One moment please');
      await after;
      expect(seen.map((m) => m.text).filter(Boolean)).to.deep.equal(['Hi Carla, how can I help?', 'One moment please']);
      expect(seen.some((m) => m.tag === 'whisper')).to.equal(false);

      // Transfer to a subject: the conversation leaves the agent's list and waits in the sales queue.
      const handOff = pending(nextEvent<Seen>(customer.socket, 'messageArrived', (m) => m.activityType === 'handOff' && m.info?.['reason'] === 'transfer'));
      await page.locator('#transfer-kind').selectOption('subject');
      await page.locator('#transfer-target').fill('sales');
      await page.locator('#transfer button[type="submit"]').click();
      expect((await handOff).info?.['subject']).to.equal('sales');
      await page.locator(`#mine button[data-conversation-id="${cid}"]`).waitFor({ state: 'detached' });
      const salesQueue = page.locator('#queue section[data-subject="sales"]');
      await salesQueue.getByText('Carla Customer', { exact: false }).waitFor();

      // The agent takes it back from the queue, ends it, and downloads the transcript.
      await salesQueue.getByRole('button', { name: 'Take the conversation with Carla Customer' }).click();
      await page.locator(`#mine button[data-conversation-id="${cid}"]`).waitFor();
      await page.locator(`#mine button[data-conversation-id="${cid}"]`).click();
      const ended = pending(nextEvent<Seen>(customer.socket, 'messageArrived', (m) => m.activityType === 'endOfConversation'));
      page.once('dialog', (dialog) => void dialog.accept());
      await page.locator('#end').click();
      await ended;
      await page.locator(`#view[data-status="ended"]`).waitFor();
      const download = page.waitForEvent('download');
      await page.locator('#transcript-pdf').click();
      const file = await download;
      expect(file.suggestedFilename()).to.equal(`transcript-${cid}.pdf`);
      const path = await file.path();
      expect(readFileSync(path).subarray(0, 5).toString('latin1')).to.equal('%PDF-');

      // And by mail, to an address the agent types.
      if (!smtp) throw new Error('no SMTP sink');
      const mailed = pending(smtp.next(smtp.received.length));
      await page.locator('#mail-to').fill('records@example.org');
      await page.locator('#transcript-mail button[type="submit"]').click();
      const mail = await mailed;
      expect(mail.recipients).to.deep.equal(['records@example.org']);
      expect(mail.parsed.attachments.map((a) => a.mimeType)).to.include('application/pdf');
      await page.locator('#action-status').getByText('Transcript mailed').waitFor();
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await close();
    }
  });

  it('a reload and a dropped connection lose nothing: the desk catches up on what arrived meanwhile', async () => {
    const { page, pageErrors, token, close } = await signedIn('desk-rory', 'Rory Desk', ['returns']);
    try {
      await goReady(page);
      const customer = await joinedCustomer(hub.url, { firstName: 'Rita', lastName: 'Returns', subject: 'returns' });
      const cid = customer.init.conversationId;
      await page.locator(`#view[data-conversation-id="${cid}"]`).waitFor();
      await customerSays(customer, 'Before the reload');
      await shown(page, 'Before the reload').waitFor();

      await page.reload();
      await page.locator('#desk[data-socket="connected"]').waitFor();
      await page.locator(`#view[data-conversation-id="${cid}"]`).waitFor();
      await shown(page, 'Before the reload').waitFor();
      await page.locator('#desk[data-state="ready"]').waitFor();

      // The hub drops the desk's connection (its transport): a message arrives while it is away.
      const deskSockets = [...hub.hub.io.sockets.sockets.values()].filter((s) => (s.handshake.auth as { token?: string }).token === token && s.connected);
      expect(deskSockets.length, 'the desk holds a socket').to.equal(1);
      for (const s of deskSockets) s.conn.close();
      await page.locator('#desk[data-socket="reconnecting"]').waitFor();
      // More than JOIN_HISTORY_MAX_BYTES: the catch-up (joinConversation {afterSeq}) comes in pages.
      const burst = ['While you were away', ...Array.from({ length: 10 }, (_, i) => `Away ${i + 1} ${'y'.repeat(1200)}`)];
      for (const text of burst) await customerSays(customer, text);
      await page.locator('#desk[data-socket="connected"]').waitFor({ timeout: 15_000 });
      await shown(page, burst[burst.length - 1] ?? '').waitFor();
      await shown(page, 'While you were away').waitFor();
      expect(await page.locator('#messages li.message p.text').allTextContents(), 'each once, in order').to.deep.equal(['Before the reload', ...burst]);

      // And it goes on: the agent answers.
      const reply = pending(nextEvent<Seen>(customer.socket, 'messageArrived', (m) => m.text === 'Back with you'));
      await typeAndSend(page, 'Back with you');
      await reply;
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await close();
    }
  });

  it('a connector conversation shows each reply\'s delivery state: failed with the reason, resent, then delivered', async () => {
    const connector = await rawConnector(hub.url, 'sms', SMS_KEY);
    expect(await connector.register()).to.deep.include({ ok: true });
    let refusals = 1;
    connector.answer = (m) => (refusals-- > 0 ? { ok: false, error: { message: 'number unreachable' } } : { ok: true, externalId: `ext-${m.id}` });
    const { page, pageErrors, close } = await signedIn('desk-sid', 'Sid Desk', ['sms-desk']);
    try {
      await goReady(page);
      const init = await initCustomer(hub.url, { channel: 'sms', phone: '+4915112345678', firstName: 'Simon', lastName: 'Sms', subject: 'sms-desk' }, { authorization: `Bearer ${SYSTEM_TOKEN}` });
      await page.locator(`#view[data-conversation-id="${init.conversationId}"]`).waitFor();
      await typeAndSend(page, 'Your parcel ships today');
      const reply = page.locator('#messages li.message').filter({ hasText: 'Your parcel ships today' });
      await reply.locator('.delivery').getByText('Not delivered: number unreachable').waitFor();
      expect(await reply.getAttribute('data-state')).to.equal('FAILED');
      await reply.getByRole('button', { name: 'Resend' }).click();
      await page.locator('#messages li.message[data-state="DELIVERED"]').filter({ hasText: 'Your parcel ships today' }).locator('.delivery').getByText('Delivered').waitFor();
      expect(connector.received.filter((m) => m.text === 'Your parcel ships today')).to.have.length(2);
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await close();
    }
  });

  it('older history comes page by page with "Load older messages" when the hub left it out of conversationInfo', async () => {
    const { page, pageErrors, close } = await signedIn('desk-olga', 'Olga Desk', ['history']);
    try {
      const customer = await joinedCustomer(hub.url, { firstName: 'Otto', subject: 'history' });
      // Long messages before the agent comes: more than JOIN_HISTORY_MAX_BYTES of them.
      const texts = Array.from({ length: 12 }, (_, i) => `Old message ${i + 1} ${'x'.repeat(1200)}`);
      for (const text of texts) await customerSays(customer, text);
      await goReady(page);
      await page.locator(`#view[data-conversation-id="${customer.init.conversationId}"]`).waitFor();
      await shown(page, texts[11] ?? '').waitFor();
      const first = await page.locator('#messages li.message p.text').count();
      expect(first, 'the join left older messages out').to.be.lessThan(12);
      const older = page.getByRole('button', { name: 'Load older messages' });
      while (await older.isVisible()) {
        await older.click();
        await page.locator('#announcer').getByText('older messages loaded').waitFor();
      }
      expect(await page.locator('#messages li.message p.text').allTextContents()).to.deep.equal(texts);
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await close();
    }
  });

  it('keyboard only: sign in by pasting a token, go ready, see the unread count of another conversation, open it, transfer it to an agent, leave the other', async () => {
    if (!browser) throw new Error('no browser');
    const context = await browser.newContext();
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      await page.goto(`${hub.url}/desk`);
      await page.locator('#token-input:focus').waitFor();
      await page.keyboard.insertText(await agentToken(hub.url, 'desk-kim', 'Kim Keys', ['kb']));
      await page.keyboard.press('Enter');
      await page.locator('#desk[data-socket="connected"]').waitFor();
      await page.locator('#ready-toggle:focus').waitFor();
      await page.keyboard.press('Space');
      await page.locator('#desk[data-state="ready"]').waitFor();

      const first = await joinedCustomer(hub.url, { firstName: 'Fay', lastName: 'First', subject: 'kb' });
      await page.locator(`#view[data-conversation-id="${first.init.conversationId}"]`).waitFor();
      const second = await joinedCustomer(hub.url, { firstName: 'Sol', lastName: 'Second', subject: 'kb' });
      const secondButton = page.locator(`#mine button[data-conversation-id="${second.init.conversationId}"]`);
      await secondButton.waitFor();
      await customerSays(second, 'Unread one');
      await secondButton.locator('.badge').getByText('1', { exact: true }).waitFor();
      expect(await page.title()).to.equal('(1) Agent desk');

      await secondButton.focus();
      await page.keyboard.press('Enter');
      await page.locator(`#view[data-conversation-id="${second.init.conversationId}"]`).waitFor();
      await page.locator('#text:focus').waitFor();
      expect(await secondButton.locator('.badge').count(), 'opened: no unread').to.equal(0);
      expect(await page.title()).to.equal('Agent desk');

      // Another agent takes the second one by transfer.
      const helper = await connect(hub.url, { token: await agentToken(hub.url, 'desk-helper', 'Hal Helper', ['kb']) });
      expect(await emitAck(helper, 'agentState', { state: 'ready' })).to.deep.include({ ok: true });
      const handed = pending(nextEvent<{ conversation: { id: string } }>(helper, 'conversationInfo', (i) => i.conversation.id === second.init.conversationId));
      await page.locator('#transfer-kind').selectOption('agent');
      await page.locator('#transfer-target').fill('desk-helper');
      await page.locator('#transfer-target').press('Enter');
      await handed;
      await secondButton.waitFor({ state: 'detached' });

      // Leaving the first gives it back to its queue.
      await page.locator(`#mine button[data-conversation-id="${first.init.conversationId}"]`).click();
      const left = pending(nextEvent<Seen>(first.socket, 'messageArrived', (m) => m.activityType === 'participantLeft' && m.info?.['reason'] === 'left'));
      await page.locator('#leave').focus();
      await page.keyboard.press('Enter');
      expect((await left).from.id).to.equal('desk-kim');
      await page.locator(`#mine button[data-conversation-id="${first.init.conversationId}"]`).waitFor({ state: 'detached' });
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await context.close();
    }
  });

  it('axe-core finds no serious or critical accessibility violation on the sign-in form or the conversation view', async () => {
    if (!browser) throw new Error('no browser');
    const context = await browser.newContext({ bypassCSP: true });
    try {
      const signIn = await context.newPage();
      await signIn.goto(`${hub.url}/desk`);
      await signIn.locator('#token-input').waitFor();
      expect(await axeViolations(signIn), 'sign-in form').to.deep.equal([]);
      // A wrong token is refused with a message, and the focus stays in the field.
      await signIn.locator('#token-input').fill('not-a-token');
      await signIn.locator('#token-input').press('Enter');
      expect(await signIn.locator('#signin-error').textContent()).to.equal('That is not an agent token.');
    } finally {
      await context.close();
    }
    const { page, close } = await signedIn('desk-axel', 'Axel Desk', ['a11y'], true);
    try {
      await goReady(page);
      const customer: { socket: Socket; init: JoinedCustomer['init'] } = await joinedCustomer(hub.url, { firstName: 'Ava', subject: 'a11y' });
      await page.locator(`#view[data-conversation-id="${customer.init.conversationId}"]`).waitFor();
      await customerSays(customer as JoinedCustomer, 'Is this accessible?');
      await shown(page, 'Is this accessible?').waitFor();
      await page.locator('#whisper').check();
      await typeAndSend(page, 'A whisper, for the check');
      await page.locator('#messages li.whisper').waitFor();
      expect(await page.locator('#announcer').getAttribute('aria-live')).to.equal('polite');
      expect(await axeViolations(page), 'conversation view').to.deep.equal([]);
    } finally {
      await close();
    }
  });
});
