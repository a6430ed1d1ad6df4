// @ts-check
/**
 * Per-frame compression with the platform's CompressionStream and
 * DecompressionStream (docs/PROTOCOL.md §5). Browsers decode gzip; zstd only
 * where the platform's DecompressionStream accepts "zstd", which is probed at
 * load time, so the client offers exactly what it can decode.
 *
 * @module
 */

import { Compression } from './wire.js';

/**
 * supported reports whether the platform has a (de)compression stream for name.
 * @param {'gzip'|'zstd'} name
 * @param {boolean} compress true: CompressionStream, false: DecompressionStream
 */
function supported(name, compress) {
  try {
    // @ts-ignore: "zstd" is not in every lib.dom CompressionFormat yet
    if (compress) new CompressionStream(name); else new DecompressionStream(name);
    return true;
  } catch {
    return false;
  }
}

/** Algorithms this platform can decode, in preference order (zstd first). */
export const decodable = /** @type {Array<'zstd'|'gzip'>} */ (
  typeof DecompressionStream === 'undefined' ? [] : (['zstd', 'gzip']).filter((n) => supported(/** @type {'zstd'|'gzip'} */ (n), false)));

/** Algorithms this platform can encode. */
export const encodable = /** @type {Array<'zstd'|'gzip'>} */ (
  typeof CompressionStream === 'undefined' ? [] : (['zstd', 'gzip']).filter((n) => supported(/** @type {'zstd'|'gzip'} */ (n), true)));

/** CompressionError is undecodable data or data that inflates beyond its cap. */
export class CompressionError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'CompressionError';
  }
}

/**
 * algorithmName maps a frame's compression bits to the name of its algorithm.
 * @param {number} bits
 */
export function algorithmName(bits) {
  switch (bits) {
    case Compression.gzip: return 'gzip';
    case Compression.zstd: return 'zstd';
    default: return '';
  }
}

/**
 * decompress inflates one frame's data. It stops reading as soon as the output
 * exceeds max bytes (a decompression bomb), so memory stays bounded.
 * @param {'gzip'|'zstd'} alg
 * @param {Uint8Array} data
 * @param {number} max
 * @returns {Promise<Uint8Array>}
 */
export async function decompress(alg, data, max) {
  let ds;
  try {
    // @ts-ignore: see supported
    ds = new DecompressionStream(alg);
  } catch {
    throw new CompressionError(`${alg} is not supported here`);
  }
  const writer = ds.writable.getWriter();
  writer.write(data).catch(() => {});
  writer.close().catch(() => {});
  const reader = ds.readable.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) {
        reader.cancel().catch(() => {});
        throw new CompressionError(`${alg} data inflates beyond ${max} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof CompressionError) throw err;
    throw new CompressionError(`${alg}: ${err instanceof Error ? err.message : err}`);
  }
  return concat(chunks, total);
}

/**
 * compress deflates data with alg.
 * @param {'gzip'|'zstd'} alg
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function compress(alg, data) {
  // @ts-ignore: see supported
  const cs = new CompressionStream(alg);
  const writer = cs.writable.getWriter();
  writer.write(data).catch(() => {});
  writer.close().catch(() => {});
  const reader = cs.readable.getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    chunks.push(value);
  }
  return concat(chunks, total);
}

/**
 * concat joins chunks of total bytes.
 * @param {Uint8Array[]} chunks
 * @param {number} total
 */
export function concat(chunks, total) {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

const SAMPLE = 2048;
const hist = new Uint32Array(256);

/**
 * compressible is a cheap guess whether data is worth compressing, ported from
 * the Go sender (stream/internal/compress): the byte entropy of a 2 KiB sample
 * (start, middle, end); random or already-compressed data (~7.9 bits/byte)
 * says no. A CompressionStream round costs far more than this check, so
 * uploads of photos, videos and archives skip it.
 * @param {Uint8Array} b
 */
export function compressible(b) {
  if (b.length < 64) return true;
  hist.fill(0);
  let n = 0;
  if (b.length <= SAMPLE) {
    for (let i = 0; i < b.length; i++) hist[b[i]]++;
    n = b.length;
  } else {
    const part = Math.floor(SAMPLE / 3);
    const mid = (b.length >> 1) - (part >> 1);
    for (const start of [0, mid, b.length - part]) {
      for (let i = start; i < start + part; i++) hist[b[i]]++;
    }
    n = 3 * part;
  }
  let sum = 0;
  for (let i = 0; i < 256; i++) {
    const h = hist[i];
    if (h > 1) sum += h * Math.log2(h);
  }
  return Math.log2(n) - sum / n <= 7.5;
}
