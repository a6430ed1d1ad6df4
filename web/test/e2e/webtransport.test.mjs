// The demo page over WebTransport in headless Chromium, with the development
// certificate's published hash (/cert-hash → serverCertificateHashes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startServer } from '../server.mjs';
import { launch, skipReason, serverHas, waitFor } from './harness.mjs';

const skip = skipReason() || (serverHas('--wt-addr') ? false : 'streamd serve has no --wt-addr yet');
const dir = mkdtempSync(join(tmpdir(), 'streamd-wt-'));
const logFile = join(dir, 'wt.log');
/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {Awaited<ReturnType<typeof launch>>} */
let browser;
let tail = false;
const TOKEN = 'wt-s3cret';

before(async () => {
  if (skip) return;
  tail = serverHas('--tail');
  writeFileSync(logFile, 'wt boot\n');
  // With a token: the page passes it as ?token= on the WebTransport CONNECT.
  srv = await startServer({ args: ['--wt-addr', '127.0.0.1:0', '--token', TOKEN, ...(tail ? ['--tail', `logs=${logFile}`] : [])] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('the page connects over WebTransport with the published certificate hash', { skip }, async () => {
  const info = await (await fetch(`${srv.base}/cert-hash`)).json();
  assert.equal(info.algorithm, 'sha-256');
  assert.ok(info.value && info.url?.startsWith('https://'), JSON.stringify(info));
  const page = await browser.context.newPage();
  await page.goto(`${srv.base}/?transport=wt&token=${TOKEN}${tail ? '&topic=logs&last=10' : ''}`);
  await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'open', 'connected over WebTransport');
  assert.equal(await page.getAttribute('#conn', 'data-transport'), 'webtransport');
  assert.equal(await page.textContent('#conn-transport'), 'WebTransport');

  // An upload over WebTransport; the server checks the SHA-256.
  const data = randomBytes(3 << 20);
  const file = join(dir, 'wt-upload.bin');
  writeFileSync(file, data);
  await page.setInputFiles('#up-file', file);
  await page.click('#up-go');
  const up = await waitFor(() => page.evaluate(() => {
    const u = /** @type {any} */ (window).streamdDemo.upload;
    return u.state !== 'running' && u.state !== 'idle' && u;
  }), 'upload finished', 60000);
  assert.equal(up.state, 'done', up.error);
  const stored = readFileSync(join(srv.dataDir, 'wt-upload.bin'));
  assert.equal(createHash('sha256').update(stored).digest('hex'), createHash('sha256').update(data).digest('hex'));

  if (tail) { // a log tail over WebTransport
    const marker = `over webtransport ${Date.now()}`;
    appendFileSync(logFile, `${marker}\n`);
    await waitFor(() => page.locator('#log li.line', { hasText: marker }).count(), 'the tailed line');
  }
  await page.close();
});

test('with WebTransport first, the page prefers it (auto order)', { skip }, async () => {
  const page = await browser.context.newPage();
  await page.goto(`${srv.base}/?token=${TOKEN}`);
  await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'open', 'connected');
  assert.equal(await page.getAttribute('#conn', 'data-transport'), 'webtransport');
  await page.close();
});

test('a WebTransport session killed mid-upload resumes after the restart (new certificate)', { skip }, async () => {
  const s1 = await startServer({ args: ['--wt-addr', '127.0.0.1:0'] });
  let s2;
  try {
    const data = randomBytes(64 << 20);
    const file = join(dir, 'wt-cut.bin');
    writeFileSync(file, data);
    const page = await browser.context.newPage();
    await page.goto(`${s1.base}/?transport=wt`);
    await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'open', 'connected');
    assert.equal(await page.getAttribute('#conn', 'data-transport'), 'webtransport');
    await page.setInputFiles('#up-file', file);
    await page.click('#up-go');
    const up0 = () => page.evaluate(() => /** @type {any} */ (window).streamdDemo.upload);
    await waitFor(async () => (await up0()).durable > 0, 'a checkpoint from the server', 60000);
    await page.click('#up-pause'); // hold it mid-upload
    assert.ok((await up0()).durable < data.length, 'paused mid-upload: not all of it durable yet');
    s1.proc.kill('SIGKILL');
    await s1.stop();
    // The restarted server has a new development certificate and UDP port;
    // the page reads both from /cert-hash when it dials again.
    s2 = await startServer({ addr: s1.addr, dataDir: s1.dataDir, args: ['--wt-addr', '127.0.0.1:0'] });
    await waitFor(async () => (await up0()).resumedAt > 0, 'the upload reopened by id', 60000);
    await page.click('#up-pause'); // resume
    const up = await waitFor(() => page.evaluate(() => {
      const u = /** @type {any} */ (window).streamdDemo.upload;
      return u.state !== 'running' && u;
    }), 'upload finished', 90000);
    assert.equal(up.state, 'done', up.error);
    assert.ok(up.resumedAt > 0, `resumed at ${up.resumedAt}`);
    assert.equal(await page.getAttribute('#conn', 'data-transport'), 'webtransport');
    const stored = readFileSync(join(s1.dataDir, 'wt-cut.bin'));
    assert.equal(createHash('sha256').update(stored).digest('hex'), createHash('sha256').update(data).digest('hex'));
    await page.close();
  } finally {
    await s1.stop();
    await s2?.stop();
  }
});
