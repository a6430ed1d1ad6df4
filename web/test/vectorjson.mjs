// Conversion between the JSON form of frames in testdata/wire/vectors.json
// (schema: testdata/wire/README.md) and the codec's native frames.
import { Buffer } from 'node:buffer';

/** @param {string} h */
export const fromHex = (h) => new Uint8Array(Buffer.from(h, 'hex'));
/** @param {Uint8Array} b */
export const toHex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

const u64 = new Set(['window', 'offset', 'limit', 'total', 'received']);
const bytes = new Set(['data', 'checksum', 'token']);

/**
 * toNative converts a vector frame object to a codec frame.
 * @param {Record<string, any>} v
 */
export function toNative(v) {
  /** @type {Record<string, any>} */
  const f = {};
  for (const [k, val] of Object.entries(v)) {
    if (u64.has(k)) f[k] = BigInt(val);
    else if (bytes.has(k)) f[k] = fromHex(val);
    else f[k] = val;
  }
  return f;
}

/**
 * toVector converts a codec frame to the vector JSON form (member order kept).
 * @param {Record<string, any>} f
 */
export function toVector(f) {
  /** @type {Record<string, any>} */
  const v = {};
  for (const [k, val] of Object.entries(f)) {
    if (typeof val === 'bigint') v[k] = val.toString();
    else if (val instanceof Uint8Array) v[k] = toHex(val);
    else v[k] = val;
  }
  return v;
}
