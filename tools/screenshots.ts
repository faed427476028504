/**
 * `npm run docs:screenshots`: starts a hub of its own (a fresh DATA_DIR, a free port), plays a
 * short conversation between a customer and an agent, and saves docs/desk.png (the agent desk)
 * and, when the hub serves it, docs/widget.png (the widget's /demo page), using Debian's
 * Chromium (/usr/bin/chromium) through playwright-core.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { PROJECT_ROOT } from '../src/config.js';

const CHROMIUM_PATH = '/usr/bin/chromium';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the hub at ${url} did not come up within ${ms} ms`);
}

async function post<T>(url: string, body: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-screenshots-'));
  const port = await freePort();
  const hubUrl = `http://127.0.0.1:${port}`;
  const hub = spawn(process.execPath, [join(PROJECT_ROOT, 'dist', 'src', 'main.js')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true });
  try {
    await waitForHealth(hubUrl, 90_000);
    const { systemToken } = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as { systemToken: string };
    const { token } = await post<{ token: string }>(`${hubUrl}/api/agents/token`, { id: 'sam', name: 'Sam Agent', skills: ['billing'] }, systemToken);

    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await page.goto(`${hubUrl}/desk#token=${token}`);
    await page.locator('#desk[data-socket="connected"]').waitFor();
    await page.locator('#ready-toggle').click();
    await page.locator('#desk[data-state="ready"]').waitFor();

    const init = await post<{ conversationId: string; participant: { id: string; name: string }; token: string }>(`${hubUrl}/api/customer/init`, {
      firstName: 'Jane',
      lastName: 'Doe',
      email: 'jane@example.org',
      channel: 'web',
      subject: 'billing',
      plan: 'gold',
    });
    const customer = io(hubUrl, { auth: { token: init.token }, transports: ['websocket'] });
    await customer.emitWithAck('joinConversation', { conversationId: init.conversationId, id: init.participant.id });
    const from = { id: init.participant.id, name: init.participant.name };
    await customer.emitWithAck('sendMessage', { conversationId: init.conversationId, type: 'ChatMessage', from, text: 'Hi! My last invoice shows my old address.' });
    await page.locator('#messages').getByText('Hi! My last invoice shows my old address.').waitFor();
    await page.locator('#text').fill('Hello Jane, sorry about that. Which address should it show?');
    await page.locator('#text').press('Enter');
    await page.locator('#whisper').check();
    await page.locator('#text').fill('Gold plan: waive the re-issue fee.');
    await page.locator('#text').press('Enter');
    await page.locator('#whisper').uncheck();
    await customer.emitWithAck('sendMessage', { conversationId: init.conversationId, type: 'ActivityMessage', from, activityType: 'typing', info: {} });
    await page.locator('#typing').getByText('is typing').waitFor();
    await page.screenshot({ path: join(PROJECT_ROOT, 'docs', 'desk.png') });
    process.stdout.write('saved docs/desk.png\n');
    customer.close();

    if ((await fetch(`${hubUrl}/demo`)).ok) {
      const demo = await browser.newPage({ viewport: { width: 1024, height: 720 } });
      await demo.goto(`${hubUrl}/demo`);
      // The customer opens the widget, fills the pre-chat form and writes; Sam answers.
      await demo.getByRole('button', { name: 'Open chat' }).click();
      await demo.getByLabel('Your name').fill('Jane Doe');
      await demo.getByLabel('Email').fill('jane@example.org');
      await demo.getByRole('button', { name: 'Start chat' }).click();
      const panel = demo.locator('[data-chathub-widget] section.panel[data-state="ready"][data-socket="connected"]');
      await panel.waitFor();
      const conversationId = (await panel.getAttribute('data-conversation-id')) ?? '';
      await demo.getByLabel('Message', { exact: true }).fill('Hello! Can I still change the delivery address?');
      await demo.keyboard.press('Enter');
      const agent = io(hubUrl, { auth: { token }, transports: ['websocket'] });
      await agent.emitWithAck('joinConversation', { conversationId, id: 'sam' });
      await agent.emitWithAck('sendMessage', { conversationId, type: 'ChatMessage', from: { id: 'sam', name: 'Sam Agent' }, text: 'Of course, Jane. Which address should we use?' });
      await demo.locator('[data-chathub-widget] li.msg', { hasText: 'Which address' }).waitFor();
      agent.close();
      await demo.screenshot({ path: join(PROJECT_ROOT, 'docs', 'widget.png') });
      process.stdout.write('saved docs/widget.png\n');
    } else {
      process.stdout.write('no /demo page (the widget is not built): docs/widget.png not taken\n');
    }
  } finally {
    await browser.close();
    hub.kill('SIGTERM');
    await new Promise((resolve) => hub.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`screenshots: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
