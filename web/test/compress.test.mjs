// Per-frame compression: the gzip vector, the decompression-bomb cap, junk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { decompress, compress, compressible, CompressionError } from '../compress.js';
import { fromHex, toHex } from './vectorjson.mjs';

const vectors = JSON.parse(readFileSync(new URL('../../testdata/wire/vectors.json', import.meta.url), 'utf8'));

test('the gzip vectors decompress to their plain text', async () => {
  const gz = vectors.frames.filter((v) => v.plain !== undefined && v.frame.flags === 1);
  assert.ok(gz.length >= 2);
  for (const v of gz) assert.equal(toHex(await decompress('gzip', fromHex(v.frame.data), vectors.maxFrame)), v.plain, v.name);
});

test('output beyond the cap is a CompressionError (decompression bomb)', async () => {
  const bomb = new Uint8Array(gzipSync(Buffer.alloc(1 << 20)));
  assert.ok(bomb.length < 2048);
  await assert.rejects(decompress('gzip', bomb, 65536), (e) => e instanceof CompressionError && /beyond 65536/.test(e.message));
  assert.equal((await decompress('gzip', bomb, 1 << 20)).length, 1 << 20);
});

test('junk and trailing bytes are CompressionErrors', async () => {
  await assert.rejects(decompress('gzip', new Uint8Array([1, 2, 3, 4]), 1024), CompressionError);
  const ok = new Uint8Array(gzipSync(Buffer.from('hello')));
  const trailing = new Uint8Array([...ok, 0x42]);
  await assert.rejects(decompress('gzip', trailing, 1024), CompressionError);
});

test('compress round-trips; compressible tells text from random', async () => {
  const text = new TextEncoder().encode('{"level":"info","msg":"request served"}\n'.repeat(200));
  const out = await compress('gzip', text);
  assert.ok(out.length < text.length / 10);
  assert.deepEqual(await decompress('gzip', out, 1 << 20), text);
  assert.equal(compressible(text), true);
  assert.equal(compressible(crypto.getRandomValues(new Uint8Array(65536))), false);
});
