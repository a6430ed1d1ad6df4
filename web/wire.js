// @ts-check
/**
 * The streamd wire codec, protocol version 1 (docs/PROTOCOL.md): frame types,
 * error codes, and the encoder and decoder of frames. Pure functions, no I/O:
 * it runs unchanged in browsers and in Node (where web/test checks it against
 * testdata/wire/vectors.json).
 *
 * A frame is a plain object `{type, flags, streamId, ...payload}` whose payload
 * members are named as in testdata/wire/README.md, with native types: u64
 * fields are BigInt, byte fields Uint8Array, text and JSON fields string.
 * Decoded byte fields are views into the message (no copy): copy them if the
 * message buffer is reused.
 *
 * @module
 */

/** Frame types (docs/PROTOCOL.md §3). */
export const FrameType = Object.freeze({
  HELLO: 0x01, WELCOME: 0x02, OPEN: 0x03, ACCEPT: 0x04, DATA: 0x05, CREDIT: 0x06,
  PAUSE: 0x07, RESUME: 0x08, CLOSE: 0x09, CANCEL: 0x0a, ERROR: 0x0b, PING: 0x0c,
  PONG: 0x0d, GOAWAY: 0x0e, EVENT: 0x0f, REQUEST: 0x10, REPLY: 0x11, CHECKPOINT: 0x12,
  ACK: 0x13,
});

/** @type {Record<number, string>} */
const typeNames = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));

/** Stream kinds (docs/PROTOCOL.md §3.1). */
export const Kind = Object.freeze({ upload: 1, download: 2, bidi: 3, broadcast: 4 });

/** Error codes (docs/PROTOCOL.md §6). */
export const Code = Object.freeze({
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 4, STREAM_LIMIT: 5, NO_ROUTE: 6, CANCELLED: 7, REFUSED: 8,
  TIMEOUT: 9, COMPRESSION_ERROR: 10, INTEGRITY_ERROR: 11, GOING_AWAY: 12,
  UNAUTHORIZED: 13, BUSY: 14, CONTROL_QUEUE_FULL: 15, UNSUPPORTED_VERSION: 16,
  RESUME_REJECTED: 17, MESSAGE_TOO_LARGE: 18, NOT_FOUND: 19, INVALID_ARGUMENT: 20,
  SLOW_CONSUMER: 21, GAP: 22, OFFSET_MISMATCH: 23,
});

/** @type {Record<number, string>} */
const codeNames = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));

/**
 * codeName returns the spec name of an error code ("NO_ROUTE"), or
 * "APPLICATION_0x1234" for codes outside the table.
 * @param {number} code
 */
export function codeName(code) {
  return codeNames[code] ?? `APPLICATION_0x${code.toString(16)}`;
}

/**
 * typeName returns the spec name of a frame type ("DATA") or "UNKNOWN_0x13".
 * @param {number} t
 */
export function typeName(t) {
  return typeNames[t] ?? `UNKNOWN_0x${t.toString(16).padStart(2, '0')}`;
}

/** Flag bits. */
export const FLAG_COMPRESS_MASK = 0x03;
/** OPEN: both CLOSEs carry a SHA-256; CLOSE: a SHA-256 follows the total. */
export const FLAG_CHECKSUM = 0x01;
/** ACK: the peer's CLOSE arrived too. */
export const FLAG_FIN = 0x01;
/** Compression values of the flag bits 0–1 (docs/PROTOCOL.md §5). */
export const Compression = Object.freeze({ none: 0, gzip: 1, zstd: 2 });

/** Sizes and caps (docs/PROTOCOL.md §2–3). */
export const HEADER_LEN = 10;
export const MAX_ROUTE_LEN = 255;
export const MAX_NAME_LEN = 255;
export const MAX_REASON_LEN = 1024;
export const MAX_METADATA_LEN = 65536;
export const MAX_TOKEN_LEN = 1024;
export const MAX_HANDSHAKE_LEN = 65536;
export const DEFAULT_MAX_FRAME = 65536;

/**
 * WireError is a frame that cannot be decoded. `code` is the class of the
 * failure: "EOF" (the input ends inside a frame; inside a whole transport
 * message the peer is told FRAME_SIZE_ERROR), "FRAME_SIZE_ERROR" or
 * "PROTOCOL_ERROR". `wireCode` is the numeric code to report to the peer.
 */
export class WireError extends Error {
  /**
   * @param {"EOF"|"FRAME_SIZE_ERROR"|"PROTOCOL_ERROR"} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'WireError';
    this.code = code;
    this.wireCode = code === 'PROTOCOL_ERROR' ? Code.PROTOCOL_ERROR : Code.FRAME_SIZE_ERROR;
  }
}

/**
 * @typedef {object} FrameHeader
 * @property {string} type spec name of the frame type
 * @property {number} flags the flags a decoder keeps
 * @property {number} streamId stream id (request id for REQUEST/REPLY)
 */
/**
 * A decoded or to-be-encoded frame: the header members plus the payload
 * members of its type (testdata/wire/README.md), e.g. DATA has `offset`
 * (bigint) and `data` (Uint8Array).
 * @typedef {FrameHeader & Record<string, any>} Frame
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * maxPayload returns the largest `length` accepted for type t, or -1 for
 * unknown types (they only have to fit in the message).
 * @param {number} t
 * @param {number} maxFrame
 */
export function maxPayload(t, maxFrame) {
  switch (t) {
    case FrameType.HELLO: case FrameType.WELCOME: return MAX_HANDSHAKE_LEN;
    case FrameType.OPEN: return 12 + MAX_ROUTE_LEN + MAX_METADATA_LEN;
    case FrameType.ACCEPT: return 8 + MAX_METADATA_LEN;
    case FrameType.DATA: return 8 + maxFrame;
    case FrameType.CREDIT: case FrameType.PING: case FrameType.PONG: case FrameType.ACK: return 8;
    case FrameType.PAUSE: case FrameType.RESUME: return 0;
    case FrameType.CLOSE: return 40;
    case FrameType.CANCEL: case FrameType.ERROR: return 4 + MAX_REASON_LEN;
    case FrameType.GOAWAY: return 8 + MAX_REASON_LEN;
    case FrameType.EVENT: return 1 + MAX_NAME_LEN + maxFrame;
    case FrameType.REQUEST: return 5 + MAX_NAME_LEN + maxFrame;
    case FrameType.REPLY: return 4 + maxFrame;
    case FrameType.CHECKPOINT: return 8 + MAX_TOKEN_LEN;
  }
  return -1;
}

// Stream id rules (§3.7): 0 = must be zero, 1 = must be non-zero, 2 = any.
/** @type {Record<number, 0|1|2>} */
const idRules = {
  [FrameType.HELLO]: 0, [FrameType.WELCOME]: 0, [FrameType.PING]: 0, [FrameType.PONG]: 0,
  [FrameType.GOAWAY]: 0, [FrameType.EVENT]: 0, [FrameType.ERROR]: 2,
};

const fsize = (/** @type {string} */ m) => new WireError('FRAME_SIZE_ERROR', m);
const perr = (/** @type {string} */ m) => new WireError('PROTOCOL_ERROR', m);

/**
 * decodeFrame decodes the frame at `pos` of `buf`. It returns the frame (null
 * for a frame of unknown type, which the caller skips) and the bytes consumed.
 * It throws a WireError for a bad frame; lengths are checked from the header
 * before the payload is looked at.
 * @param {Uint8Array} buf
 * @param {number} pos
 * @param {number} [maxFrame] the negotiated maxFrame (default 65,536)
 * @returns {{frame: Frame|null, size: number}}
 */
export function decodeFrame(buf, pos = 0, maxFrame = DEFAULT_MAX_FRAME) {
  const avail = buf.length - pos;
  if (avail <= 0) throw new WireError('EOF', 'empty input');
  if (avail < HEADER_LEN) throw new WireError('EOF', `${avail} bytes, a frame header has ${HEADER_LEN}`);
  const dv = new DataView(buf.buffer, buf.byteOffset + pos, avail);
  const t = dv.getUint8(0);
  const rawFlags = dv.getUint8(1);
  const id = dv.getUint32(2);
  const len = dv.getUint32(6);
  const max = maxPayload(t, maxFrame);
  const name = typeName(t);
  if (max >= 0 && len > max) {
    throw fsize(`${name} frame (stream ${id}): length ${len} exceeds the maximum ${max}`);
  }
  if (HEADER_LEN + len > avail) {
    throw new WireError('EOF', `${name} frame (stream ${id}): length ${len} but only ${avail - HEADER_LEN} payload bytes follow`);
  }
  const size = HEADER_LEN + len;
  if (max < 0) return { frame: null, size };
  const rule = idRules[t] ?? 1;
  if (rule === 0 && id !== 0) throw perr(`${name} frame on stream ${id}, must be on stream 0`);
  if (rule === 1 && id === 0) {
    throw perr(t === FrameType.REQUEST || t === FrameType.REPLY
      ? `${name} frame with request id 0` : `${name} frame on stream 0, needs a stream id`);
  }
  const p = buf.subarray(pos + HEADER_LEN, pos + size);
  const pv = new DataView(p.buffer, p.byteOffset, p.length);
  const short = (/** @type {number} */ need) => {
    if (len < need) throw fsize(`${name} frame (stream ${id}): payload ${len} bytes, fixed fields need ${need}`);
  };
  const exact = (/** @type {number} */ want) => {
    if (len !== want) throw fsize(`${name} frame (stream ${id}): payload ${len} bytes, must be ${want}`);
  };
  const field = (/** @type {string} */ what, /** @type {number} */ n, /** @type {number} */ cap) => {
    if (n > cap) throw fsize(`${name} frame (stream ${id}): ${what} is ${n} bytes, at most ${cap}`);
  };
  const nameAt = (/** @type {number} */ at) => {
    short(at + 1);
    const n = p[at];
    if (n === 0) throw perr(`${name} frame (id ${id}): empty name`);
    if (at + 1 + n > len) throw perr(`${name} frame (id ${id}): name length ${n} runs past the payload (${len} bytes)`);
    return { text: dec.decode(p.subarray(at + 1, at + 1 + n)), rest: p.subarray(at + 1 + n) };
  };
  const cflags = rawFlags & FLAG_COMPRESS_MASK;
  /** @type {Frame} */
  let f;
  switch (t) {
    case FrameType.HELLO: case FrameType.WELCOME:
      f = { type: name, flags: 0, streamId: 0, json: dec.decode(p) };
      break;
    case FrameType.OPEN: {
      short(12);
      const kind = p[0], priority = p[1], routeLen = pv.getUint16(2);
      if (kind < 1 || kind > 4) throw perr(`OPEN frame (stream ${id}): kind ${kind} is not 1-4`);
      if (priority > 7) throw perr(`OPEN frame (stream ${id}): priority ${priority} above 7`);
      if (routeLen === 0 || routeLen > MAX_ROUTE_LEN) throw perr(`OPEN frame (stream ${id}): route length ${routeLen} is not 1-255`);
      if (12 + routeLen > len) throw perr(`OPEN frame (stream ${id}): route length ${routeLen} runs past the payload (${len} bytes)`);
      field('metadata', len - 12 - routeLen, MAX_METADATA_LEN);
      f = {
        type: name, flags: rawFlags & FLAG_CHECKSUM, streamId: id, kind, priority,
        window: pv.getBigUint64(4), route: dec.decode(p.subarray(12, 12 + routeLen)),
        metadata: dec.decode(p.subarray(12 + routeLen)),
      };
      break;
    }
    case FrameType.ACCEPT:
      short(8);
      field('metadata', len - 8, MAX_METADATA_LEN);
      f = { type: name, flags: 0, streamId: id, window: pv.getBigUint64(0), metadata: dec.decode(p.subarray(8)) };
      break;
    case FrameType.DATA:
      short(8);
      f = { type: name, flags: cflags, streamId: id, offset: pv.getBigUint64(0), data: p.subarray(8) };
      break;
    case FrameType.CREDIT:
      exact(8);
      f = { type: name, flags: 0, streamId: id, limit: pv.getBigUint64(0) };
      break;
    case FrameType.ACK:
      exact(8);
      f = { type: name, flags: rawFlags & FLAG_FIN, streamId: id, received: pv.getBigUint64(0) };
      break;
    case FrameType.PAUSE: case FrameType.RESUME:
      exact(0);
      f = { type: name, flags: 0, streamId: id };
      break;
    case FrameType.CLOSE: {
      const sum = (rawFlags & FLAG_CHECKSUM) !== 0;
      exact(sum ? 40 : 8);
      f = { type: name, flags: sum ? FLAG_CHECKSUM : 0, streamId: id, total: pv.getBigUint64(0) };
      if (sum) f.checksum = p.subarray(8, 40);
      break;
    }
    case FrameType.CANCEL: case FrameType.ERROR:
      short(4);
      field('reason', len - 4, MAX_REASON_LEN);
      f = { type: name, flags: 0, streamId: id, code: pv.getUint32(0), reason: dec.decode(p.subarray(4)) };
      break;
    case FrameType.PING: case FrameType.PONG:
      exact(8);
      f = { type: name, flags: 0, streamId: 0, data: p };
      break;
    case FrameType.GOAWAY:
      short(8);
      field('reason', len - 8, MAX_REASON_LEN);
      f = { type: name, flags: 0, streamId: 0, lastStreamId: pv.getUint32(0), code: pv.getUint32(4), reason: dec.decode(p.subarray(8)) };
      break;
    case FrameType.EVENT: {
      const n = nameAt(0);
      f = { type: name, flags: cflags, streamId: 0, name: n.text, data: n.rest };
      break;
    }
    case FrameType.REQUEST: {
      short(5);
      const n = nameAt(4);
      f = { type: name, flags: cflags, streamId: id, timeoutMs: pv.getUint32(0), name: n.text, data: n.rest };
      break;
    }
    case FrameType.REPLY:
      short(4);
      f = { type: name, flags: cflags, streamId: id, code: pv.getUint32(0), data: p.subarray(4) };
      break;
    case FrameType.CHECKPOINT:
      short(8);
      field('token', len - 8, MAX_TOKEN_LEN);
      f = { type: name, flags: 0, streamId: id, offset: pv.getBigUint64(0), token: p.subarray(8) };
      break;
    default:
      throw new Error(`unreachable: type ${t}`);
  }
  return { frame: f, size };
}

/**
 * decodeMessage decodes every frame of one transport message, skipping frames
 * of unknown types. An empty message or a frame running past the end throws a
 * WireError of code "EOF" (report it to the peer as FRAME_SIZE_ERROR).
 * @param {Uint8Array} msg
 * @param {number} [maxFrame]
 * @returns {Frame[]}
 */
export function decodeMessage(msg, maxFrame = DEFAULT_MAX_FRAME) {
  if (msg.length === 0) throw new WireError('EOF', 'empty message');
  /** @type {Frame[]} */
  const out = [];
  for (let pos = 0; pos < msg.length;) {
    const { frame, size } = decodeFrame(msg, pos, maxFrame);
    if (frame) out.push(frame);
    pos += size;
  }
  return out;
}

/**
 * clampText encodes s as UTF-8 and cuts it to at most max bytes at a character
 * boundary (as the Go encoder does).
 * @param {string} s
 * @param {number} max
 */
export function clampText(s, max) {
  let b = enc.encode(s);
  if (b.length <= max) return b;
  let n = max;
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--; // b[n] continues a character: cut before it
  return b.subarray(0, n);
}

const empty = new Uint8Array(0);

/**
 * bytesOf returns the byte field v (Uint8Array, or undefined for empty).
 * @param {Uint8Array|undefined} v
 */
const bytesOf = (v) => v ?? empty;

/**
 * Encoded parts of one frame: header values plus the payload pieces.
 * @typedef {{t: number, flags: number, id: number, parts: Array<Uint8Array|((dv: DataView, at: number) => number)>, len: number}} Plan
 */

/**
 * planFrame computes a frame's payload pieces and length.
 * @param {Frame} f
 * @returns {Plan}
 */
function planFrame(f) {
  const t = FrameType[/** @type {keyof typeof FrameType} */ (f.type)];
  if (t === undefined) throw new TypeError(`unknown frame type ${f.type}`);
  /** @type {Plan['parts']} */
  const parts = [];
  let len = 0;
  const u8 = (/** @type {number} */ v) => { parts.push((dv, at) => { dv.setUint8(at, v); return 1; }); len += 1; };
  const u16 = (/** @type {number} */ v) => { parts.push((dv, at) => { dv.setUint16(at, v); return 2; }); len += 2; };
  const u32 = (/** @type {number} */ v) => { parts.push((dv, at) => { dv.setUint32(at, v >>> 0); return 4; }); len += 4; };
  const u64 = (/** @type {bigint|number} */ v) => {
    const b = BigInt.asUintN(64, BigInt(v));
    parts.push((dv, at) => { dv.setBigUint64(at, b); return 8; }); len += 8;
  };
  const bytes = (/** @type {Uint8Array} */ b) => { parts.push(b); len += b.length; };
  let flags = 0, id = f.streamId >>> 0;
  switch (t) {
    case FrameType.HELLO: case FrameType.WELCOME:
      id = 0;
      bytes(clampText(f.json ?? '', MAX_HANDSHAKE_LEN));
      break;
    case FrameType.OPEN: {
      flags = f.flags & FLAG_CHECKSUM;
      const route = clampText(f.route ?? '', MAX_ROUTE_LEN);
      u8(f.kind); u8(f.priority ?? 0); u16(route.length); u64(f.window ?? 0n);
      bytes(route); bytes(enc.encode(f.metadata ?? ''));
      break;
    }
    case FrameType.ACCEPT:
      u64(f.window ?? 0n); bytes(enc.encode(f.metadata ?? ''));
      break;
    case FrameType.DATA:
      flags = f.flags & FLAG_COMPRESS_MASK;
      u64(f.offset ?? 0n); bytes(bytesOf(f.data));
      break;
    case FrameType.CREDIT:
      u64(f.limit);
      break;
    case FrameType.ACK:
      flags = f.flags & FLAG_FIN;
      u64(f.received ?? 0n);
      break;
    case FrameType.PAUSE: case FrameType.RESUME:
      break;
    case FrameType.CLOSE:
      u64(f.total ?? 0n);
      if (f.checksum) {
        if (f.checksum.length !== 32) throw new TypeError('CLOSE checksum must be 32 bytes');
        flags = FLAG_CHECKSUM;
        bytes(f.checksum);
      }
      break;
    case FrameType.CANCEL: case FrameType.ERROR:
      u32(f.code ?? 0); bytes(clampText(f.reason ?? '', MAX_REASON_LEN));
      break;
    case FrameType.PING: case FrameType.PONG:
      id = 0;
      if (!f.data || f.data.length !== 8) throw new TypeError(`${f.type} data must be 8 bytes`);
      bytes(f.data);
      break;
    case FrameType.GOAWAY:
      id = 0;
      u32(f.lastStreamId ?? 0); u32(f.code ?? 0); bytes(clampText(f.reason ?? '', MAX_REASON_LEN));
      break;
    case FrameType.EVENT: {
      id = 0;
      flags = f.flags & FLAG_COMPRESS_MASK;
      const name = clampText(f.name, MAX_NAME_LEN);
      u8(name.length); bytes(name); bytes(bytesOf(f.data));
      break;
    }
    case FrameType.REQUEST: {
      flags = f.flags & FLAG_COMPRESS_MASK;
      const name = clampText(f.name, MAX_NAME_LEN);
      u32(f.timeoutMs ?? 0); u8(name.length); bytes(name); bytes(bytesOf(f.data));
      break;
    }
    case FrameType.REPLY:
      flags = f.flags & FLAG_COMPRESS_MASK;
      u32(f.code ?? 0); bytes(bytesOf(f.data));
      break;
    case FrameType.CHECKPOINT:
      u64(f.offset ?? 0n); bytes(bytesOf(f.token));
      break;
  }
  return { t, flags, id, parts, len };
}

/**
 * writePlan writes a planned frame into dst at pos and returns the new position.
 * @param {Plan} plan
 * @param {Uint8Array} dst
 * @param {number} pos
 */
function writePlan(plan, dst, pos) {
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.length);
  dv.setUint8(pos, plan.t);
  dv.setUint8(pos + 1, plan.flags);
  dv.setUint32(pos + 2, plan.id);
  dv.setUint32(pos + 6, plan.len);
  pos += HEADER_LEN;
  for (const part of plan.parts) {
    if (part instanceof Uint8Array) {
      dst.set(part, pos);
      pos += part.length;
    } else {
      pos += part(dv, pos);
    }
  }
  return pos;
}

/**
 * encodeFrames encodes frames back to back into one new buffer (one transport
 * message). Text fields are cut to their caps at a character boundary, as the
 * Go encoder does; undefined flag bits are dropped.
 * @param {Frame[]} frames
 * @returns {Uint8Array}
 */
export function encodeFrames(frames) {
  const plans = frames.map(planFrame);
  const total = plans.reduce((n, p) => n + HEADER_LEN + p.len, 0);
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of plans) pos = writePlan(p, out, pos);
  return out;
}

/**
 * encodeFrame encodes one frame.
 * @param {Frame} f
 * @returns {Uint8Array}
 */
export function encodeFrame(f) {
  return encodeFrames([f]);
}

/**
 * frameSize returns the encoded size of f, header included.
 * @param {Frame} f
 */
export function frameSize(f) {
  return HEADER_LEN + planFrame(f).len;
}
