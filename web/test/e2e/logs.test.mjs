// Live logs in real headless Chromium: a tailed file's lines appear in the
// page, and five tabs follow one topic while one of them stops reading.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startServer } from '../server.mjs';
import { launch, skipReason, serverHas, waitFor } from './harness.mjs';

const skip = skipReason() || (serverHas('--tail') ? false : 'streamd serve has no --tail yet');
const dir = mkdtempSync(join(tmpdir(), 'streamd-logs-'));
const logFile = join(dir, 'app.log');
/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
/** @type {Awaited<ReturnType<typeof launch>>} */
let browser;

before(async () => {
  if (skip) return;
  writeFileSync(logFile, 'boot line\n');
  srv = await startServer({ args: ['--tail', `logs=${logFile}`] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** @param {import('playwright-core').Page} page */
const logState = (page) => page.evaluate(() => /** @type {any} */ (window).streamdDemo.log);

/** @param {string} query */
async function followPage(query) {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error('pageerror:', e.message));
  await page.goto(`${srv.base}/?transport=ws&topic=logs&${query}`);
  await waitFor(async () => (await page.textContent('#log-status'))?.startsWith('following'), 'following');
  return page;
}

test('a line appended to the tailed file appears in the page', { skip }, async () => {
  const page = await followPage('last=10');
  const marker = `hello from the e2e test ${Date.now()}`;
  appendFileSync(logFile, `${marker}\n`);
  await waitFor(() => page.locator('#log li.line', { hasText: marker }).count(), 'the appended line in the page');
  assert.ok(await page.locator('#log li.line', { hasText: 'boot line' }).count(), 'last=10 replayed the earlier line');
  await page.close();
});

test('five tabs follow one topic; one stops reading, the other four keep receiving', { skip }, async () => {
  const pages = [];
  for (let i = 0; i < 5; i++) pages.push(await followPage('last=0'));
  const [stalled, ...live] = pages;
  await stalled.click('#log-pause'); // stops reading: no more credit from this tab
  appendFileSync(logFile, 'sync\n');
  await waitFor(async () => (await live[0].locator('#log li.line', { hasText: 'sync' }).count()), 'the sync line');
  const start = (await logState(live[0])).lastSeq;
  const pad = 'x'.repeat(80);
  let n = 0;
  const lines = (/** @type {number} */ count) => {
    let chunk = '';
    for (let i = 0; i < count; i++, n++) chunk += `line ${n} ${pad}\n`;
    return chunk;
  };
  // A burst that fills the stalled tab's window (256 KiB) and part of its
  // server queue, so it really holds its sender back; the reading tabs absorb
  // it within their own queue (1 MiB) even when starved of CPU for a while.
  appendFileSync(logFile, lines(6000));
  // Then the publisher goes on writing while the stalled tab stays stalled.
  for (let b = 0; b < 20; b++) {
    appendFileSync(logFile, lines(100));
    await new Promise((r) => setTimeout(r, 100));
  }
  const want = start + n;
  for (const p of live) {
    await waitFor(async () => (await logState(p)).lastSeq >= want, 'a reading tab to receive every line', 60000);
    const s = await logState(p);
    assert.equal(s.gaps, 0, 'a reading tab lost nothing');
    assert.equal(s.lastSeq, want);
  }
  const st = await logState(stalled);
  assert.ok(st.lastSeq < want, `the stalled tab did not read on (${st.lastSeq} < ${want})`);
  // Far more than the stalled tab's window and queue: the server drops the
  // oldest of its queue and, when it reads again, tells it what it missed.
  for (const p of live) await p.close();
  appendFileSync(logFile, lines(32000)); // ~3 MB
  const end = start + n;
  await stalled.click('#log-pause');
  await waitFor(async () => (await logState(stalled)).lastSeq >= end, 'the stalled tab to catch up to the end', 60000);
  const after = await logState(stalled);
  assert.ok(after.gaps >= 1 && after.lostRecords > 0, `gap reported: ${JSON.stringify(after)}`);
  // (The gap row itself has scrolled out of the 5,000 rows the view keeps.)
  await stalled.close();
});

test('after a page reload the log resumes at its position: nothing repeated, nothing lost', { skip }, async () => {
  const page = await followPage('last=5');
  appendFileSync(logFile, 'before reload\n');
  await waitFor(() => page.locator('#log li.line', { hasText: 'before reload' }).count(), 'the line before the reload');
  const seq = (await logState(page)).lastSeq;
  await page.evaluate(() => new Promise((r) => setTimeout(r, 300))); // the position is saved every 250 ms
  await page.goto('about:blank');
  appendFileSync(logFile, 'while away\n');
  await page.goBack();
  await waitFor(() => page.locator('#log li.line', { hasText: 'while away' }).count(), 'the line written while away');
  const seqs = await page.$$eval('#log li.line .seq', (els) => els.map((e) => Number(e.textContent)));
  assert.deepEqual(seqs, [seq + 1], 'only the record after the saved position');
  assert.equal(await page.locator('#log li.info', { hasText: 'resuming' }).count(), 1);
  await page.close();
});
