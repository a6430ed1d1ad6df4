import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SHA256, toHex } from '../sha256.js';

test('known digests', () => {
  assert.equal(toHex(new SHA256().digest()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(toHex(new SHA256().update(new TextEncoder().encode('hello')).digest()),
    '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
});

test('incremental equals one-shot for every split of random data', () => {
  for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 100_000]) {
    const data = new Uint8Array(randomBytes(size));
    const want = createHash('sha256').update(data).digest('hex');
    const h = new SHA256();
    for (let pos = 0; pos < size;) {
      const n = Math.min(size - pos, 1 + Math.floor(Math.random() * 200));
      h.update(data.subarray(pos, pos + n));
      pos += n;
    }
    assert.equal(toHex(h.digest()), want, `size ${size}`);
  }
});

test('throughput is usable for uploads', () => {
  const data = new Uint8Array(16 << 20);
  const t0 = performance.now();
  new SHA256().update(data).digest();
  const mbs = 16 / ((performance.now() - t0) / 1000);
  console.log(`# sha256.js: ${mbs.toFixed(0)} MB/s`);
  assert.ok(mbs > 0);
});
