// The demo page in real headless Chromium against `streamd serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startServer } from '../server.mjs';
import { launch, skipReason, waitFor } from './harness.mjs';

const skip = skipReason() || false;
/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {Awaited<ReturnType<typeof launch>>} */
let browser;

before(async () => {
  if (skip) return;
  srv = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** @param {import('playwright-core').Page} page */
const connState = (page) => page.evaluate(() => ({
  state: document.getElementById('conn')?.dataset.state,
  transport: document.getElementById('conn')?.dataset.transport,
  text: document.getElementById('conn-text')?.textContent,
}));

test('the page connects and shows the state and transport', { skip }, async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${srv.base}/?transport=ws`);
  const st = await waitFor(async () => { const s = await connState(page); return s.state === 'open' && s; }, 'connected');
  assert.equal(st.transport, 'websocket');
  assert.equal(st.text, 'connected');
  assert.equal(await page.textContent('#conn-transport'), 'WebSocket');
  assert.deepEqual(errors, []);
  await page.close();
});

test('an upload completes and the server SHA-256 matches', { skip }, async () => {
  const page = await browser.context.newPage();
  await page.goto(`${srv.base}/?transport=ws`);
  await waitFor(async () => (await connState(page)).state === 'open', 'connected');
  const data = randomBytes(5 << 20);
  const dir = mkdtempSync(join(tmpdir(), 'streamd-up-'));
  const file = join(dir, 'upload-e2e.bin');
  writeFileSync(file, data);
  await page.setInputFiles('#up-file', file);
  await page.click('#up-go');
  const up = await waitFor(() => page.evaluate(() => {
    const u = /** @type {any} */ (window).streamdDemo.upload;
    return u.state !== 'running' && u.state !== 'idle' && u;
  }), 'upload finished', 30000);
  assert.equal(up.state, 'done', up.error);
  assert.equal(await page.evaluate(() => /** @type {HTMLProgressElement} */ (document.getElementById('up-progress')).value), 1);
  const stored = readFileSync(join(srv.dataDir, 'upload-e2e.bin'));
  assert.equal(createHash('sha256').update(stored).digest('hex'), createHash('sha256').update(data).digest('hex'));
  await waitFor(() => page.locator('#files td', { hasText: 'upload-e2e.bin' }).count(), 'file listed');
  await page.close();
});

test('the page reconnects after the server restarts', { skip }, async () => {
  const s1 = await startServer();
  const page = await browser.context.newPage();
  await page.goto(`${s1.base}/?transport=ws`);
  await waitFor(async () => (await connState(page)).state === 'open', 'connected');
  const firstSession = await page.textContent('#conn-session');
  await s1.stop();
  await waitFor(async () => (await connState(page)).state === 'reconnecting', 'reconnecting shown');
  const s2 = await startServer({ addr: s1.addr, dataDir: s1.dataDir });
  try {
    await waitFor(async () => (await connState(page)).state === 'open', 'reconnected', 40000);
    assert.notEqual(await page.textContent('#conn-session'), firstSession);
  } finally {
    await page.close();
    await s2.stop();
  }
});

test('the minimal example page works when served from the streamd origin', { skip }, async () => {
  const html = readFileSync(fileURLToPath(new URL('../../../examples/web-minimal/index.html', import.meta.url)), 'utf8');
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route(`${srv.base}/minimal`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
  await page.goto(`${srv.base}/minimal`);
  await waitFor(async () => (await page.textContent('#out'))?.startsWith('files:'), 'the file list');
  assert.deepEqual(errors.filter((e) => !/topic|NOT_FOUND|NO_ROUTE/.test(e)), []);
  await page.close();
});

test('with WebTransport first but not enabled, the page falls back to WebSocket', { skip }, async () => {
  const page = await browser.context.newPage();
  await page.goto(`${srv.base}/`); // default order: WebTransport, then WebSocket
  await waitFor(async () => (await connState(page)).state === 'open', 'connected');
  assert.equal((await connState(page)).transport, 'websocket');
  await page.close();
});
