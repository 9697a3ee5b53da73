/**
 * Headless Chromium for page tests: Debian's `chromium` package (installed by .ci/run when missing), driven by
 * playwright-core, which never downloads a browser of its own. This machine's network is closed, so every
 * background connection Chromium would make is switched off, and each launch gets a fresh profile directory.
 * A launch failure throws: a page test fails, never skips, when the browser is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh --user-data-dir (playwright passes it for a persistent context). */
export async function launchChromium(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tb-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport, timeout: 60_000 });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`cannot launch ${CHROMIUM} (apt-get install -y chromium; .ci/run does it): ${(e as Error).message.split('\n')[0]}`);
  }
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
