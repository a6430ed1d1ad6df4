// Shared setup of the Chromium end-to-end tests: headless Debian chromium
// driven by playwright-core, against `streamd serve` on loopback.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveFlag } from '../server.mjs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * skipReason says why the browser tests cannot run here ('' if they can).
 * Only a missing chromium skips: without playwright-core the tests fail, so a
 * CI that forgot `npm ci` does not pass silently.
 */
export function skipReason() {
  if (existsSync(CHROMIUM) || process.env.STREAMD_REQUIRE_BROWSER) return ''; // required: launching fails loudly
  return `${CHROMIUM} not found: install Debian's chromium to run the browser tests`;
}

/** loadPlaywright imports playwright-core from web/node_modules. */
export async function loadPlaywright() {
  const require = createRequire(new URL('../../package.json', import.meta.url));
  let path;
  try {
    path = require.resolve('playwright-core');
  } catch {
    throw new Error('playwright-core is not installed: run `npm ci` in web/');
  }
  const mod = await import(path);
  return mod.default ?? mod;
}

/** Chromium flags: headless, no sandbox (CI runs as root), quiet. */
export const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Background tabs must keep running their timers and rendering at full speed.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
  // Pages the tests fulfil themselves (page.route) have no IP address space,
  // so Local Network Access would block their loopback WebSocket.
  '--disable-features=LocalNetworkAccessChecks',
];

/**
 * launch starts Chromium with a fresh profile.
 * @param {string[]} [extraArgs]
 */
export async function launch(extraArgs = []) {
  const { chromium } = await loadPlaywright();
  const profile = mkdtempSync(join(tmpdir(), 'streamd-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...extraArgs],
    viewport: { width: 1200, height: 860 }, acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * serverHas reports whether `streamd serve` has a flag (features that other
 * parts of the project add: --tail, --wt-addr).
 * @param {string} flag e.g. "--tail"
 */
export const serverHas = serveFlag;

/**
 * waitFor polls fn until it returns a truthy value or the timeout passes.
 * @template T
 * @param {() => Promise<T>|T} fn
 * @param {string} what
 * @param {number} [timeoutMs]
 * @returns {Promise<T>}
 */
export async function waitFor(fn, what, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
