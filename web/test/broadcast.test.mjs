// The broadcast record codec against testdata/broadcast/vectors.json
// (docs/PROTOCOL.md §9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RecordParser, RecordError, encodeRecord } from '../broadcast.js';
import { fromHex, toHex } from './vectorjson.mjs';

const vectors = JSON.parse(readFileSync(new URL('../../testdata/broadcast/vectors.json', import.meta.url), 'utf8'));
const MAX = 2n ** 64n - 1n;

/** toVector renders a parsed record in the vector form. */
function toVector(r) {
  switch (r.type) {
    case 'data': return { type: 'DATA', seq: String(r.seq), data: toHex(r.data) };
    case 'gap': return { type: 'GAP', records: String(r.records), bytes: r.bytes < 0 ? MAX.toString() : String(r.bytes) };
    case 'epoch': return { type: 'EPOCH', epoch: String(r.epoch), previous: String(r.previous) };
  }
  throw new Error(`unexpected ${r.type}`);
}

/** fromVector builds a record from the vector form. */
function fromVector(v) {
  switch (v.type) {
    case 'DATA': return { type: 'data', seq: Number(v.seq), data: fromHex(v.data) };
    case 'GAP': return { type: 'gap', records: Number(v.records), bytes: BigInt(v.bytes) === MAX ? -1 : Number(v.bytes) };
    case 'EPOCH': return { type: 'epoch', epoch: Number(v.epoch), previous: Number(v.previous) };
  }
  throw new Error(`unexpected ${v.type}`);
}

/** parseAll decodes hex chunk by chunk (step bytes at a time) and finishes. */
function parseAll(hex, step) {
  const b = fromHex(hex);
  const p = new RecordParser(vectors.maxRecord);
  const out = [];
  for (let i = 0; i < b.length; i += step) out.push(...p.push(b.subarray(i, i + step)));
  if (b.length === 0) out.push(...p.push(b));
  p.finish();
  return out;
}

for (const v of vectors.records) {
  test(`record ${v.name}`, () => {
    const got = parseAll(v.hex, v.hex.length);
    assert.equal(got.length, 1);
    assert.deepEqual(toVector(got[0]), v.record);
    assert.equal(toHex(encodeRecord(fromVector(v.record))), v.hex);
  });
}

for (const v of vectors.streams) {
  test(`stream ${v.name}`, () => {
    for (const step of [1, 3, 7, 1 << 20]) {
      assert.deepEqual(parseAll(v.hex, step).map(toVector), v.records, `chunks of ${step}`);
    }
  });
}

for (const v of vectors.invalid) {
  test(`invalid ${v.name}`, () => {
    assert.throws(() => parseAll(v.hex, 1 << 20), (err) => {
      assert.ok(err instanceof RecordError, String(err));
      assert.equal(err.code, v.error, err.message);
      return true;
    });
  });
}

test('epochs: a restarted source is flagged, data records carry their epoch', () => {
  const p = new RecordParser();
  const recs = p.push(new Uint8Array([
    ...encodeRecord({ type: 'epoch', epoch: 7, previous: 0 }),
    ...encodeRecord({ type: 'data', seq: 1, data: new TextEncoder().encode('a') }),
    ...encodeRecord({ type: 'epoch', epoch: 8, previous: 7 }),
    ...encodeRecord({ type: 'data', seq: 1, data: new Uint8Array(0) }),
  ]));
  assert.deepEqual(recs.map((r) => [r.type, r.epoch, r.changed ?? null]), [['epoch', 7, false], ['data', 7, null], ['epoch', 8, true], ['data', 8, null]]);
});
