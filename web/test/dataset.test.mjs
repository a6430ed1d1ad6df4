// The dataset decoder against testdata/dataset/batched.json (docs/DATASET.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeBatch, DatasetError, MessageReader, readDataset } from '../dataset.js';
import { fromHex, toHex } from './vectorjson.mjs';

const file = JSON.parse(readFileSync(new URL('../../testdata/dataset/batched.json', import.meta.url), 'utf8'));

/** vectorForm renders a decoded value in the vector JSON form. */
function vectorForm(v, col) {
  if (v === null) return null;
  switch (col.type) {
    case 'int64': case 'timestamp': return v.toString();
    case 'float64':
      if (Number.isNaN(v)) return 'NaN';
      if (v === Infinity) return 'Infinity';
      if (v === -Infinity) return '-Infinity';
      if (Object.is(v, -0)) return '-0';
      return v;
    case 'binary': return toHex(v);
    default: return v;
  }
}

for (const v of file.vectors) {
  test(`batched ${v.name}`, () => {
    const b = decodeBatch(fromHex(v.hex), v.schema);
    for (const want of v.columns) {
      const col = v.schema.columns.find((c) => c.name === want.name);
      assert.deepEqual(b.columns[want.name].map((x) => vectorForm(x, col)), want.values, want.name);
    }
  });
}

for (const v of file.invalid) {
  test(`batched invalid ${v.name}`, () => {
    assert.throws(() => decodeBatch(fromHex(v.hex), v.schema), DatasetError, v.reason);
  });
}

test('a framed stream yields the header, then batches, as they arrive', async () => {
  const v = file.vectors[0];
  const enc = new TextEncoder();
  const frame = (b) => { const out = new Uint8Array(4 + b.length); new DataView(out.buffer).setUint32(0, b.length, true); out.set(b, 4); return out; };
  const header = enc.encode(JSON.stringify({ version: 1, schema: v.schema, layout: 'batched', batch_rows: 8, total_rows: 6, start_row: 0 }));
  const all = new Uint8Array([...frame(header), ...frame(fromHex(v.hex)), ...frame(fromHex(v.hex))]);
  const got = [];
  const readable = new ReadableStream({
    start(c) { for (let i = 0; i < all.length; i += 5) c.enqueue(all.slice(i, i + 5)); c.close(); },
  });
  const res = await readDataset(readable, { onBatch: (b) => got.push([b.firstRow, b.rows, b.columns.name]) });
  assert.equal(res.rows, 6);
  assert.deepEqual(got, [[0, 3, ['hi', null, 'é']], [3, 3, ['hi', null, 'é']]]);
  const short = new ReadableStream({ start(c) { c.enqueue(all.slice(0, all.length - 96 - 4)); c.close(); } });
  await assert.rejects(readDataset(short, { onBatch() {} }), /ended after 3 of 6 rows/);
  assert.throws(() => new MessageReader(10).push(new Uint8Array([11, 0, 0, 0])), DatasetError);
});
