// @ts-check
/**
 * Session: one transport carrying many streams, events and requests
 * (docs/PROTOCOL.md). Created by Session.handshake over a transport from
 * transport.js; the reconnecting Client in client.js is what pages use.
 *
 * Everything runs on the page's event loop. Incoming messages are applied in
 * order (decompression is awaited in line, so frames never overtake each
 * other). Outgoing frames are queued and packed by one writer: control frames
 * first, then events/requests/replies, then stream data round-robin by
 * priority, up to maxMessage per transport message. The writer runs in a
 * microtask, so frames queued in the same task share one message (batching
 * without a timer).
 *
 * @module
 */

import {
  Code, Kind, FrameType, decodeMessage, encodeFrame, encodeFrames, WireError,
  MAX_METADATA_LEN, MAX_NAME_LEN,
} from './wire.js';
import { encodable, decompress, compress, compressible, algorithmName, CompressionError } from './compress.js';
import { Stream, State } from './stream.js';
import { StreamError, ConnError, RequestError } from './errors.js';
import { dataBytes, withDefaults, parseMeta, concatParts, helloOf, PROTOCOL_VERSION, CLIENT_NAME } from './options.js';
import { exchange, resumeSession, recordFinished } from './resume.js';

export { dataBytes };

export { PROTOCOL_VERSION, CLIENT_NAME };

/** @typedef {(data: Uint8Array, session: Session) => void} EventHandler */
/** @typedef {(data: Uint8Array, session: Session) => Promise<any>|any} RequestHandler */
/** @typedef {(stream: Stream, session: Session) => Promise<void>|void} StreamHandler */

/**
 * @typedef {object} OpenOptions
 * @property {string} route the route the server registered, e.g. "files/upload"
 * @property {'upload'|'download'|'bidi'|'broadcast'|number} kind
 * @property {any} [metadata] JSON-marshalable metadata for OPEN
 * @property {number} [priority] 0–7, higher first (0)
 * @property {boolean} [checksum] SHA-256 of both directions checked at CLOSE (false)
 * @property {number} [window] receive window of this stream (the session's)
 * @property {AbortSignal} [signal] abandons the open
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Session is a handshaken connection. EventTarget events: "close" (detail:
 * the error, or null after close()), "goaway" (detail: {code, reason}).
 */
export class Session extends EventTarget {
  /**
   * handshake sends HELLO over transport and waits for WELCOME.
   * @param {import('./transport.js').WebSocketTransport|import('./transport.js').WebTransportTransport} transport
   * @param {import('./options.js').SessionOptions} [opts]
   * @returns {Promise<Session>}
   */
  static async handshake(transport, opts = {}) {
    const o = withDefaults(opts);
    try {
      const welcome = await exchange(transport, helloOf(o), o.handshakeTimeout);
      if (welcome.version !== PROTOCOL_VERSION) throw new ConnError(Code.UNSUPPORTED_VERSION, `server chose version ${welcome.version}`);
      return new Session(transport, o, welcome);
    } catch (err) {
      transport.close();
      throw err;
    }
  }

  /**
   * @param {any} transport
   * @param {ReturnType<typeof withDefaults>} o
   * @param {any} welcome the WELCOME JSON
   */
  constructor(transport, o, welcome) {
    super();
    this.transport = transport;
    this.opts = o;
    /** the WELCOME JSON as received */
    this.welcome = welcome;
    /** session id assigned by the server */
    this.id = String(welcome.session ?? '');
    this.maxFrame = Math.min(o.maxFrame, welcome.maxFrame || o.maxFrame);
    this.maxMessage = Math.min(o.maxMessage, welcome.maxMessage || o.maxMessage);
    /** @type {string[]} algorithms both sides decode */
    this.compression = Array.isArray(welcome.compression) ? welcome.compression : [];
    /** the algorithm this side compresses with ("" for none) */
    this.sendAlg = o.compressOutgoing ? (/** @type {const} */ (['zstd', 'gzip'])).find((a) => this.compression.includes(a) && encodable.includes(a)) ?? '' : '';
    /** resume token ("" if the server does not resume sessions) */
    this.resumeToken = welcome.resumeToken ?? '';
    this.resumeTTL = welcome.resumeTTL ?? 0;
    /** true when a lost transport detaches the session instead of ending it (docs/RESUME.md) */
    this.resumable = !!(o.resumable && this.resumeToken);
    /** true while the transport is lost and the session waits for resumeOn */
    this.detached = false;
    this.resumes = 0;
    /** @type {Map<number, Uint8Array>} how recently ended streams ended, to repeat after a resume */
    this.finished = new Map();
    /** @type {Uint8Array[]} frames that go out first on a resumed transport */
    this.prelude = [];
    this.pingInterval = welcome.pingInterval > 0 ? welcome.pingInterval : 15000;
    /** smoothed round-trip time in ms (0 until measured) */
    this.rtt = 0;
    /** @type {Map<number, Stream>} */
    this.streams = new Map();
    this.nextId = 1;
    this.peerLastId = 0;
    this.goingAway = false;
    /** @type {Error|null} */
    this.error = null;
    this.isClosed = false;
    /** @type {Uint8Array[]} */
    this.control = [];
    /** @type {Uint8Array[]} */
    this.urgent = [];
    /** @type {Set<Stream>} */
    this.ready = new Set();
    this.flushScheduled = false;
    this.flushing = false;
    this.reqNext = 0;
    /** @type {Map<number, {name: string, resolve: (d: Uint8Array) => void, reject: (e: Error) => void, timer: any}>} */
    this.pending = new Map();
    /** @type {Map<string, Set<EventHandler>>} */
    this.eventHandlers = new Map();
    /** @type {Map<string, RequestHandler>} */
    this.requestHandlers = new Map();
    /** @type {Map<string, StreamHandler>} */
    this.streamHandlers = new Map();
    this.requestsRunning = 0;
    /** @type {Uint8Array[]} */
    this.inbox = [];
    this.processing = false;
    this.lastRecv = performance.now();
    this.pingSentAt = 0;
    this.stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
    /** @type {(v: Error|null) => void} */
    let resolveClosed = () => {};
    /** Resolves (with the error, or null after close()) when the session ended. */
    this.closed = new Promise((r) => { resolveClosed = r; });
    this.resolveClosed = resolveClosed;
    this.pingTimer = setInterval(() => this.keepalive(), this.pingInterval);
    this.attach(transport);
  }

  /**
   * attach makes transport the session's transport.
   * @param {any} transport
   */
  attach(transport) {
    this.transport = transport;
    this.lastRecv = performance.now();
    this.pingSentAt = 0;
    transport.onclose = (/** @type {Error} */ err) => {
      if (this.transport === transport) this.transportLost(err);
    };
    transport.onmessage = (/** @type {Uint8Array} */ msg) => {
      if (this.transport === transport) this.onMessage(msg);
    };
    this.ping(); // an RTT sample right away, so receive windows can auto-tune from the start
  }

  /**
   * transportLost detaches a resumable session (it waits for resumeOn) and
   * ends any other. A session that got GOAWAY or an ERROR ends for good.
   * @param {Error} err
   */
  transportLost(err) {
    const cause = new ConnError(Code.INTERNAL_ERROR, `transport: ${err.message}`, { cause: err });
    if (!this.resumable || this.goingAway || this.error) {
      this.shutdown(cause, false);
      return;
    }
    if (this.detached) return;
    this.detached = true;
    this.inbox = [];
    this.dispatchEvent(new CustomEvent('detached', { detail: cause }));
  }

  /**
   * resumeOn resumes a detached session over a new transport (HELLO with
   * "resume"): the server sends again what this side did not receive, this
   * side what the server did not. A refusal (RESUME_REJECTED, …) ends the
   * session with that error; a transport failure leaves it detached, so the
   * caller may try again. See resume.js.
   * @param {any} transport
   */
  resumeOn(transport) { return resumeSession(this, transport, helloOf(this.opts)); }

  /**
   * recordFinished remembers how a stream ended, to repeat it to a server that
   * missed it in a cut (resumable sessions).
   * @param {Stream} st
   * @param {string} state
   * @param {Error|null} err
   */
  recordFinished(st, state, err) { recordFinished(this, st, state, err); }

  /** "websocket" or "webtransport" */
  get transportKind() { return this.transport.kind; }

  // ---- application API ----

  /**
   * open opens a stream and waits until the server accepts it. A refusal
   * rejects with a StreamError (code NO_ROUTE, STREAM_LIMIT, …).
   * @param {OpenOptions} o
   * @returns {Promise<Stream>}
   */
  async open(o) {
    const kind = typeof o.kind === 'number' ? o.kind : Kind[o.kind];
    if (!(kind >= 1 && kind <= 4)) throw new TypeError(`unknown stream kind ${o.kind}`);
    const route = enc.encode(o.route ?? '');
    if (route.length < 1 || route.length > 255) throw new TypeError('route must be 1-255 bytes');
    const priority = o.priority ?? 0;
    if (!(priority >= 0 && priority <= 7)) throw new TypeError(`priority ${priority} is not 0-7`);
    const metadata = o.metadata === undefined ? '' : JSON.stringify(o.metadata);
    if (enc.encode(metadata).length > MAX_METADATA_LEN) throw new TypeError('metadata over 64 KiB');
    if (this.error) throw this.error;
    if (this.goingAway) throw new ConnError(Code.GOING_AWAY, 'session is going away');
    const id = this.nextId;
    this.nextId += 2;
    const st = this.newStream(id, kind, o.route, true, priority, !!o.checksum, metadata, o.window);
    this.queueControl({
      type: 'OPEN', flags: o.checksum ? 1 : 0, streamId: id, kind, priority,
      window: BigInt(st.canRecv ? st.recvLimit : 0), route: o.route, metadata,
    });
    const abort = () => st.cancel('open abandoned');
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      await st.accepted;
    } finally {
      o.signal?.removeEventListener('abort', abort);
    }
    return st;
  }

  /**
   * emit sends an event [name data]; it goes ahead of stream data.
   * @param {string} name
   * @param {any} [data] bytes, string, or JSON value
   */
  async emit(name, data) {
    const bytes = this.checkMessage(name, data);
    const { flags, payload } = await this.compressSmall(bytes);
    this.queueUrgent(encodeFrame({ type: 'EVENT', flags, streamId: 0, name, data: payload }));
  }

  /**
   * request sends [name data] and resolves with the reply's data. A non-zero
   * reply code or the timeout rejects with a RequestError (code TIMEOUT).
   * @param {string} name
   * @param {any} [data] bytes, string, or JSON value
   * @param {{timeout?: number, signal?: AbortSignal}} [o] timeout in ms
   * @returns {Promise<Uint8Array>}
   */
  async request(name, data, o = {}) {
    const bytes = this.checkMessage(name, data);
    const timeout = o.timeout ?? this.opts.requestTimeout;
    const { flags, payload } = await this.compressSmall(bytes);
    if (this.error) throw this.error;
    this.reqNext = (this.reqNext % 0xffffffff) + 1;
    while (this.pending.has(this.reqNext)) this.reqNext = (this.reqNext % 0xffffffff) + 1;
    const id = this.reqNext;
    return new Promise((resolve, reject) => {
      const forget = () => {
        clearTimeout(entry.timer);
        this.pending.delete(id);
        o.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => { forget(); reject(o.signal?.reason ?? new RequestError(name, Code.CANCELLED, 'aborted')); };
      const entry = {
        name,
        resolve: (/** @type {Uint8Array} */ d) => { forget(); resolve(d); },
        reject: (/** @type {Error} */ e) => { forget(); reject(e); },
        timer: setTimeout(() => { forget(); reject(new RequestError(name, Code.TIMEOUT, `no reply within ${timeout} ms`)); }, timeout),
      };
      this.pending.set(id, entry);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      this.queueUrgent(encodeFrame({ type: 'REQUEST', flags, streamId: id, timeoutMs: Math.min(timeout, 2 ** 31), name, data: payload }));
    });
  }

  /**
   * requestJSON is request with a JSON value in and out.
   * @param {string} name
   * @param {any} [value]
   * @param {{timeout?: number, signal?: AbortSignal}} [o]
   */
  async requestJSON(name, value, o) {
    const out = await this.request(name, value === undefined ? undefined : JSON.stringify(value), o);
    return out.length ? JSON.parse(dec.decode(out)) : null;
  }

  /**
   * on registers fn for events named name; it returns a function that removes it.
   * @param {string} name
   * @param {EventHandler} fn
   */
  on(name, fn) {
    let set = this.eventHandlers.get(name);
    if (!set) this.eventHandlers.set(name, (set = new Set()));
    set.add(fn);
    return () => set?.delete(fn);
  }

  /**
   * handleRequest registers fn to answer requests named name. Its result is
   * sent as the reply (bytes, string or JSON); a thrown error with a numeric
   * `code` replies that code, any other INTERNAL_ERROR.
   * @param {string} name
   * @param {RequestHandler} fn
   */
  handleRequest(name, fn) { this.requestHandlers.set(name, fn); }

  /**
   * handle registers fn for streams the server opens on route. fn may call
   * stream.accept(metadata); it is accepted with no metadata otherwise.
   * @param {string} route
   * @param {StreamHandler} fn
   */
  handle(route, fn) { this.streamHandlers.set(route, fn); }

  /**
   * close ends the session: the server is told (ERROR NO_ERROR), open streams fail.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = Code.NO_ERROR, reason = 'closed') {
    this.shutdown(new ConnError(code, reason), true);
  }

  // ---- writer ----

  /**
   * encode encodes one frame.
   * @param {import('./wire.js').Frame} f
   */
  encode(f) { return encodeFrame(f); }

  /**
   * queueControl queues a control frame (first in every message).
   * @param {import('./wire.js').Frame} f
   */
  queueControl(f) {
    if (this.error) return;
    if (this.control.length >= this.opts.maxQueuedControl) {
      this.shutdown(new ConnError(Code.CONTROL_QUEUE_FULL, `more than ${this.opts.maxQueuedControl} control frames queued`), true);
      return;
    }
    this.control.push(encodeFrame(f));
    this.kick();
  }

  /** @param {Uint8Array} frame an encoded EVENT, REQUEST or REPLY */
  queueUrgent(frame) {
    if (this.error) throw this.error;
    this.urgent.push(frame);
    this.kick();
  }

  /** @param {Stream} st a stream that may have something to send */
  schedule(st) {
    if (st.sendReady()) {
      this.ready.add(st);
      this.kick();
    }
  }

  kick() {
    if (this.flushScheduled || this.flushing || this.error || this.detached) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** flush packs and sends messages until nothing is queued. */
  async flush() {
    this.flushScheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.error && !this.detached) {
        const transport = this.transport;
        await transport.drain();
        if (this.error || this.detached || transport !== this.transport) return;
        const parts = [];
        let size = 0;
        const limit = this.maxMessage;
        while (this.prelude.length && size + this.prelude[0].length <= limit) {
          const f = /** @type {Uint8Array} */ (this.prelude.shift());
          parts.push(f);
          size += f.length;
        }
        if (this.prelude.length) { // the rest of the prelude goes first in the next message
          if (!this.sendMessage(parts, size)) return;
          continue;
        }
        while (this.control.length && size + this.control[0].length <= limit) {
          const f = /** @type {Uint8Array} */ (this.control.shift());
          parts.push(f);
          size += f.length;
        }
        while (this.urgent.length && size + this.urgent[0].length <= limit) {
          const f = /** @type {Uint8Array} */ (this.urgent.shift());
          parts.push(f);
          size += f.length;
        }
        while (this.ready.size) {
          const st = this.pickStream();
          if (!st) break;
          const next = st.outFrames[0];
          if (next && size + next.bytes.length > limit) break;
          this.ready.delete(st);
          const f = st.takeFrame();
          if (f) {
            parts.push(f);
            size += f.length;
          }
          if (st.sendReady()) this.ready.add(st); // to the back of its level
        }
        if (!parts.length) return;
        if (!this.sendMessage(parts, size)) return;
      }
    } finally {
      this.flushing = false;
      if (!this.error && (this.prelude.length || this.control.length || this.urgent.length || this.ready.size)) this.kick();
    }
  }

  /**
   * sendMessage writes frames as one transport message; a failed write is a
   * lost transport. It reports whether the write succeeded.
   * @param {Uint8Array[]} parts
   * @param {number} size
   */
  sendMessage(parts, size) {
    const msg = parts.length === 1 ? parts[0] : concatParts(parts, size);
    this.stats.messagesOut++;
    this.stats.bytesOut += msg.length;
    try {
      this.transport.send(msg);
      return true;
    } catch (err) {
      this.transportLost(/** @type {Error} */ (err));
      return false;
    }
  }

  /** pickStream returns the first ready stream of the highest priority. */
  pickStream() {
    /** @type {Stream|null} */
    let best = null;
    for (const st of this.ready) {
      if (!st.sendReady()) {
        this.ready.delete(st);
        continue;
      }
      if (!best || st.priority > best.priority) best = st;
    }
    return best;
  }

  /**
   * compressData compresses one DATA payload when that pays; after a miss the
   * stream sends up to 7 frames raw before trying again (as the Go sender).
   * @param {Stream} st
   * @param {Uint8Array} data
   */
  async compressData(st, data) {
    if (!this.sendAlg || data.length < this.opts.compressThreshold) return { flags: 0, payload: data };
    if (st.compressSkip > 0) {
      st.compressSkip--;
      return { flags: 0, payload: data };
    }
    if (!compressible(data)) return { flags: 0, payload: data };
    const out = await compress(/** @type {'gzip'|'zstd'} */ (this.sendAlg), data);
    if (out.length < data.length) {
      st.compressMiss = 0;
      return { flags: this.sendAlg === 'zstd' ? 2 : 1, payload: out };
    }
    st.compressMiss = Math.min(st.compressMiss + 1, 3);
    st.compressSkip = (1 << st.compressMiss) - 1;
    return { flags: 0, payload: data };
  }

  /** @param {Uint8Array} data */
  async compressSmall(data) {
    if (!this.sendAlg || data.length < this.opts.compressThreshold) return { flags: 0, payload: data };
    const out = await compress(/** @type {'gzip'|'zstd'} */ (this.sendAlg), data);
    return out.length < data.length ? { flags: this.sendAlg === 'zstd' ? 2 : 1, payload: out } : { flags: 0, payload: data };
  }

  /**
   * @param {string} name
   * @param {any} data
   */
  checkMessage(name, data) {
    const n = enc.encode(name).length;
    if (n < 1 || n > MAX_NAME_LEN) throw new TypeError('name must be 1-255 bytes');
    const bytes = dataBytes(data);
    if (bytes.length > this.maxFrame) throw new ConnError(Code.MESSAGE_TOO_LARGE, `${bytes.length} bytes > max frame ${this.maxFrame}; use a stream`);
    if (this.error) throw this.error;
    return bytes;
  }

  // ---- reader ----

  /** @param {Uint8Array} msg */
  onMessage(msg) {
    if (this.error) return;
    this.lastRecv = performance.now();
    this.stats.messagesIn++;
    this.stats.bytesIn += msg.length;
    if (msg.length > this.maxMessage) {
      this.shutdown(new ConnError(Code.MESSAGE_TOO_LARGE, `message of ${msg.length} bytes > ${this.maxMessage}`), true);
      return;
    }
    this.inbox.push(msg);
    if (!this.processing) this.process();
  }

  /** process applies queued messages in order. */
  async process() {
    this.processing = true;
    try {
      while (this.inbox.length && !this.error) {
        const msg = /** @type {Uint8Array} */ (this.inbox.shift());
        let frames;
        try {
          frames = decodeMessage(msg, this.maxFrame);
        } catch (err) {
          const we = /** @type {WireError} */ (err);
          this.shutdown(new ConnError(we.wireCode ?? Code.PROTOCOL_ERROR, we.message), true);
          return;
        }
        for (const f of frames) {
          if (this.error) return;
          const pending = this.handleFrame(f);
          if (pending) await pending;
        }
      }
    } finally {
      this.processing = false;
    }
  }

  /**
   * handleFrame applies one frame; it returns a promise when it must wait
   * (decompression).
   * @param {import('./wire.js').Frame} f
   * @returns {Promise<void>|void}
   */
  handleFrame(f) {
    const st = this.streams.get(f.streamId);
    switch (FrameType[/** @type {keyof typeof FrameType} */ (f.type)]) {
      case FrameType.DATA: {
        if (!st) return this.unknownStream(f.streamId, 'DATA');
        if (!f.flags) return st.onData(Number(f.offset), f.data);
        const alg = algorithmName(f.flags);
        if (!alg || !this.opts.compression.includes(alg) || !this.compression.includes(alg)) {
          return st.fail(new StreamError(st.id, Code.COMPRESSION_ERROR, `compression ${f.flags} was not negotiated`), true);
        }
        return decompress(/** @type {'gzip'|'zstd'} */ (alg), f.data, this.maxFrame).then(
          (data) => st.onData(Number(f.offset), data),
          (err) => st.fail(new StreamError(st.id, Code.COMPRESSION_ERROR, err.message), true));
      }
      case FrameType.CREDIT: st?.onCredit(Number(f.limit)); return;
      case FrameType.OPEN: return this.onOpen(f);
      case FrameType.ACCEPT:
        if (st?.local) st.onAccept(parseMeta(f.metadata), Number(f.window));
        return;
      case FrameType.CLOSE: st?.onClose(Number(f.total), f.checksum); return;
      case FrameType.CANCEL:
        st?.end(State.cancelled, new StreamError(f.streamId, f.code, f.reason, { remote: true }));
        return;
      case FrameType.ERROR:
        if (f.streamId === 0) return this.shutdown(new ConnError(f.code, f.reason, { remote: true }), false);
        st?.end(State.failed, new StreamError(f.streamId, f.code, f.reason, { remote: true }));
        return;
      case FrameType.PAUSE: case FrameType.RESUME:
        st?.onPeerPause(f.type === 'PAUSE');
        return;
      case FrameType.PING:
        this.queueControl({ type: 'PONG', flags: 0, streamId: 0, data: f.data.slice() });
        return;
      case FrameType.PONG:
        if (this.pingSentAt) {
          const sample = performance.now() - this.pingSentAt;
          this.rtt = this.rtt ? 0.875 * this.rtt + 0.125 * sample : sample;
          this.pingSentAt = 0;
        }
        return;
      case FrameType.GOAWAY:
        this.goingAway = true;
        this.dispatchEvent(new CustomEvent('goaway', { detail: { code: f.code, reason: f.reason, lastStreamId: f.lastStreamId } }));
        return;
      case FrameType.EVENT: return this.withData(f, (data) => this.onEvent(f.name, data));
      case FrameType.REQUEST: return this.withData(f, (data) => this.onRequest(f.streamId, f.name, data));
      case FrameType.REPLY: return this.withData(f, (data) => this.onReply(f.streamId, f.code, data));
      case FrameType.CHECKPOINT: st?.onCheckpoint(Number(f.offset), f.token); return;
      case FrameType.ACK: st?.onAck(Number(f.received), (f.flags & 1) === 1); return;
      case FrameType.HELLO: case FrameType.WELCOME:
        return this.shutdown(new ConnError(Code.PROTOCOL_ERROR, `${f.type} after the handshake`), true);
    }
  }

  /**
   * withData runs fn with the frame's decompressed data; undecodable data of an
   * event, request or reply is a connection error.
   * @param {import('./wire.js').Frame} f
   * @param {(data: Uint8Array) => void} fn
   */
  withData(f, fn) {
    if (!f.flags) return fn(f.data);
    const alg = algorithmName(f.flags);
    if (!alg || !this.compression.includes(alg)) {
      return this.shutdown(new ConnError(Code.COMPRESSION_ERROR, `${f.type} ${f.name ?? f.streamId}: compression ${f.flags} was not negotiated`), true);
    }
    return decompress(/** @type {'gzip'|'zstd'} */ (alg), f.data, this.maxFrame).then(fn,
      (err) => this.shutdown(new ConnError(Code.COMPRESSION_ERROR, `${f.type} ${f.name ?? f.streamId}: ${err.message}`), true));
  }

  /**
   * unknownStream ignores frames for streams that ended and fails the session
   * for ids that were never opened (as the Go session does).
   * @param {number} id
   * @param {string} type
   */
  unknownStream(id, type) {
    const ours = id % 2 === 1;
    if ((ours && id < this.nextId) || (!ours && id <= this.peerLastId)) return;
    this.shutdown(new ConnError(Code.PROTOCOL_ERROR, `${type} for stream ${id} that was never opened`), true);
  }

  /** @param {import('./wire.js').Frame} f */
  onOpen(f) {
    if (f.streamId % 2 === 1) return this.shutdown(new ConnError(Code.PROTOCOL_ERROR, `server opened stream ${f.streamId} with the client's parity`), true);
    if (f.streamId <= this.peerLastId) return this.shutdown(new ConnError(Code.PROTOCOL_ERROR, `stream id ${f.streamId} not above ${this.peerLastId}`), true);
    this.peerLastId = f.streamId;
    const handler = this.streamHandlers.get(f.route);
    if (!handler) {
      this.queueControl({ type: 'ERROR', flags: 0, streamId: f.streamId, code: Code.NO_ROUTE, reason: `no handler for stream ${JSON.stringify(f.route)}` });
      return;
    }
    const st = this.newStream(f.streamId, f.kind, f.route, false, f.priority, (f.flags & 1) === 1, f.metadata);
    st.sendLimit = Number(f.window);
    Promise.resolve().then(() => handler(st, this)).then(
      () => st.accept(),
      (err) => st.fail(new StreamError(st.id, typeof err?.code === 'number' ? err.code : Code.REFUSED, String(err?.message ?? err)), true));
  }

  /**
   * @param {string} name
   * @param {Uint8Array} data
   */
  onEvent(name, data) {
    const set = this.eventHandlers.get(name);
    if (!set) return;
    const copy = data.slice();
    for (const fn of set) {
      try {
        fn(copy, this);
      } catch (err) {
        console.error(`streamd: event handler ${name}:`, err);
      }
    }
  }

  /**
   * @param {number} id
   * @param {string} name
   * @param {Uint8Array} data
   */
  onRequest(id, name, data) {
    const reply = (/** @type {number} */ code, /** @type {Uint8Array} */ payload) => {
      if (!this.error) this.queueUrgent(encodeFrame({ type: 'REPLY', flags: 0, streamId: id, code, data: payload }));
    };
    const h = this.requestHandlers.get(name);
    if (!h) return reply(Code.NO_ROUTE, enc.encode(`no handler for request ${JSON.stringify(name)}`));
    if (this.requestsRunning >= 64) return reply(Code.BUSY, enc.encode('64 requests in progress'));
    this.requestsRunning++;
    const copy = data.slice();
    Promise.resolve().then(() => h(copy, this)).then(
      (out) => {
        const bytes = dataBytes(out);
        if (bytes.length > this.maxFrame) reply(Code.MESSAGE_TOO_LARGE, enc.encode(`reply of ${bytes.length} bytes > max frame ${this.maxFrame}`));
        else reply(Code.NO_ERROR, bytes);
      },
      (err) => reply(typeof err?.code === 'number' ? err.code : Code.INTERNAL_ERROR, enc.encode(String(err?.message ?? err).slice(0, 1024))),
    ).finally(() => { this.requestsRunning--; });
  }

  /**
   * @param {number} id
   * @param {number} code
   * @param {Uint8Array} data
   */
  onReply(id, code, data) {
    const p = this.pending.get(id);
    if (!p) return; // timed out: a late reply is ignored
    if (code === Code.NO_ERROR) p.resolve(data.slice());
    else p.reject(new RequestError(p.name, code, dec.decode(data)));
  }

  // ---- streams ----

  /**
   * @param {number} id
   * @param {number} kind
   * @param {string} route
   * @param {boolean} local
   * @param {number} priority
   * @param {boolean} checksum
   * @param {string} metadata
   * @param {number} [window]
   */
  newStream(id, kind, route, local, priority, checksum, metadata, window) {
    const w = Math.max(window ?? this.opts.window, this.maxFrame);
    const st = new Stream(this, {
      id, kind, route, local, priority, checksum, metadata,
      window: w, maxWindow: Math.max(this.opts.maxWindow, w), sendBuffer: this.opts.sendBuffer,
    });
    this.streams.set(id, st);
    return st;
  }

  /** @param {Stream} st */
  removeStream(st) {
    if (this.streams.get(st.id) === st) this.streams.delete(st.id);
    this.ready.delete(st);
  }

  /** keepalive pings the server and ends a session that went silent. */
  keepalive() {
    if (this.error || this.detached) return;
    const idle = performance.now() - this.lastRecv;
    if (idle > 3 * this.pingInterval) {
      this.shutdown(new ConnError(Code.TIMEOUT, `no frames from the server for ${Math.round(idle)} ms`), true);
      return;
    }
    if (this.pingSentAt) return; // the last PING is unanswered; the idle check covers a dead peer
    this.pingSentAt = performance.now();
    const data = new Uint8Array(8);
    crypto.getRandomValues(data);
    this.queueControl({ type: 'PING', flags: 0, streamId: 0, data });
  }

  /** ping measures the round-trip time now (the session also pings periodically). */
  ping() {
    if (!this.pingSentAt && !this.detached) {
      this.pingSentAt = performance.now();
      const data = new Uint8Array(8);
      crypto.getRandomValues(data);
      this.queueControl({ type: 'PING', flags: 0, streamId: 0, data });
    }
  }

  /**
   * shutdown ends the session once with err. With notify, the server is sent
   * ERROR on stream 0 (with the control frames still queued) first.
   * @param {Error} err
   * @param {boolean} notify
   */
  shutdown(err, notify) {
    if (this.error) return;
    this.error = err;
    clearInterval(this.pingTimer);
    if (notify) {
      const ce = /** @type {ConnError} */ (err);
      try {
        const frames = [...this.control, encodeFrames([{ type: 'ERROR', flags: 0, streamId: 0, code: ce.code ?? Code.INTERNAL_ERROR, reason: ce.reason ?? err.message }])];
        this.transport.send(concatParts(frames, frames.reduce((n, f) => n + f.length, 0)));
      } catch { /* the transport is gone */ }
    }
    this.control = [];
    this.urgent = [];
    this.ready.clear();
    this.transport.close();
    for (const st of [...this.streams.values()]) st.end(State.failed, err);
    for (const p of [...this.pending.values()]) p.reject(err);
    this.isClosed = true;
    const normal = err instanceof ConnError && err.code === Code.NO_ERROR && !err.remote;
    this.resolveClosed(normal ? null : err);
    this.dispatchEvent(new CustomEvent('close', { detail: normal ? null : err }));
  }
}

export { CompressionError };
