// @ts-check
/**
 * Broadcast subscriptions: a subscriber opens a broadcast stream on the route
 * "topic" with {"topic": NAME, "last": N | "from": {epoch, seq} | "oldest": true}
 * and reads a byte stream of records (docs/PROTOCOL.md §9):
 *
 *     record := length u32 | type u8 | body (length bytes)
 *     DATA  0x01  seq u64, data          one published line
 *     GAP   0x02  records u64, bytes u64 what this subscriber lost
 *     EPOCH 0x03  epoch u64, previous u64 the source's epoch (a restart changes it)
 *
 * Unknown record types are skipped. Integers are big-endian; seq and epoch
 * stay below 2^53.
 *
 * @module
 */

const dec = new TextDecoder();

/** GAP bytes value meaning "unknown". */
export const UNKNOWN_BYTES = 2n ** 64n - 1n;

/**
 * @typedef {{type: 'data', epoch: number, seq: number, data: Uint8Array, text: string}
 *   | {type: 'gap', records: number, bytes: number}
 *   | {type: 'epoch', epoch: number, previous: number, changed: boolean}} BroadcastRecord
 * `bytes` of a gap is -1 when the server cannot know it.
 */

/**
 * RecordError is a bad record. `code` is its class (testdata/broadcast):
 * "TRUNCATED" (the stream ended inside a record), "MALFORMED" (a length that
 * does not fit the type) or "TOO_LARGE" (a record above the size bound).
 */
export class RecordError extends Error {
  /**
   * @param {'TRUNCATED'|'MALFORMED'|'TOO_LARGE'} code
   * @param {string} m
   */
  constructor(code, m) {
    super(m);
    this.name = 'RecordError';
    this.code = code;
  }
}

/** Record type codes. */
export const RecordType = Object.freeze({ DATA: 1, GAP: 2, EPOCH: 3 });

/** Default bound of a DATA record's data (1 MiB; servers default to 64 KiB). */
export const DEFAULT_MAX_DATA = 1 << 20;

/**
 * RecordParser splits a byte stream into records; feed it chunks in order.
 * Records of unknown types are skipped. Lengths are checked from the 5-byte
 * header, before a body is buffered.
 */
export class RecordParser {
  /** @param {number} [maxData] largest DATA data (and unknown body) accepted, beyond its 8-byte seq */
  constructor(maxData = DEFAULT_MAX_DATA) {
    this.maxData = maxData;
    this.buf = new Uint8Array(0);
    this.epoch = 0;
  }

  /**
   * push adds a chunk and returns the records it completed.
   * @param {Uint8Array} chunk
   * @returns {BroadcastRecord[]}
   */
  push(chunk) {
    if (this.buf.length) {
      const b = new Uint8Array(this.buf.length + chunk.length);
      b.set(this.buf);
      b.set(chunk, this.buf.length);
      this.buf = b;
    } else {
      this.buf = chunk;
    }
    /** @type {BroadcastRecord[]} */
    const out = [];
    let pos = 0;
    const b = this.buf;
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    while (b.length - pos >= 5) {
      const len = dv.getUint32(pos);
      const type = b[pos + 4];
      if ((type === 1 && len < 8) || ((type === 2 || type === 3) && len !== 16)) {
        throw new RecordError('MALFORMED', `record type ${type} with a body of ${len} bytes`);
      }
      if (len > 8 + this.maxData) throw new RecordError('TOO_LARGE', `record of ${len} bytes exceeds ${8 + this.maxData}`);
      if (b.length - pos < 5 + len) break;
      const body = pos + 5;
      switch (type) {
        case 1: {
          const data = b.slice(body + 8, body + len);
          out.push({ type: 'data', epoch: this.epoch, seq: Number(dv.getBigUint64(body)), data, text: dec.decode(data) });
          break;
        }
        case 2: {
          const bytes = dv.getBigUint64(body + 8);
          out.push({ type: 'gap', records: Number(dv.getBigUint64(body)), bytes: bytes === UNKNOWN_BYTES ? -1 : Number(bytes) });
          break;
        }
        case 3: {
          const epoch = Number(dv.getBigUint64(body));
          const previous = Number(dv.getBigUint64(body + 8));
          this.epoch = epoch;
          out.push({ type: 'epoch', epoch, previous, changed: previous !== 0 && previous !== epoch });
          break;
        }
        default: // unknown types are skipped (docs/PROTOCOL.md §9)
      }
      pos += 5 + len;
    }
    this.buf = b.subarray(pos);
    if (this.buf.length === 0) this.buf = new Uint8Array(0);
    return out;
  }

  /** finish reports a stream that ended inside a record. */
  finish() {
    if (this.buf.length) throw new RecordError('TRUNCATED', `the stream ended inside a record (${this.buf.length} bytes)`);
  }
}

/**
 * encodeRecord encodes a record (the inverse of RecordParser).
 * @param {BroadcastRecord} r
 * @returns {Uint8Array}
 */
export function encodeRecord(r) {
  const bodyLen = r.type === 'data' ? 8 + r.data.length : 16;
  const out = new Uint8Array(5 + bodyLen);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, bodyLen);
  switch (r.type) {
    case 'data':
      out[4] = RecordType.DATA;
      dv.setBigUint64(5, BigInt(r.seq));
      out.set(r.data, 13);
      break;
    case 'gap':
      out[4] = RecordType.GAP;
      dv.setBigUint64(5, BigInt(r.records));
      dv.setBigUint64(13, r.bytes < 0 ? UNKNOWN_BYTES : BigInt(r.bytes));
      break;
    case 'epoch':
      out[4] = RecordType.EPOCH;
      dv.setBigUint64(5, BigInt(r.epoch));
      dv.setBigUint64(13, BigInt(r.previous));
      break;
  }
  return out;
}

/**
 * @typedef {object} SubscribeOptions
 * @property {number} [last] start with the last N records still held
 * @property {{epoch: number, seq: number}} [from] resume after this position
 * @property {boolean} [oldest] start with the oldest record held
 * @property {string} [route] the subscription route ("topic")
 * @property {number} [window] receive window of the stream (256 KiB: a log view needs little, and
 *   what a stalled view has not read stays bounded)
 */

/**
 * subscribe opens a subscription to topic on a Client or Session and returns
 * the stream and an async iterator of its records. Reading the iterator is
 * what grants credit: stop iterating and the server stops sending to you
 * (and reports what you missed as a gap when you go on).
 * @param {any} target a Client or Session (anything with open())
 * @param {string} topic
 * @param {SubscribeOptions} [o]
 */
export async function subscribe(target, topic, o = {}) {
  /** @type {any} */
  const metadata = { topic };
  if (o.from) metadata.from = o.from;
  else if (o.oldest) metadata.oldest = true;
  else if (o.last !== undefined) metadata.last = o.last;
  const stream = await target.open({ route: o.route ?? 'topic', kind: 'broadcast', metadata, window: o.window ?? 256 << 10 });
  const reader = /** @type {ReadableStream<Uint8Array>} */ (stream.readable).getReader();
  const maxRecord = stream.acceptMetadata?.maxRecord;
  const parser = new RecordParser(typeof maxRecord === 'number' && maxRecord > 0 ? maxRecord : DEFAULT_MAX_DATA);
  /** @type {BroadcastRecord[]} */
  let queue = [];
  /** A broken record stream is cancelled with PROTOCOL_ERROR (docs/PROTOCOL.md §9.2). */
  const broken = (/** @type {unknown} */ err) => {
    if (err instanceof RecordError) stream.cancel(err.message, 1 /* PROTOCOL_ERROR */);
    return err;
  };
  /** @type {AsyncIterableIterator<BroadcastRecord>} */
  const records = {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      while (!queue.length) {
        const { done, value } = await reader.read();
        try {
          if (done) {
            parser.finish();
            return { done: true, value: undefined };
          }
          queue = parser.push(value);
        } catch (err) {
          throw broken(err);
        }
      }
      return { done: false, value: /** @type {BroadcastRecord} */ (queue.shift()) };
    },
    async return() {
      reader.releaseLock();
      stream.cancel('unsubscribed');
      return { done: true, value: undefined };
    },
  };
  return { stream, records, info: stream.acceptMetadata };
}

/**
 * nextPosition returns the position to resume from after record r (§9.3):
 * after EPOCH (epoch, 1), after DATA (epoch, seq + 1); null for others.
 * @param {BroadcastRecord} r
 * @returns {{epoch: number, seq: number}|null}
 */
export function nextPosition(r) {
  if (r.type === 'epoch') return { epoch: r.epoch, seq: 1 };
  if (r.type === 'data') return { epoch: r.epoch, seq: r.seq + 1 };
  return null;
}
