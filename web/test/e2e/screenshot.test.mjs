// Takes a screenshot of the demo page in use (a followed log, a finished
// upload). It is written to $STREAMD_SCREENSHOT when set (docs/demo.png is made
// with `STREAMD_SCREENSHOT=docs/demo.png node --test web/test/e2e/screenshot.test.mjs`).
// Without it the test is skipped: the other tests cover the same page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync, mkdtempSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { startServer } from '../server.mjs';
import { launch, skipReason, serverHas, waitFor } from './harness.mjs';

const skip = skipReason() || (process.env.STREAMD_SCREENSHOT ? false : 'set STREAMD_SCREENSHOT=PATH to take the screenshot');

test('screenshot of the demo page in use', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamd-shot-'));
  const logFile = join(dir, 'app.log');
  const tail = serverHas('--tail');
  const levels = ['INFO', 'INFO', 'INFO', 'WARN', 'INFO', 'DEBUG'];
  const line = (i) => `2026-11-27T15:${String(10 + (i >> 4)).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}Z ${levels[i % levels.length]} request served method=GET path=/api/items/${1000 + i} status=200 bytes=${512 + ((i * 97) % 4096)} ms=${(i * 13) % 90}`;
  writeFileSync(logFile, Array.from({ length: 30 }, (_, i) => line(i) + '\n').join(''));
  const datasets = serverHas('--demo-rows');
  const srv = await startServer({ args: [...(tail ? ['--tail', `logs=${logFile}`] : []), ...(datasets ? ['--demo-rows', '50000'] : [])] });
  writeFileSync(join(srv.dataDir, 'report-2026-11.csv'), 'id,name\n'.repeat(2000));
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${srv.base}/?transport=ws${tail ? '&topic=logs&last=30' : ''}`);
    await waitFor(async () => (await page.getAttribute('#conn', 'data-state')) === 'open', 'connected');
    if (tail) {
      await waitFor(async () => (await page.locator('#log li.line').count()) >= 30, 'log lines');
      appendFileSync(logFile, Array.from({ length: 8 }, (_, i) => line(30 + i) + '\n').join(''));
      await waitFor(async () => (await page.locator('#log li.line').count()) >= 38, 'new log lines');
    }
    const file = join(dir, 'photos-2026.tar');
    writeFileSync(file, Buffer.alloc(24 << 20, 1));
    await page.setInputFiles('#up-file', file);
    await page.click('#up-go');
    await waitFor(() => page.evaluate(() => /** @type {any} */ (window).streamdDemo.upload.state === 'done'), 'upload done', 60000);
    await waitFor(() => page.locator('#files td', { hasText: 'photos-2026.tar' }).count(), 'file listed');
    if (datasets) {
      await waitFor(async () => !(await page.locator('#ds-card').isHidden()), 'the dataset card');
      await page.click('#ds-go');
      await waitFor(() => page.evaluate(() => /** @type {any} */ (window).streamdDemo.dataset.state === 'done'), 'the export', 60000);
    }
    await waitFor(async () => (await page.textContent('#conn-rtt')) !== '–', 'a measured RTT');
    const out = resolve(/** @type {string} */ (process.env.STREAMD_SCREENSHOT));
    await page.screenshot({ path: out, fullPage: true });
    assert.ok(statSync(out).size > 10000);
    await page.close();
  } finally {
    await browser.close();
    await srv.stop();
  }
});
