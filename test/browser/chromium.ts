import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

/** The project's browser: Debian's Chromium package, never a downloaded browser build. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Launches Debian's headless Chromium, or fails saying how to install it. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: the browser tests need Debian's Chromium (apt-get install chromium; .ci/run installs it)`);
  }
  // playwright-core passes --no-sandbox itself unless chromiumSandbox is set, so running as root needs no args.
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true });
}

/** A fresh browser profile (its own storage) and a page in it, with what went wrong in the page. */
export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Console reports of what a Content-Security-Policy refused. */
  cspViolations: string[];
}

export async function openPage(browser: Browser | undefined, options: BrowserContextOptions = {}): Promise<OpenedPage> {
  if (!browser) throw new Error('no browser');
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const opened: OpenedPage = { context, page, pageErrors: [], cspViolations: [] };
  page.on('pageerror', (err) => opened.pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) opened.cspViolations.push(msg.text());
  });
  return opened;
}
