// @ts-check
/**
 * One multiplexed stream of a Session, exposed as WHATWG streams: `readable`
 * (data from the peer) and `writable` (data to the peer), per its kind.
 *
 * Flow control is pull-based: the stream grants the peer credit only as the
 * page *reads* from `readable` (docs/PROTOCOL.md §3.2), so a page that stops
 * reading stops its sender and nobody else. Writes wait for the peer's credit.
 *
 * @module
 */

import { Code, Kind, FrameType, HEADER_LEN } from './wire.js';
import { SHA256 } from './sha256.js';
import { StreamError } from './errors.js';
import { PosFlag, gapError } from './resume.js';

/** Stream states (docs/PROTOCOL.md §3.3). */
export const State = Object.freeze({
  opening: 'opening', active: 'active', paused: 'paused', closing: 'closing',
  completed: 'completed', failed: 'failed', cancelled: 'cancelled',
});

/** @type {Set<string>} */
const terminal = new Set([State.completed, State.failed, State.cancelled]);

/** @type {Record<number, string>} */
const kindNames = { 1: 'upload', 2: 'download', 3: 'bidi', 4: 'broadcast' };

/**
 * directions tells which ways data flows for the opener (local) or acceptor.
 * @param {number} kind
 * @param {boolean} opener
 */
function directions(kind, opener) {
  switch (kind) {
    case Kind.upload: return { send: opener, recv: !opener };
    case Kind.download: case Kind.broadcast: return { send: !opener, recv: opener };
    default: return { send: true, recv: true };
  }
}

/**
 * parseJSON parses metadata text ("" means {}).
 * @param {string} text
 */
function parseJSON(text) {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { _raw: text };
  }
}

/**
 * encodeData encodes a DATA frame without going through the generic encoder.
 * @param {number} id
 * @param {number} flags
 * @param {number} offset
 * @param {Uint8Array} payload
 */
export function encodeData(id, flags, offset, payload) {
  const out = new Uint8Array(HEADER_LEN + 8 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, FrameType.DATA);
  dv.setUint8(1, flags);
  dv.setUint32(2, id);
  dv.setUint32(6, 8 + payload.length);
  dv.setBigUint64(10, BigInt(offset));
  out.set(payload, 18);
  return out;
}

/**
 * toBytes converts a chunk written by the application to bytes.
 * @param {any} chunk
 * @returns {Uint8Array}
 */
export function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return new TextEncoder().encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('stream data must be a Uint8Array, ArrayBuffer, view or string');
}

/**
 * @typedef {object} Progress
 * @property {number} sent bytes handed to the transport
 * @property {number} received bytes the application read
 * @property {number} total expected bytes (from "size" metadata or ACCEPT), -1 if unknown
 * @property {number} bytesPerSecond average rate since the stream opened
 */

/**
 * Stream is one stream of a session. It is an EventTarget: "statechange"
 * (detail: the new state), "checkpoint" (detail: {offset, token}).
 */
export class Stream extends EventTarget {
  /**
   * @param {import('./session.js').Session} session
   * @param {{id: number, kind: number, route: string, local: boolean, priority: number,
   *   checksum: boolean, metadata: string, window: number, maxWindow: number, sendBuffer: number}} o
   */
  constructor(session, o) {
    super();
    this.session = session;
    this.id = o.id;
    this.kindCode = o.kind;
    /** "upload", "download", "bidi" or "broadcast" */
    this.kind = kindNames[o.kind];
    this.route = o.route;
    this.local = o.local;
    this.priority = o.priority;
    this.checksum = o.checksum;
    /** OPEN metadata (parsed JSON) */
    this.metadata = parseJSON(o.metadata);
    this.metadataText = o.metadata;
    /** ACCEPT metadata (parsed JSON), set when the stream is accepted */
    this.acceptMetadata = /** @type {any} */ (null);
    /** @type {string} */
    this.state = State.opening;
    /** @type {Error|null} */
    this.error = null;
    const dir = directions(o.kind, o.local);
    this.canSend = dir.send;
    this.canRecv = dir.recv;
    this.startedAt = Date.now();
    this.total = typeof this.metadata.size === 'number' ? this.metadata.size : -1;

    // send direction
    this.sendLimit = 0;
    this.sent = 0; // bytes framed: the offset of the next DATA
    this.transmitted = 0; // bytes handed to the transport
    /** @type {Array<{bytes: Uint8Array, n: number}>} */
    this.outFrames = [];
    this.outBytes = 0;
    this.sendBuffer = o.sendBuffer;
    this.writeClosed = false;
    this.closeSent = false;
    this.pausedLocal = false;
    this.pausedRemote = false;
    this.compressSkip = 0;
    this.compressMiss = 0;
    this.hashOut = o.checksum && dir.send ? new SHA256() : null;
    // resumable sessions: sent bytes kept until an ACK covers them
    /** @type {Array<{offset: number, data: Uint8Array}>} */
    this.replay = [];
    this.replayBase = 0;
    this.replayBytes = 0;
    this.closeAcked = false;
    this.acceptSent = false;
    this.acceptText = '';
    /** @type {Uint8Array|null} */
    this.lastCheckpoint = null;
    /** @type {StreamError|null} */
    this.pendingGap = null;

    // receive direction
    this.window = o.window;
    this.maxWindow = o.maxWindow;
    this.recvLimit = dir.recv ? o.window : 0;
    this.received = 0; // next expected offset
    this.consumed = 0; // bytes the application read
    this.lastGrantAt = 0;
    /** @type {Uint8Array[]} */
    this.inbox = [];
    this.recvClosed = false;
    this.readEOF = !dir.recv;
    /** @type {Uint8Array|null} */
    this.peerSum = null;
    this.hashIn = o.checksum && dir.recv ? new SHA256() : null;
    this.peerCheckpoint = 0;

    /** @type {Array<() => void>} */
    this.waiters = [];
    /** @type {(v?: any) => void} */
    let resolveAccepted = () => {};
    /** @type {(e: any) => void} */
    let rejectAccepted = () => {};
    this.accepted = new Promise((res, rej) => { resolveAccepted = res; rejectAccepted = rej; });
    this.accepted.catch(() => {});
    this.resolveAccepted = resolveAccepted;
    this.rejectAccepted = rejectAccepted;
    /** @type {(v?: any) => void} */
    let resolveClosed = () => {};
    /** @type {(e: any) => void} */
    let rejectClosed = () => {};
    /** Resolves when the stream completed; rejects with its error otherwise. */
    this.closed = new Promise((res, rej) => { resolveClosed = res; rejectClosed = rej; });
    this.closed.catch(() => {});
    this.resolveClosed = resolveClosed;
    this.rejectClosed = rejectClosed;

    /** @type {ReadableStreamDefaultController<Uint8Array>|null} */
    this.controller = null;
    /** Data from the peer; null if the kind sends nothing this way. */
    this.readable = dir.recv ? new ReadableStream({
      start: (c) => { this.controller = c; },
      pull: (c) => this.pull(c),
      cancel: (reason) => this.cancel(`reader cancelled${reason ? ': ' + reason : ''}`),
    }, { highWaterMark: 0 }) : null;
    /** Data to the peer; null if the kind sends nothing this way. */
    this.writable = dir.send ? new WritableStream({
      write: (chunk) => this.write(toBytes(chunk)),
      close: () => this.closeWrite(true),
      abort: (reason) => this.cancel(`writer aborted${reason ? ': ' + reason : ''}`),
    }, { highWaterMark: 1 }) : null;
  }

  /** @returns {boolean} whether the stream has ended */
  get ended() { return terminal.has(this.state); }

  /** @param {string} s */
  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.dispatchEvent(new CustomEvent('statechange', { detail: s }));
  }

  /** changed resolves at the next change of credit, buffer, pause or state. */
  changed() {
    return new Promise((r) => this.waiters.push(() => r(undefined)));
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** progress reports bytes moved and the average rate. @returns {Progress} */
  progress() {
    const secs = Math.max((Date.now() - this.startedAt) / 1000, 0.001);
    return {
      sent: this.transmitted, received: this.consumed, total: this.total,
      bytesPerSecond: (this.transmitted + this.consumed) / secs,
    };
  }

  /**
   * accept answers the peer's OPEN (acceptor side) with metadata.
   * @param {any} [metadata]
   */
  accept(metadata) {
    if (this.local || this.state !== State.opening) return;
    const text = metadata === undefined || metadata === null ? '' : JSON.stringify(metadata);
    this.acceptMetadata = metadata ?? {};
    this.acceptSent = true;
    this.acceptText = text;
    this.session.queueControl({ type: 'ACCEPT', flags: 0, streamId: this.id, window: BigInt(this.recvLimit), metadata: text });
    this.setState(State.active);
    this.resolveAccepted();
  }

  // ---- send direction ----

  /**
   * write frames chunk within the peer's credit (WritableStream sink).
   * @param {Uint8Array} chunk
   */
  async write(chunk) {
    await this.accepted;
    const maxFrame = this.session.maxFrame;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.ended) throw this.error ?? new StreamError(this.id, Code.CANCELLED, 'stream ended');
      if (this.writeClosed) throw new StreamError(this.id, Code.PROTOCOL_ERROR, 'write after close');
      const credit = this.sendLimit - this.sent;
      if (credit <= 0 || this.pausedLocal || this.pausedRemote || this.outBytes >= this.sendBuffer) {
        await this.changed();
        continue;
      }
      const n = Math.min(chunk.length - pos, maxFrame, credit);
      const piece = chunk.subarray(pos, pos + n);
      this.hashOut?.update(piece);
      const { flags, payload } = await this.session.compressData(this, piece);
      if (this.ended) continue;
      const bytes = encodeData(this.id, flags, this.sent, payload);
      if (this.session.resumable) this.keep(this.sent, piece.slice());
      this.sent += n;
      pos += n;
      this.outFrames.push({ bytes, n });
      this.outBytes += bytes.length;
      this.session.schedule(this);
    }
  }

  /**
   * closeWrite ends this side's direction: CLOSE follows the queued data. With
   * wait, it resolves once CLOSE went out and, for a stream that receives
   * nothing, once the peer confirmed (the upload is complete).
   * @param {boolean} [wait]
   */
  async closeWrite(wait = false) {
    await this.accepted;
    if (this.ended) {
      if (this.state === State.completed) return;
      throw this.error;
    }
    if (!this.writeClosed) {
      this.writeClosed = true;
      if (this.state === State.active || this.state === State.paused) this.setState(State.closing);
      this.session.schedule(this);
    }
    if (wait && !this.canRecv) await this.closed;
  }

  /** sendReady reports whether the writer has a frame to take from this stream. */
  sendReady() {
    if (this.ended || this.state === State.opening) return false;
    if (this.outFrames.length) return !this.pausedLocal && !this.pausedRemote;
    return this.writeClosed && !this.closeSent;
  }

  /**
   * takeFrame hands the writer this stream's next frame (DATA or CLOSE).
   * @returns {Uint8Array|null}
   */
  takeFrame() {
    if (!this.sendReady()) return null;
    const f = this.outFrames.shift();
    if (f) {
      this.outBytes -= f.bytes.length;
      this.transmitted += f.n;
      this.wake();
      return f.bytes;
    }
    this.closeSent = true;
    const frame = { type: 'CLOSE', flags: 0, streamId: this.id, total: BigInt(this.sent) };
    if (this.checksum) {
      /** @type {any} */ (frame).checksum = (this.hashOut ?? new SHA256()).digest();
    }
    queueMicrotask(() => this.maybeComplete());
    return this.session.encode(frame);
  }

  /** @param {number} limit */
  onCredit(limit) {
    if (limit > this.sendLimit) {
      this.sendLimit = limit;
      this.wake();
      this.session.schedule(this);
    }
  }

  /**
   * keep retains sent bytes for a resume; beyond the session's replay cap the
   * oldest are dropped (a resume from before them becomes a gap).
   * @param {number} offset
   * @param {Uint8Array} data
   */
  keep(offset, data) {
    this.replay.push({ offset, data });
    this.replayBytes += data.length;
    const cap = this.session.opts.replayBuffer;
    while (this.replayBytes > cap && this.replay.length > 1) {
      const old = /** @type {{offset: number, data: Uint8Array}} */ (this.replay.shift());
      this.replayBytes -= old.data.length;
      this.replayBase = this.replay[0].offset;
    }
  }

  /**
   * onAck applies the peer's ACK: bytes below received arrived (the replay
   * drops them); with fin the peer also has this side's CLOSE.
   * @param {number} received
   * @param {boolean} fin
   */
  onAck(received, fin) {
    if (this.ended) return;
    const to = Math.min(received, this.sent);
    while (this.replay.length && this.replay[0].offset + this.replay[0].data.length <= to) {
      const old = /** @type {{offset: number, data: Uint8Array}} */ (this.replay.shift());
      this.replayBytes -= old.data.length;
    }
    if (this.replay.length && this.replay[0].offset < to) {
      const head = this.replay[0];
      const cut = to - head.offset;
      this.replay[0] = { offset: to, data: head.data.subarray(cut) };
      this.replayBytes -= cut;
    }
    this.replayBase = Math.max(this.replayBase, to);
    if (fin && this.closeSent && received === this.sent) {
      this.closeAcked = true;
      this.maybeComplete();
    }
  }

  /** openFrame encodes this stream's OPEN again (the server never got it). */
  openFrame() {
    return this.session.encode({
      type: 'OPEN', flags: this.checksum ? 1 : 0, streamId: this.id, kind: this.kindCode, priority: this.priority,
      window: BigInt(this.canRecv ? this.recvLimit : 0), route: this.route, metadata: this.metadataText,
    });
  }

  /**
   * applyPeer applies the server's position of this stream after a resume
   * (docs/PROTOCOL.md §7) and returns frames to send first. It throws the
   * StreamError that ends the stream (a gap, an impossible position).
   * @param {import('./resume.js').Position} p
   * @returns {Uint8Array[]}
   */
  applyPeer(p) {
    if (this.ended) return [];
    /** @type {Uint8Array[]} */
    const frames = [];
    const peerReceived = p.received ?? 0, peerFrom = p.from ?? 0, flags = p.flags ?? 0;
    if (this.canRecv && !this.recvClosed && peerFrom > this.received) {
      const gap = gapError(this.id, this.received, peerFrom - this.received);
      if (!this.inbox.length) throw gap;
      this.pendingGap = gap; // delivered after what arrived
      this.writeClosed = true;
      this.closeSent = true;
    }
    if (this.canRecv) {
      this.pausedRemote = (flags & PosFlag.PAUSED) !== 0;
      this.updatePaused();
    }
    if (!this.local && this.acceptSent && !(flags & PosFlag.ACCEPTED)) {
      frames.push(this.session.encode({ type: 'ACCEPT', flags: 0, streamId: this.id, window: BigInt(this.recvLimit), metadata: this.acceptText }));
    }
    if (this.state !== State.opening && !this.pendingGap) {
      if (peerReceived > this.sent) throw new StreamError(this.id, Code.PROTOCOL_ERROR, `peer resumed at ${peerReceived} bytes, only ${this.sent} were sent`);
      if (peerReceived < this.replayBase) throw gapError(this.id, peerReceived, this.replayBase - peerReceived);
      // Send again from what the peer received: rebuild the queued frames from the replay.
      this.outFrames = [];
      this.outBytes = 0;
      for (const r of this.replay) {
        const end = r.offset + r.data.length;
        if (end <= peerReceived) continue;
        const data = r.offset < peerReceived ? r.data.subarray(peerReceived - r.offset) : r.data;
        const bytes = encodeData(this.id, 0, Math.max(r.offset, peerReceived), data);
        this.outFrames.push({ bytes, n: data.length });
        this.outBytes += bytes.length;
      }
      this.transmitted = peerReceived;
      this.sendLimit = Math.max(this.sendLimit, p.credit ?? 0);
      if (this.closeSent) {
        if (flags & PosFlag.CLOSED) this.closeAcked = true;
        else this.closeSent = false; // the CLOSE was lost: again after the data
      }
      this.wake();
    }
    if (this.lastCheckpoint) frames.push(this.lastCheckpoint);
    return frames;
  }

  // ---- receive direction ----

  /**
   * onData takes the (decompressed) bytes [offset, offset+n) from the peer.
   * @param {number} offset
   * @param {Uint8Array} data
   */
  onData(offset, data) {
    if (this.ended) return; // in flight when it ended
    if (!this.canRecv) return this.fail(new StreamError(this.id, Code.PROTOCOL_ERROR, `DATA on the sending side of a ${this.kind} stream`), true);
    if (this.recvClosed) return this.fail(new StreamError(this.id, Code.PROTOCOL_ERROR, 'DATA after CLOSE'), true);
    if (offset !== this.received) {
      return this.fail(new StreamError(this.id, Code.PROTOCOL_ERROR, `DATA at offset ${offset}, expected ${this.received}`), true);
    }
    const end = offset + data.length;
    if (end > this.recvLimit) {
      return this.fail(new StreamError(this.id, Code.FLOW_CONTROL_ERROR, `stream ${this.id}: ${end - this.recvLimit} bytes beyond credit ${this.recvLimit}`), true);
    }
    this.received = end;
    if (data.length) {
      this.inbox.push(data.slice()); // copy: the message buffer is shared by its frames
      this.wake();
    }
  }

  /**
   * pull delivers the next chunk to the reader (ReadableStream source) and
   * grants credit for what was read.
   * @param {ReadableStreamDefaultController<Uint8Array>} c
   */
  async pull(c) {
    for (;;) {
      const chunk = this.inbox.shift();
      if (chunk) {
        this.consumed += chunk.length;
        this.hashIn?.update(chunk);
        c.enqueue(chunk);
        this.grantCredit();
        return;
      }
      if (this.ended) {
        if (this.state !== State.completed) {
          try { c.error(this.error); } catch { /* errored by end() */ }
        }
        return;
      }
      if (this.pendingGap) {
        this.fail(this.pendingGap, false);
        return;
      }
      if (this.recvClosed) {
        if (this.hashIn && this.peerSum) {
          const got = this.hashIn.digest();
          if (!equalBytes(got, this.peerSum)) {
            const err = new StreamError(this.id, Code.INTEGRITY_ERROR, `sha-256 mismatch after ${this.received} bytes`);
            this.fail(err, true);
            return;
          }
        }
        this.readEOF = true;
        c.close();
        this.controller = null;
        if (!this.canSend) this.closeWrite().catch(() => {}); // confirm: CLOSE(0)
        this.maybeComplete();
        return;
      }
      await this.changed();
    }
  }

  /** grantCredit raises the peer's limit once half a window was read. */
  grantCredit() {
    if (this.recvClosed || this.ended) return;
    if (this.consumed + this.window - this.recvLimit < this.window / 2) return;
    // Auto-tune: a window read within two round trips limited the sender.
    const now = performance.now();
    const rtt = this.session.rtt;
    if (rtt > 0 && this.lastGrantAt && now - this.lastGrantAt < 2 * rtt && this.window < this.maxWindow) {
      this.window = Math.min(this.window * 2, this.maxWindow);
    }
    this.lastGrantAt = now;
    this.recvLimit = this.consumed + this.window;
    this.session.queueControl({ type: 'CREDIT', flags: 0, streamId: this.id, limit: BigInt(this.recvLimit) });
    if (this.session.resumable) { // with every CREDIT, in the same message (§3.8)
      this.session.queueControl({ type: 'ACK', flags: 0, streamId: this.id, received: BigInt(this.received) });
    }
  }

  /**
   * onClose applies the peer's CLOSE.
   * @param {number} total
   * @param {Uint8Array|undefined} checksum
   */
  onClose(total, checksum) {
    if (this.ended || this.recvClosed) return;
    if (total !== this.received) {
      return this.fail(new StreamError(this.id, Code.INTEGRITY_ERROR, `peer closed at ${total} bytes, ${this.received} received`), true);
    }
    this.recvClosed = true;
    if (checksum && this.hashIn) this.peerSum = checksum.slice();
    if (this.session.resumable) this.session.queueControl({ type: 'ACK', flags: 1, streamId: this.id, received: BigInt(total) });
    this.wake();
    this.maybeComplete();
  }

  /** maybeComplete ends the stream once both directions closed and all was read. */
  maybeComplete() {
    // On a resumable session this side's CLOSE must also be acknowledged (ACK FIN).
    const acked = this.closeAcked || !this.session.resumable;
    if (this.closeSent && acked && this.recvClosed && this.readEOF && !this.ended) this.end(State.completed, null);
  }

  // ---- lifecycle ----

  /** @param {any} metadata parsed ACCEPT metadata @param {number} window */
  onAccept(metadata, window) {
    if (this.state !== State.opening) return;
    this.acceptMetadata = metadata;
    if (this.total < 0 && typeof metadata?.size === 'number') this.total = metadata.size;
    this.sendLimit = window;
    this.setState(State.active);
    this.resolveAccepted();
    this.session.schedule(this);
  }

  /**
   * pause asks the peer to stop sending (PAUSE) and stops this side's sender,
   * until resume(). The stream keeps its credit and position.
   */
  pause() { this.setPaused(true); }

  /** resume undoes pause(). */
  resume() { this.setPaused(false); }

  /** @param {boolean} p */
  setPaused(p) {
    if (this.ended || this.pausedLocal === p) return;
    this.pausedLocal = p;
    this.updatePaused();
    this.session.queueControl({ type: p ? 'PAUSE' : 'RESUME', flags: 0, streamId: this.id });
    this.wake();
    if (!p) this.session.schedule(this);
  }

  /** @param {boolean} p */
  onPeerPause(p) {
    this.pausedRemote = p;
    this.updatePaused();
    this.wake();
    if (!p) this.session.schedule(this);
  }

  updatePaused() {
    const paused = this.pausedLocal || this.pausedRemote;
    if (paused && this.state === State.active) this.setState(State.paused);
    else if (!paused && this.state === State.paused) this.setState(State.active);
  }

  /**
   * cancel abandons the stream both ways and tells the peer (CANCEL).
   * @param {string} [reason]
   * @param {number} [code] CANCELLED or an application code (≥ 0x1000)
   */
  cancel(reason = '', code = Code.CANCELLED) {
    const err = new StreamError(this.id, code, reason);
    if (this.end(State.cancelled, err)) {
      this.session.queueControl({ type: 'CANCEL', flags: 0, streamId: this.id, code, reason });
    }
  }

  /**
   * checkpoint tells the peer that bytes [0, offset) it sent are durable here.
   * @param {number} offset
   * @param {Uint8Array} [token] opaque, ≤ 1024 bytes
   */
  checkpoint(offset, token = new Uint8Array(0)) {
    const f = { type: 'CHECKPOINT', flags: 0, streamId: this.id, offset: BigInt(offset), token };
    this.lastCheckpoint = this.session.encode(f);
    this.session.queueControl(f);
  }

  /** @param {number} offset @param {Uint8Array} token */
  onCheckpoint(offset, token) {
    if (offset <= this.peerCheckpoint) return;
    this.peerCheckpoint = offset;
    this.dispatchEvent(new CustomEvent('checkpoint', { detail: { offset, token: token.slice() } }));
  }

  /**
   * fail ends the stream with err; with notify the peer gets an ERROR frame.
   * @param {StreamError} err
   * @param {boolean} notify
   */
  fail(err, notify) {
    if (this.end(State.failed, err) && notify) {
      this.session.queueControl({ type: 'ERROR', flags: 0, streamId: this.id, code: err.code, reason: err.reason });
    }
  }

  /**
   * end moves the stream to a terminal state once; it reports whether it did.
   * @param {string} state
   * @param {Error|null} err
   */
  end(state, err) {
    if (this.ended) return false;
    this.error = err;
    this.outFrames = [];
    this.outBytes = 0;
    this.inbox = [];
    this.setState(state);
    if (err) {
      this.rejectAccepted(err);
      this.rejectClosed(err);
      try { this.controller?.error(err); } catch { /* already closed */ }
    } else {
      this.resolveClosed();
    }
    this.controller = null;
    this.wake();
    this.replay = [];
    this.session.recordFinished(this, state, err);
    this.session.removeStream(this);
    return true;
  }
}

/**
 * equalBytes compares two byte arrays.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 */
function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
