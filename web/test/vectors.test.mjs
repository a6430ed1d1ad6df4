// The browser codec against the shared vectors in testdata/wire/vectors.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { decodeMessage, encodeFrame, frameSize, WireError } from '../wire.js';
import { fromHex, toHex, toNative, toVector } from './vectorjson.mjs';

const vectors = JSON.parse(readFileSync(new URL('../../testdata/wire/vectors.json', import.meta.url), 'utf8'));

test('vector file is protocol version 1', () => {
  assert.equal(vectors.protocolVersion, 1);
  assert.ok(vectors.frames.length > 40 && vectors.invalid.length > 40);
});

for (const v of vectors.frames) {
  test(`frame ${v.name}`, () => {
    const got = decodeMessage(fromHex(v.hex), vectors.maxFrame);
    assert.equal(got.length, 1);
    assert.deepEqual(toVector(got[0]), v.frame);
    if (!v.decodeOnly) {
      const native = toNative(v.frame);
      assert.equal(toHex(encodeFrame(native)), v.hex);
      assert.equal(frameSize(native), v.hex.length / 2);
    }
    if (v.plain !== undefined && v.frame.flags === 1) {
      assert.equal(toHex(gunzipSync(fromHex(v.frame.data))), v.plain); // gzip: what DecompressionStream does
    }
  });
}

for (const v of vectors.messages) {
  test(`message ${v.name}`, () => {
    const got = decodeMessage(fromHex(v.hex), vectors.maxFrame);
    assert.deepEqual(got.map(toVector), v.frames);
  });
}

for (const v of vectors.invalid) {
  test(`invalid ${v.name}`, () => {
    assert.throws(() => decodeMessage(fromHex(v.hex), vectors.maxFrame), (err) => {
      assert.ok(err instanceof WireError, `${err}`);
      assert.equal(err.code, v.error, err.message);
      return true;
    });
  });
}
