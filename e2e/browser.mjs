// Debian's headless Chromium, driven by playwright-core: shared by the browser tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

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

const executablePath = () => process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * Launches $CHROMIUM (default /usr/bin/chromium) headless, with no background traffic.
 * `hosts`: host names the browser resolves to 127.0.0.1 (no DNS is asked), e.g.
 * `['*.example.test']`.
 */
export function launchChromium({ hosts = [] } = {}) {
  const rules = hosts.map((host) => `MAP ${host} 127.0.0.1`).join(', ');
  const args = rules ? [...ARGS, `--host-resolver-rules=${rules}`] : ARGS;
  return chromium.launch({ executablePath: executablePath(), args });
}

/**
 * A browser profile of its own (a persistent context), for settings a fresh incognito-like
 * context does not have. `thirdPartyCookies: true` allows cookies set by another site, as
 * Chrome's regular profiles do by default; headless contexts block them.
 * Returns `{ context, close }`.
 */
export async function launchProfile({ thirdPartyCookies = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'authql-chromium-'));
  mkdirSync(join(dir, 'Default'));
  writeFileSync(
    join(dir, 'Default', 'Preferences'),
    JSON.stringify({ profile: { cookie_controls_mode: thirdPartyCookies ? 0 : 2 } }),
  );
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: executablePath(),
    args: ARGS,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
