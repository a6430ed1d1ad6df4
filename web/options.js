// @ts-check
/**
 * Session options and small helpers of session.js.
 *
 * @module
 */

import { toBytes } from './stream.js';
import { decodable } from './compress.js';

const enc = new TextEncoder();

/** Protocol version spoken by this client. */
export const PROTOCOL_VERSION = 1;
/** Client identification sent in HELLO. */
export const CLIENT_NAME = 'streamd-js/0.1';

/**
 * Session options. Every field is optional; the comment gives the default.
 * @typedef {object} SessionOptions
 * @property {number} [maxFrame] largest frame data accepted (65,536)
 * @property {number} [maxMessage] largest message accepted (1,048,576)
 * @property {number} [window] initial receive window per stream (1 MiB; measured: 51 MB/s with 256 KiB vs 101 MB/s with 4 MiB for one download in Chromium)
 * @property {number} [maxWindow] ceiling of window auto-tuning (8 MiB)
 * @property {number} [sendBuffer] bytes a stream may queue ahead of the writer (1 MiB)
 * @property {string[]} [compression] algorithms to offer for decoding (what the platform decodes: zstd if available, gzip)
 * @property {boolean} [compressOutgoing] compress outgoing data when it pays (true)
 * @property {number} [compressThreshold] smallest payload worth compressing (512)
 * @property {number} [handshakeTimeout] ms to wait for WELCOME (10,000)
 * @property {number} [requestTimeout] default request timeout in ms (30,000)
 * @property {number} [maxQueuedControl] control frames that may wait for the writer (4,096)
 * @property {string} [auth] credential for HELLO's "auth" (transports without headers)
 * @property {boolean} [resumable] ask for a resumable session: a lost transport detaches the
 *   session, Session.resumeOn (the Client does it) continues it on a new one (true)
 * @property {number} [replayBuffer] most sent-but-unacknowledged bytes a stream keeps for a
 *   resume (16 MiB; the server's ACKs keep it at about one window)
 * @property {string[]} [layouts] dataset layouts this client decodes, in preference order (["batched", "rows"]; docs/DATASET.md §4)
 */

/**
 * dataBytes converts request/event data: bytes as they are, strings as UTF-8,
 * anything else as JSON.
 * @param {any} data
 */
export function dataBytes(data) {
  if (data === undefined || data === null) return new Uint8Array(0);
  if (typeof data === 'string') return enc.encode(data);
  if (data instanceof Uint8Array || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return toBytes(data);
  return enc.encode(JSON.stringify(data));
}

/**
 * withDefaults fills in SessionOptions.
 * @param {SessionOptions} o
 * @returns {Required<Omit<SessionOptions, 'auth'>> & SessionOptions}
 */
export function withDefaults(o) {
  return {
    maxFrame: 65536, maxMessage: 1 << 20, window: 1 << 20, maxWindow: 8 << 20, sendBuffer: 1 << 20,
    compression: [...decodable], compressOutgoing: true, compressThreshold: 512,
    handshakeTimeout: 10000, requestTimeout: 30000, maxQueuedControl: 4096, layouts: ['batched', 'rows'],
    resumable: true, replayBuffer: 16 << 20,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  };
}

/**
 * parseMeta parses metadata text ("" means {}).
 * @param {string} text
 */
export function parseMeta(text) {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/**
 * concatParts joins encoded frames into one message.
 * @param {Uint8Array[]} parts
 * @param {number} size
 */
export function concatParts(parts, size) {
  const out = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/**
 * helloOf builds the HELLO JSON of options o.
 * @param {ReturnType<typeof withDefaults>} o
 */
export function helloOf(o) {
  return {
    versions: [PROTOCOL_VERSION], compression: o.compression, maxFrame: o.maxFrame,
    maxMessage: o.maxMessage, window: o.window, client: CLIENT_NAME,
    ...(o.resumable ? { resumable: true } : {}),
    ...(o.layouts ? { layouts: o.layouts } : {}),
    ...(o.auth ? { auth: o.auth } : {}),
  };
}
