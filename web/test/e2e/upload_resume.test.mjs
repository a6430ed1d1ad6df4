// Resumable uploads in headless Chromium: after a page reload, and after the
// server is killed mid-upload and restarted. Either way the stored file's
// SHA-256 must equal the source's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startServer } from '../server.mjs';
import { launch, skipReason, waitFor } from './harness.mjs';

const skip = skipReason() || false;
const dir = mkdtempSync(join(tmpdir(), 'streamd-resume-'));
/** @type {Awaited<ReturnType<typeof launch>>} */
let browser;

before(async () => { if (!skip) browser = await launch(); });
after(async () => { await browser?.close(); });

/** @param {import('playwright-core').Page} page */
const upState = (page) => page.evaluate(() => /** @type {any} */ (window).streamdDemo.upload);
const sha = (/** @type {Buffer} */ b) => createHash('sha256').update(b).digest('hex');

/**
 * pauseWhenStored lets the upload run until the server reported part of it
 * durable (a CHECKPOINT: every 8 MiB or second), then pauses it (the Pause
 * button: PAUSE on its stream), so that a cut now is mid-upload, always.
 * @param {import('playwright-core').Page} page
 */
async function pauseWhenStored(page) {
  await waitFor(async () => (await upState(page)).durable > 0, 'a checkpoint from the server', 60000);
  await page.click('#up-pause');
  const u = await upState(page);
  assert.equal(u.state, 'running');
  // On a quiet machine everything may be sent by now; what makes the cut fall
  // mid-upload is that the server has not made all of it durable.
  assert.ok(u.durable < u.total, `paused mid-upload (${u.durable} of ${u.total} durable)`);
}

/**
 * startUpload picks file in the page and starts its upload.
 * @param {import('playwright-core').Page} page
 * @param {string} file
 */
async function startUpload(page, file) {
  await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'open', 'connected');
  await page.setInputFiles('#up-file', file);
  await page.click('#up-go');
}

test('an upload resumes after a page reload', { skip }, async () => {
  const srv = await startServer();
  try {
    const data = randomBytes(384 << 20); // still uploading when the page reloads, on a quiet machine too
    const file = join(dir, 'reload.bin');
    writeFileSync(file, data);
    const page = await browser.context.newPage();
    await page.goto(`${srv.base}/?transport=ws`);
    await startUpload(page, file);
    await waitFor(async () => (await upState(page)).sent > 8 << 20, 'a quarter uploaded', 60000);
    await page.reload();
    await waitFor(async () => /interrupted: reload\.bin/.test(await page.textContent('#up-status') ?? ''), 'the interrupted upload shown');
    await startUpload(page, file);
    const up = await waitFor(async () => { const u = await upState(page); return u.state !== 'running' && u; }, 'upload finished', 90000);
    assert.equal(up.state, 'done', up.error);
    assert.ok(up.resumedAt > 0, `resumed at ${up.resumedAt}`);
    assert.equal(sha(readFileSync(join(srv.dataDir, 'reload.bin'))), sha(data));
    await page.close();
  } finally {
    await srv.stop();
  }
});

test('an upload cut by a server crash resumes after the restart', { skip }, async () => {
  const s1 = await startServer();
  let s2;
  try {
    // Large enough that, on a quiet machine too, the first checkpoint comes
    // back (and the test pauses) long before the upload could finish.
    const data = randomBytes(384 << 20);
    const file = join(dir, 'cut.bin');
    writeFileSync(file, data);
    const page = await browser.context.newPage();
    await page.goto(`${s1.base}/?transport=ws`);
    await startUpload(page, file);
    await pauseWhenStored(page);
    s1.proc.kill('SIGKILL'); // a cut: no GOAWAY, no goodbye
    await s1.stop();
    await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'reconnecting', 'the page noticed');
    // The restarted server does not know the session (RESUME_REJECTED): the
    // page reopens the upload by its id, from what the server made durable.
    s2 = await startServer({ addr: s1.addr, dataDir: s1.dataDir });
    await waitFor(async () => (await upState(page)).resumedAt > 0, 'the upload reopened by id', 60000);
    await page.click('#up-pause'); // resume
    const up = await waitFor(async () => { const u = await upState(page); return u.state !== 'running' && u; }, 'upload finished', 90000);
    assert.equal(up.state, 'done', up.error);
    assert.ok(up.resumedAt > 0 && up.attempts >= 2, `resumed at ${up.resumedAt} after ${up.attempts} attempts`);
    assert.equal(sha(readFileSync(join(s1.dataDir, 'cut.bin'))), sha(data));
    await page.close();
  } finally {
    await s1.stop();
    await s2?.stop();
  }
});

test('a transport cut mid-upload resumes the session: the same stream goes on', { skip }, async () => {
  const srv = await startServer();
  try {
    const data = randomBytes(384 << 20); // see the crash test: mid-upload on a quiet machine too
    const file = join(dir, 'session-cut.bin');
    writeFileSync(file, data);
    const page = await browser.context.newPage();
    await page.goto(`${srv.base}/?transport=ws`);
    await startUpload(page, file);
    // Pause early (not at the first checkpoint, which on a quiet machine comes
    // after all 64 MiB were sent): the cut must fall mid-upload.
    await waitFor(async () => (await upState(page)).sent > 2 << 20, 'the upload under way', 60000);
    await page.click('#up-pause');
    const paused = await upState(page);
    assert.ok(paused.sent < paused.total, `paused mid-upload (${paused.sent} of ${paused.total})`);
    // Close the WebSocket under the session, as a dropped connection would.
    await page.evaluate(() => /** @type {any} */ (window).streamdDemo.client.session.transport.ws.close());
    await waitFor(() => page.evaluate(() => /** @type {any} */ (window).streamdDemo.sessionResumes === 1), 'the session resumed');
    await page.click('#up-pause'); // resume
    const up = await waitFor(async () => { const u = await upState(page); return u.state !== 'running' && u; }, 'upload finished', 90000);
    assert.equal(up.state, 'done', up.error);
    assert.equal(up.attempts, 1, 'no new upload stream: the session resumed');
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).streamdDemo.sessionResumes), 1);
    assert.match(await page.textContent('#conn-text') ?? '', /resumed 1×/);
    assert.equal(sha(readFileSync(join(srv.dataDir, 'session-cut.bin'))), sha(data));
    await page.close();
  } finally {
    await srv.stop();
  }
});
