// @ts-check
/**
 * streamd browser client — the module pages import. No build step: serve the
 * web/ directory (streamd serve does, at /) and
 *
 *     import { connect } from '/streamd.js';
 *     const client = connect();                      // WebTransport or WebSocket, reconnecting
 *     const files = await client.requestJSON('files/list', {});
 *     const st = await client.open({ route: 'files/download', kind: 'download', metadata: { name: 'a.txt' } });
 *     for await (const chunk of st.readable) …       // credit is granted as you read
 *
 * Protocol: docs/PROTOCOL.md. Modules: wire.js (codec), session.js (Session),
 * stream.js (Stream), client.js (Client: transports, reconnect), transport.js,
 * compress.js, sha256.js, errors.js, options.js, resume.js (session resume),
 * broadcast.js (topic subscriptions), dataset.js (dataset streams, docs/DATASET.md).
 *
 * @module
 */

import { Client } from './client.js';
import { Session } from './session.js';
import { StreamError } from './errors.js';
import { Code } from './wire.js';

export { Client, ClientState, backoffDelay, fetchCertHash } from './client.js';
export { Session, PROTOCOL_VERSION, dataBytes } from './session.js';
export { Stream, State } from './stream.js';
export { StreamdError, StreamError, ConnError, RequestError } from './errors.js';
export { TransportError, dialWebSocket, dialWebTransport, webTransportSupported } from './transport.js';
export { Code, Kind, codeName, decodeMessage, encodeFrame, encodeFrames, WireError } from './wire.js';
export { SHA256, toHex } from './sha256.js';
export { decodable as decodableCompression } from './compress.js';
export { subscribe, RecordParser, RecordError, RecordType, encodeRecord } from './broadcast.js';
export { readDataset, decodeBatch, parseHeader, MessageReader, DatasetError } from './dataset.js';

/**
 * connect creates a Client and starts connecting.
 * @param {import('./client.js').ClientOptions} [opts]
 */
export function connect(opts) {
  return new Client(opts).start();
}

/**
 * sessionOf resolves a Client or Session to an open Session.
 * @param {Client|Session} target
 * @returns {Promise<Session>}
 */
async function sessionOf(target) {
  return target instanceof Client ? target.ready() : target;
}

/**
 * @typedef {object} UploadOptions
 * @property {string} [name] stored name (default: the File's name)
 * @property {string} [id] resume the upload with this id (from an earlier ACCEPT): the server
 *   says from which offset; the Blob must be the same file
 * @property {string} [route] upload route ("files/upload")
 * @property {any} [metadata] more OPEN metadata
 * @property {boolean} [checksum] verify the stream's SHA-256 end to end (true)
 * @property {number} [chunkSize] bytes read from the Blob at a time (1 MiB)
 * @property {(stream: import('./stream.js').Stream) => void} [onopen] called with the upload stream once
 *   the server accepted it (to pause or resume it, say)
 * @property {(accept: {name: string, id: string, offset: number, size: number, committed?: boolean}) => void} [onaccept]
 *   called with the server's ACCEPT metadata before any data is sent: keep `id` to resume
 * @property {(p: {sent: number, total: number, offset: number, durable: number}) => void} [onprogress]
 *   `sent` counts file bytes (from 0, including the `offset` a resume skipped);
 *   `durable` is what the server reported synced to disk (CHECKPOINT)
 * @property {AbortSignal} [signal] cancels the upload
 */

/**
 * upload sends a Blob or File on an upload stream and resolves with the ACCEPT
 * metadata once the server confirmed it stored everything (after checking the
 * size and, unless checksum is false, the SHA-256). With `id` it resumes an
 * interrupted upload from the offset the server has made durable, so a page
 * reload or a lost connection costs only the bytes in flight.
 * @param {Client|Session} target
 * @param {Blob & {name?: string}} file
 * @param {UploadOptions} [o]
 */
export async function upload(target, file, o = {}) {
  const session = await sessionOf(target);
  const name = o.name ?? file.name;
  if (!name && !o.id) throw new TypeError('upload: a name is required');
  const metadata = o.id ? { ...(o.metadata ?? {}), id: o.id } : { ...(o.metadata ?? {}), name, size: file.size };
  const st = await session.open({
    route: o.route ?? 'files/upload', kind: 'upload', checksum: o.checksum ?? true, metadata, signal: o.signal,
  });
  const accept = st.acceptMetadata ?? {};
  const offset = typeof accept.offset === 'number' ? accept.offset : 0;
  o.onopen?.(st);
  o.onaccept?.(accept);
  let durable = offset;
  st.addEventListener('checkpoint', (ev) => {
    try {
      const t = JSON.parse(new TextDecoder().decode(/** @type {CustomEvent} */ (ev).detail.token));
      if (typeof t.durable === 'number') durable = Math.max(durable, t.durable);
    } catch { /* not a files/upload token */ }
  });
  const onAbort = () => st.cancel('upload aborted');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const writer = /** @type {WritableStream<Uint8Array>} */ (st.writable).getWriter();
  const chunk = o.chunkSize ?? 1 << 20;
  const report = () => o.onprogress?.({ sent: offset + st.transmitted, total: file.size, offset, durable });
  const timer = setInterval(report, 100);
  try {
    if (offset > file.size) throw new StreamError(st.id, Code.OFFSET_MISMATCH, `server has ${offset} bytes, the file ${file.size}`);
    if (!accept.committed) {
      for (let pos = offset; pos < file.size; pos += chunk) {
        const buf = new Uint8Array(await file.slice(pos, Math.min(pos + chunk, file.size)).arrayBuffer());
        await writer.write(buf);
      }
    }
    await writer.close(); // resolves when the server confirmed (CLOSE 0)
    durable = file.size;
    report();
    return accept;
  } catch (err) {
    writer.abort(err).catch(() => {});
    throw st.error ?? err;
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * download reads a stored file into a Blob.
 * @param {Client|Session} target
 * @param {string} name
 * @param {{route?: string, checksum?: boolean, type?: string, onprogress?: (p: {received: number, total: number}) => void, signal?: AbortSignal}} [o]
 * @returns {Promise<Blob>}
 */
export async function download(target, name, o = {}) {
  const session = await sessionOf(target);
  const st = await session.open({
    route: o.route ?? 'files/download', kind: 'download', checksum: o.checksum ?? true,
    metadata: { name }, signal: o.signal,
  });
  /** @type {BlobPart[]} */
  const parts = [];
  const reader = /** @type {ReadableStream<Uint8Array>} */ (st.readable).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    o.onprogress?.({ received: st.consumed, total: st.total });
  }
  await st.closed;
  return new Blob(parts, { type: o.type ?? 'application/octet-stream' });
}

/**
 * lines yields the text lines of a byte stream (without their "\n"; a final
 * line without one is yielded too). Reading pulls, so credit follows the loop.
 * @param {ReadableStream<Uint8Array>} readable
 * @returns {AsyncGenerator<string>}
 */
export async function* lines(readable) {
  const reader = readable.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const parts = (rest + value).split('\n');
      rest = /** @type {string} */ (parts.pop());
      for (const line of parts) yield line;
    }
    if (rest) yield rest;
  } finally {
    reader.releaseLock();
  }
}
