// @ts-check
/**
 * Dataset streams (docs/DATASET.md): a header message (JSON), then batch
 * messages, each framed on the stream as `u32 little-endian length | bytes`.
 * This module decodes the `rows` and `batched` layouts (the browser needs no
 * library for either) with the validation rules of §5.2, checked against
 * testdata/dataset/batched.json.
 *
 * Values: int64 and timestamp as BigInt, float64 as number, bool, string,
 * binary as Uint8Array, date as days since 1970-01-01 (number), decimal as its
 * text, null as null.
 *
 * @module
 */

/** DatasetError is a malformed dataset stream or message. */
export class DatasetError extends Error {
  /** @param {string} m */
  constructor(m) { super(m); this.name = 'DatasetError'; }
}

/**
 * @typedef {{name: string, type: string, nullable: boolean, unit?: string, zone?: string, precision?: number, scale?: number}} Column
 * @typedef {{columns: Column[]}} Schema
 * @typedef {{version: number, schema: Schema, layout: string, batch_rows: number, batch_bytes?: number, total_rows: number, start_row: number}} Header
 */

const types = new Set(['int64', 'float64', 'bool', 'string', 'binary', 'timestamp', 'date', 'decimal']);
const MAX_BATCH_ROWS = 1 << 20;

/**
 * parseHeader parses and checks a header message.
 * @param {Uint8Array} msg
 * @returns {Header}
 */
export function parseHeader(msg) {
  let h;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg));
  } catch (err) {
    throw new DatasetError(`header: ${/** @type {Error} */ (err).message}`);
  }
  if (h?.version !== 1) throw new DatasetError(`header: version ${h?.version}, want 1`);
  const cols = h.schema?.columns;
  if (!Array.isArray(cols) || cols.length < 1 || cols.length > 4096) throw new DatasetError('header: schema needs 1-4096 columns');
  const names = new Set();
  for (const c of cols) {
    if (typeof c.name !== 'string' || !c.name || names.has(c.name)) throw new DatasetError(`header: bad or duplicate column name ${JSON.stringify(c.name)}`);
    names.add(c.name);
    if (!types.has(c.type)) throw new DatasetError(`header: column ${c.name}: unknown type ${JSON.stringify(c.type)}`);
  }
  if (!(h.batch_rows >= 1 && h.batch_rows <= MAX_BATCH_ROWS)) throw new DatasetError(`header: batch_rows ${h.batch_rows} outside 1-${MAX_BATCH_ROWS}`);
  return h;
}

/**
 * decodeBatch decodes one `batched` message (§5.2) of schema, checking every
 * length before it is used. maxRows bounds row_count (the header's batch_rows).
 * @param {Uint8Array} msg
 * @param {Schema} schema
 * @param {number} [maxRows]
 * @returns {{rows: number, columns: Record<string, any[]>}}
 */
export function decodeBatch(msg, schema, maxRows = MAX_BATCH_ROWS) {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const len = msg.byteLength;
  if (len < 8) throw new DatasetError('batch: shorter than its 8-byte header');
  const n = dv.getUint32(0, true);
  if (n > maxRows) throw new DatasetError(`batch: ${n} rows, at most ${maxRows}`);
  if (dv.getUint32(4, true) !== schema.columns.length) throw new DatasetError(`batch: ${dv.getUint32(4, true)} columns, schema has ${schema.columns.length}`);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  /** @type {Record<string, any[]>} */
  const columns = {};
  const bitmapLen = (n + 7) >> 3;
  let pos = 8;
  for (const col of schema.columns) {
    if (pos + 8 > len) throw new DatasetError(`batch: column ${col.name}: block header past the end`);
    const flags = dv.getUint32(pos, true);
    const bodyLen = dv.getUint32(pos + 4, true);
    const end = pos + 8 + bodyLen;
    if ((flags & ~1) !== 0) throw new DatasetError(`batch: column ${col.name}: unknown flags 0x${flags.toString(16)}`);
    if (end > len) throw new DatasetError(`batch: column ${col.name}: body of ${bodyLen} bytes past the end`);
    let at = pos + 8;
    /** @type {Uint8Array|null} */
    let valid = null;
    if (flags & 1) {
      const vlen = (bitmapLen + 7) & ~7;
      if (at + vlen > end) throw new DatasetError(`batch: column ${col.name}: validity past the body`);
      valid = msg.subarray(at, at + bitmapLen);
      at += vlen;
    }
    const isNull = (/** @type {number} */ i) => valid !== null && ((valid[i >> 3] >> (i & 7)) & 1) === 0;
    if (valid && !col.nullable) {
      for (let i = 0; i < n; i++) if (isNull(i)) throw new DatasetError(`batch: column ${col.name}: null in a non-nullable column (row ${i})`);
    }
    const values = new Array(n);
    const need = (/** @type {number} */ size) => {
      if (at + size !== end) throw new DatasetError(`batch: column ${col.name}: body is ${end - at} bytes of values, want ${size}`);
    };
    switch (col.type) {
      case 'int64': case 'timestamp':
        need(8 * n);
        for (let i = 0; i < n; i++) values[i] = isNull(i) ? null : dv.getBigInt64(at + 8 * i, true);
        break;
      case 'float64':
        need(8 * n);
        for (let i = 0; i < n; i++) values[i] = isNull(i) ? null : dv.getFloat64(at + 8 * i, true);
        break;
      case 'date':
        need(4 * n);
        for (let i = 0; i < n; i++) values[i] = isNull(i) ? null : dv.getInt32(at + 4 * i, true);
        break;
      case 'bool':
        need(bitmapLen);
        for (let i = 0; i < n; i++) values[i] = isNull(i) ? null : ((msg[at + (i >> 3)] >> (i & 7)) & 1) === 1;
        break;
      default: { // string, binary, decimal
        const offLen = 4 * (n + 1);
        if (at + offLen > end) throw new DatasetError(`batch: column ${col.name}: offsets past the body`);
        const data = at + offLen;
        const total = dv.getUint32(at + 4 * n, true);
        need(offLen + total);
        if (dv.getUint32(at, true) !== 0) throw new DatasetError(`batch: column ${col.name}: offsets must start at 0`);
        let prev = 0;
        for (let i = 0; i < n; i++) {
          const next = dv.getUint32(at + 4 * (i + 1), true);
          if (next < prev) throw new DatasetError(`batch: column ${col.name}: offsets decrease at row ${i}`);
          if (!isNull(i)) {
            const b = msg.subarray(data + prev, data + next);
            if (col.type === 'binary') values[i] = b.slice();
            else {
              try {
                values[i] = utf8.decode(b);
              } catch {
                throw new DatasetError(`batch: column ${col.name}: row ${i} is not valid UTF-8`);
              }
            }
          } else {
            values[i] = null;
          }
          prev = next;
        }
        if (col.type === 'string' && total > 0) {
          // Every offset on a character boundary: the whole range must decode too.
          try {
            utf8.decode(msg.subarray(data, data + total));
          } catch {
            throw new DatasetError(`batch: column ${col.name}: bytes are not valid UTF-8`);
          }
        }
      }
    }
    columns[col.name] = values;
    const next = (end + 7) & ~7;
    if (next > len) throw new DatasetError(`batch: column ${col.name}: padding past the end`);
    for (let i = end; i < next; i++) if (msg[i] !== 0) throw new DatasetError(`batch: column ${col.name}: non-zero padding`);
    pos = next;
  }
  if (pos !== len) throw new DatasetError(`batch: ${len - pos} bytes after the last column`);
  return { rows: n, columns };
}

/**
 * MessageReader splits a byte stream into `u32 little-endian length | bytes`
 * messages, refusing a length above max before buffering it.
 */
export class MessageReader {
  /** @param {number} [max] largest message (64 MiB) */
  constructor(max = 64 << 20) {
    this.max = max;
    /** @type {Uint8Array[]} */
    this.chunks = [];
    this.size = 0;
  }

  /**
   * push adds a chunk and returns the whole messages it completed.
   * @param {Uint8Array} chunk
   * @returns {Uint8Array[]}
   */
  push(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    /** @type {Uint8Array[]} */
    const out = [];
    for (;;) {
      if (this.size < 4) break;
      const head = this.peek(4);
      const n = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
      if (n > this.max) throw new DatasetError(`message of ${n} bytes exceeds ${this.max}`);
      if (this.size < 4 + n) break;
      out.push(this.take(4 + n).subarray(4));
    }
    return out;
  }

  /** @param {number} n */
  peek(n) {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    return this.take(n, true);
  }

  /**
   * take removes (or with keep, copies) the first n buffered bytes.
   * @param {number} n
   * @param {boolean} [keep]
   */
  take(n, keep = false) {
    const out = new Uint8Array(n);
    let pos = 0;
    let i = 0;
    while (pos < n) {
      const c = this.chunks[i];
      const k = Math.min(c.length, n - pos);
      out.set(c.subarray(0, k), pos);
      pos += k;
      if (keep) { i++; continue; }
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    if (!keep) this.size -= n;
    return out;
  }

  /** pending reports whether a partial message is buffered. */
  get pending() { return this.size > 0; }
}

/**
 * readDataset reads a dataset stream (a Stream's readable) and calls onHeader
 * once, then onBatch for every batch as it arrives. Reading as the callbacks
 * return is what grants credit, so a slow table slows its own export only.
 * @param {ReadableStream<Uint8Array>} readable
 * @param {{onHeader?: (h: Header) => void, onBatch: (b: {rows: number, columns: Record<string, any[]>, firstRow: number}) => void|Promise<void>, maxMessage?: number}} o
 * @returns {Promise<{header: Header, rows: number}>}
 */
export async function readDataset(readable, o) {
  const reader = readable.getReader();
  const messages = new MessageReader(o.maxMessage);
  /** @type {Header|null} */
  let header = null;
  let rows = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const msg of messages.push(value)) {
      if (!header) {
        header = parseHeader(msg);
        if (header.layout !== 'batched' && header.layout !== 'rows') throw new DatasetError(`layout ${header.layout} is not decoded here`);
        rows = header.start_row ?? 0;
        o.onHeader?.(header);
        continue;
      }
      let batch;
      if (header.layout === 'rows') {
        const row = JSON.parse(new TextDecoder().decode(msg));
        /** @type {Record<string, any[]>} */
        const columns = {};
        header.schema.columns.forEach((c, i) => { columns[c.name] = [row[i]]; });
        batch = { rows: 1, columns };
      } else {
        batch = decodeBatch(msg, header.schema, header.batch_rows);
      }
      await o.onBatch({ ...batch, firstRow: rows });
      rows += batch.rows;
    }
  }
  if (messages.pending) throw new DatasetError('the stream ended inside a message');
  if (!header) throw new DatasetError('the stream ended before the header');
  if (header.total_rows >= 0 && rows < header.total_rows) throw new DatasetError(`the stream ended after ${rows} of ${header.total_rows} rows`);
  return { header, rows: rows - (header.start_row ?? 0) };
}
