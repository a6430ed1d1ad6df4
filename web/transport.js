// @ts-check
/**
 * Message transports for a session: a WebSocket (binary messages, subprotocol
 * "streamd.v1") or a WebTransport session carrying the protocol on one
 * bidirectional stream, each message prefixed by its u32 length
 * (docs/PROTOCOL.md §2.2).
 *
 * A transport delivers whole messages in order to its `onmessage` handler
 * (messages that arrive before a handler is set are kept and handed over when
 * it is set), tells `onclose` once why it ended, and offers `send` with
 * `drain()` for backpressure.
 *
 * @module
 */

/** WebSocket subprotocol of protocol version 1. */
export const SUBPROTOCOL = 'streamd.v1';

/** TransportError is a transport that failed to open or broke. */
export class TransportError extends Error {
  /**
   * @param {string} message
   * @param {{code?: number, transport?: string}} [info]
   */
  constructor(message, info = {}) {
    super(message);
    this.name = 'TransportError';
    /** WebSocket close code or WebTransport error code, when known. */
    this.closeCode = info.code;
    this.transport = info.transport;
  }
}

/** Base: message buffering and the close notification. */
class BaseTransport {
  /** @param {'websocket'|'webtransport'} kind */
  constructor(kind) {
    this.kind = kind;
    /** @type {Uint8Array[]} */
    this.pending = [];
    /** @type {((msg: Uint8Array) => void)|null} */
    this.handler = null;
    /** @type {((err: Error) => void)|null} */
    this.closeHandler = null;
    /** @type {Error|null} */
    this.closedWith = null;
  }

  /** @param {(msg: Uint8Array) => void} fn */
  set onmessage(fn) {
    this.handler = fn;
    while (this.pending.length && this.handler === fn) fn(/** @type {Uint8Array} */ (this.pending.shift()));
  }

  /** @param {(err: Error) => void} fn */
  set onclose(fn) {
    this.closeHandler = fn;
    if (this.closedWith) fn(this.closedWith);
  }

  /** @param {Uint8Array} msg */
  deliver(msg) {
    if (this.closedWith) return;
    if (this.handler) this.handler(msg);
    else this.pending.push(msg);
  }

  /** @param {Error} err */
  ended(err) {
    if (this.closedWith) return;
    this.closedWith = err;
    this.closeHandler?.(err);
  }
}

/**
 * WebSocketTransport wraps a browser WebSocket.
 */
export class WebSocketTransport extends BaseTransport {
  /**
   * @param {WebSocket} ws an open WebSocket with binaryType "arraybuffer"
   * @param {number} highWater bufferedAmount above which drain() waits
   */
  constructor(ws, highWater) {
    super('websocket');
    this.ws = ws;
    this.highWater = highWater;
    ws.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) this.deliver(new Uint8Array(ev.data));
      else this.fail(new TransportError('text message on a binary protocol', { transport: 'websocket' }));
    };
    ws.onclose = (ev) => this.ended(new TransportError(`websocket closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`, { code: ev.code, transport: 'websocket' }));
    ws.onerror = () => {}; // onclose follows with the code
  }

  /** @param {Uint8Array} msg */
  send(msg) {
    if (this.closedWith) throw this.closedWith;
    this.ws.send(msg);
  }

  /** drain resolves once the socket's send buffer is below the high-water mark. */
  async drain() {
    // WebSocket has no writable event; poll while the buffer is high (rare).
    while (this.ws.bufferedAmount > this.highWater && !this.closedWith) {
      await new Promise((r) => setTimeout(r, 4));
    }
  }

  /** @param {Error} err */
  fail(err) {
    this.ended(err);
    this.close();
  }

  /**
   * close closes the socket.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = '') {
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.close();
    }
    this.ended(new TransportError('closed', { code, transport: 'websocket' }));
  }
}

/**
 * dialWebSocket opens a WebSocket to url (ws:// or wss://; http(s):// is
 * mapped), passing token as the "token" query parameter (browsers cannot set
 * an Authorization header on a WebSocket).
 * @param {string} url
 * @param {{token?: string, timeoutMs?: number, highWater?: number, signal?: AbortSignal}} [opts]
 *   highWater: the socket send buffer above which the writer waits (4 MiB)
 * @returns {Promise<WebSocketTransport>}
 */
export function dialWebSocket(url, opts = {}) {
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (opts.token) u.searchParams.set('token', opts.token);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(u.href, SUBPROTOCOL);
    ws.binaryType = 'arraybuffer';
    const timer = setTimeout(() => fail(new TransportError(`websocket: no connection within ${opts.timeoutMs ?? 10000} ms`, { transport: 'websocket' })), opts.timeoutMs ?? 10000);
    const onAbort = () => fail(new TransportError('websocket: dial aborted', { transport: 'websocket' }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    /** @param {Error} err */
    function fail(err) {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      ws.onopen = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch { /* not open */ }
      reject(err);
    }
    ws.onopen = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (ws.protocol !== SUBPROTOCOL) {
        fail(new TransportError(`websocket: server did not accept subprotocol ${SUBPROTOCOL}`, { transport: 'websocket' }));
        return;
      }
      resolve(new WebSocketTransport(ws, opts.highWater ?? 4 << 20));
    };
    // Browsers fire close after error; some runtimes (Node 20) only error.
    ws.onerror = () => fail(new TransportError(`websocket: connection to ${u.host} failed`, { transport: 'websocket' }));
    ws.onclose = (ev) => fail(new TransportError(`websocket: connection to ${u.host} failed (${ev.code})`, { code: ev.code, transport: 'websocket' }));
  });
}

/**
 * WebTransportTransport carries messages on one bidirectional stream of a
 * WebTransport session, each prefixed by its u32 length.
 */
export class WebTransportTransport extends BaseTransport {
  /**
   * @param {any} wt the WebTransport session
   * @param {{readable: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array>}} bidi
   * @param {number} maxMessage largest message accepted
   */
  constructor(wt, bidi, maxMessage) {
    super('webtransport');
    this.wt = wt;
    this.maxMessage = maxMessage;
    this.writer = bidi.writable.getWriter();
    this.reader = bidi.readable.getReader();
    this.readLoop();
    wt.closed.then(
      (/** @type {any} */ info) => this.ended(new TransportError(`webtransport closed (${info?.closeCode ?? 0}${info?.reason ? ': ' + info.reason : ''})`, { code: info?.closeCode, transport: 'webtransport' })),
      (/** @type {any} */ err) => this.ended(new TransportError(`webtransport failed: ${err?.message ?? err}`, { transport: 'webtransport' })));
  }

  /** readLoop splits the byte stream into length-prefixed messages. */
  async readLoop() {
    let buf = new Uint8Array(0);
    try {
      for (;;) {
        const { done, value } = await this.reader.read();
        if (done) break;
        buf = buf.length ? join(buf, value) : value;
        while (buf.length >= 4) {
          const n = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0);
          if (n === 0) throw new TransportError('webtransport: message of length 0', { transport: 'webtransport' });
          if (n > this.maxMessage) throw new TransportError(`webtransport: message of ${n} bytes exceeds ${this.maxMessage}`, { transport: 'webtransport' });
          if (buf.length < 4 + n) break;
          this.deliver(buf.slice(4, 4 + n));
          buf = buf.subarray(4 + n);
        }
      }
      this.ended(new TransportError('webtransport stream ended', { transport: 'webtransport' }));
    } catch (err) {
      this.fail(err instanceof Error ? err : new TransportError(String(err), { transport: 'webtransport' }));
    }
  }

  /** @param {Uint8Array} msg */
  send(msg) {
    if (this.closedWith) throw this.closedWith;
    const out = new Uint8Array(4 + msg.length);
    new DataView(out.buffer).setUint32(0, msg.length);
    out.set(msg, 4);
    this.writer.write(out).catch((/** @type {any} */ err) => this.fail(new TransportError(`webtransport write: ${err?.message ?? err}`, { transport: 'webtransport' })));
  }

  /** drain resolves when the stream accepts more data. */
  async drain() {
    await this.writer.ready.catch(() => {});
  }

  /** @param {Error} err */
  fail(err) {
    this.ended(err);
    this.close();
  }

  /**
   * close ends the WebTransport session.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 0, reason = '') {
    try {
      this.wt.close({ closeCode: code, reason });
    } catch { /* already closed */ }
    this.ended(new TransportError('closed', { code, transport: 'webtransport' }));
  }
}

/**
 * join concatenates two byte arrays.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
function join(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * hexToBytes decodes a hex string (colons and spaces allowed).
 * @param {string} hex
 */
export function hexToBytes(hex) {
  const h = hex.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * hashBytes decodes a SHA-256 hash written in hex (colons allowed) or base64
 * (standard or URL alphabet, padded or not).
 * @param {string} s
 */
export function hashBytes(s) {
  const t = s.trim();
  if (/^[0-9a-fA-F:]+$/.test(t) && t.replace(/:/g, '').length === 64) return hexToBytes(t);
  const b64 = t.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (out.length !== 32) throw new Error(`certificate hash ${s} is not 32 bytes`);
  return out;
}

/**
 * webTransportSupported reports whether this platform has WebTransport.
 */
export function webTransportSupported() {
  return typeof (/** @type {any} */ (globalThis).WebTransport) === 'function';
}

/**
 * dialWebTransport opens a WebTransport session to url (https://) and its
 * bidirectional stream. certHashes are SHA-256 hashes (bytes or hex) of the
 * server's self-signed development certificate ("serverCertificateHashes").
 * @param {string} url
 * @param {{token?: string, certHashes?: Array<Uint8Array|string>, timeoutMs?: number, maxMessage?: number}} [opts]
 * @returns {Promise<WebTransportTransport>}
 */
export async function dialWebTransport(url, opts = {}) {
  if (!webTransportSupported()) throw new TransportError('webtransport: not supported by this browser', { transport: 'webtransport' });
  const u = new URL(url, globalThis.location?.href);
  if (opts.token) u.searchParams.set('token', opts.token);
  /** @type {any} */
  const init = {};
  if (opts.certHashes?.length) {
    init.serverCertificateHashes = opts.certHashes.map((h) => ({
      algorithm: 'sha-256', value: typeof h === 'string' ? hashBytes(h) : h,
    }));
  }
  const WT = /** @type {any} */ (globalThis).WebTransport;
  const wt = new WT(u.href, init);
  const timeoutMs = opts.timeoutMs ?? 10000;
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TransportError(`webtransport: no session within ${timeoutMs} ms`, { transport: 'webtransport' })), timeoutMs);
  });
  try {
    await Promise.race([wt.ready, timeout]);
    const bidi = await Promise.race([wt.createBidirectionalStream(), timeout]);
    return new WebTransportTransport(wt, bidi, opts.maxMessage ?? (1 << 20) + (4 << 10));
  } catch (err) {
    try { wt.close(); } catch { /* not open */ }
    if (err instanceof TransportError) throw err;
    throw new TransportError(`webtransport: ${/** @type {any} */ (err)?.message ?? err}`, { transport: 'webtransport' });
  } finally {
    clearTimeout(timer);
  }
}
