import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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
