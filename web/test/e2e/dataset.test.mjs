// The dataset view in headless Chromium: an export of the demo table fills the
// table as batches arrive (docs/DATASET.md §13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../server.mjs';
import { launch, skipReason, serverHas, waitFor } from './harness.mjs';

const skip = skipReason() || (serverHas('--demo-rows') ? false : 'streamd serve has no dataset export yet');

test('an export of the demo table fills the table as batches arrive', { skip }, async () => {
  const srv = await startServer({ args: ['--demo-rows', '20000'] });
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${srv.base}/?transport=ws`);
    await waitFor(async () => !(await page.locator('#ds-card').isHidden()), 'the dataset card (dataset/list answered)');
    assert.ok(await page.locator('#ds-name option[value="demo"]').count(), 'the demo dataset is listed');
    await page.selectOption('#ds-name', 'demo');
    await page.click('#ds-go');
    const ds = await waitFor(() => page.evaluate(() => {
      const d = /** @type {any} */ (window).streamdDemo.dataset;
      return d.state !== 'running' && d;
    }), 'the export finished', 60000);
    assert.equal(ds.state, 'done', ds.error);
    assert.equal(ds.rows, 20000);
    assert.equal(ds.total, 20000);
    assert.ok(ds.firstRowsMs >= 0);
    const headers = await page.$$eval('#ds-table thead th', (ths) => ths.map((th) => th.textContent));
    assert.deepEqual(headers, ['id', 'name', 'score', 'active', 'created_at', 'day']);
    assert.equal(await page.locator('#ds-table tbody tr').count(), 2000, 'the view keeps the first 2,000 rows');
    const first = await page.$$eval('#ds-table tbody tr:first-child td', (tds) => tds.map((td) => td.textContent));
    assert.equal(first[0], '0');
    assert.match(await page.textContent('#ds-status') ?? '', /20,000 rows in/);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await browser.close();
    await srv.stop();
  }
});
