// @ts-check
/**
 * Session resume (docs/PROTOCOL.md §7, §3.8; docs/RESUME.md): the HELLO/WELCOME
 * exchange, the positions each side states, and the reconciliation that
 * follows, for the client side. A resumable session (HELLO "resumable": true)
 * keeps every byte it sent until an ACK covers it; when its transport is lost
 * it detaches instead of ending, and Session.resumeOn re-attaches it to a new
 * transport, sending again what the server did not receive.
 *
 * @module
 */

import { Code, decodeMessage, encodeFrame, WireError } from './wire.js';
import { ConnError, StreamError } from './errors.js';

/** Position flags (§7). */
export const PosFlag = Object.freeze({ CLOSED: 1, ACCEPTED: 2, PAUSED: 4 });

/** Streams whose end a session remembers, to repeat it after a resume. */
export const FINISHED_CAP = 4096;

/**
 * @typedef {{id: number, received?: number, from?: number, credit?: number, flags?: number}} Position
 * @typedef {{token?: string, lastStream?: number, streams?: Position[]}} ResumeInfo
 */

/**
 * exchange sends HELLO over transport and resolves with the WELCOME JSON; an
 * ERROR on stream 0 rejects with its code. Messages after WELCOME are kept on
 * the transport for the session.
 * @param {any} transport
 * @param {object} hello the HELLO JSON
 * @param {number} timeoutMs
 * @returns {Promise<any>}
 */
export async function exchange(transport, hello, timeoutMs) {
  const first = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new ConnError(Code.TIMEOUT, `no WELCOME within ${timeoutMs} ms`)), timeoutMs);
    transport.onclose = (/** @type {Error} */ err) => { clearTimeout(timer); reject(new ConnError(Code.INTERNAL_ERROR, `handshake: ${err.message}`, { cause: err })); };
    transport.onmessage = (/** @type {Uint8Array} */ msg) => {
      clearTimeout(timer);
      transport.onmessage = (/** @type {Uint8Array} */ m) => transport.pending.push(m); // kept for the session
      resolve(msg);
    };
  });
  transport.send(encodeFrame({ type: 'HELLO', flags: 0, streamId: 0, json: JSON.stringify(hello) }));
  const msg = /** @type {Uint8Array} */ (await first);
  let frames;
  try {
    frames = decodeMessage(msg, 65536);
  } catch (err) {
    throw new ConnError(err instanceof WireError ? err.wireCode : Code.PROTOCOL_ERROR, `handshake: ${/** @type {Error} */ (err).message}`);
  }
  const f = frames[0];
  if (f?.type === 'ERROR' && f.streamId === 0) throw new ConnError(f.code, f.reason, { remote: true });
  if (frames.length !== 1 || f.type !== 'WELCOME') {
    throw new ConnError(Code.PROTOCOL_ERROR, `handshake: expected a lone WELCOME, got ${frames.map((x) => x.type).join(', ')}`);
  }
  transport.handler = null; // the session's handler takes the kept messages
  return JSON.parse(f.json);
}

/**
 * positions returns this side's view of every live stream (§7).
 * @param {import('./session.js').Session} s
 * @returns {ResumeInfo}
 */
export function positions(s) {
  /** @type {Position[]} */
  const streams = [];
  for (const st of [...s.streams.values()].sort((a, b) => a.id - b.id)) {
    if (st.ended) continue;
    let flags = 0;
    if (st.recvClosed) flags |= PosFlag.CLOSED;
    if ((st.local && st.state !== 'opening') || (!st.local && st.acceptSent)) flags |= PosFlag.ACCEPTED;
    if (st.pausedLocal) flags |= PosFlag.PAUSED;
    /** @type {Position} */
    const p = { id: st.id, received: st.canRecv ? st.received : 0, flags };
    if (st.canSend) p.from = st.replayBase;
    if (st.canRecv) p.credit = st.recvLimit;
    streams.push(p);
  }
  return { token: s.resumeToken, lastStream: s.peerLastId, streams };
}

/**
 * reconcile applies the server's positions after a resume and returns the
 * frames that must go out first on the new transport: OPENs the server never
 * got, CLOSEs it missed, how streams it still lists ended here. Streams that
 * cannot go on (a gap) end.
 * @param {import('./session.js').Session} s
 * @param {ResumeInfo} peer
 * @returns {Uint8Array[]}
 */
export function reconcile(s, peer) {
  /** @type {Map<number, Position>} */
  const byId = new Map((peer.streams ?? []).map((p) => [p.id, p]));
  const lastStream = peer.lastStream ?? 0;
  /** @type {Uint8Array[]} */
  const frames = [];
  /** @type {Array<[import('./stream.js').Stream, StreamError]>} */
  const failed = [];
  s.control = []; // rebuilt from the streams' state below
  for (const st of [...s.streams.values()].sort((a, b) => a.id - b.id)) {
    const p = byId.get(st.id);
    if (p) {
      try {
        frames.push(...st.applyPeer(p));
      } catch (err) {
        failed.push([st, /** @type {StreamError} */ (err)]);
      }
    } else if (st.local && st.id > lastStream) {
      frames.push(st.openFrame()); // the OPEN was lost
    }
    // Otherwise the server ended the stream and repeats how.
  }
  for (const p of peer.streams ?? []) {
    if (s.streams.has(p.id)) continue;
    const serverOpened = p.id % 2 === 0;
    if ((serverOpened && p.id > s.peerLastId) || (!serverOpened && p.id >= s.nextId)) continue;
    frames.push(s.finished.get(p.id) ?? encodeFrame({ type: 'ERROR', flags: 0, streamId: p.id, code: Code.NOT_FOUND, reason: 'stream unknown after resume' }));
  }
  for (const [st, err] of failed) {
    if (st.end('failed', err) && err.code === Code.GAP) {
      frames.push(encodeFrame({ type: 'ERROR', flags: 0, streamId: st.id, code: Code.GAP, reason: err.reason }));
    }
  }
  return frames;
}

/**
 * gapError is the error of a stream that lost bytes over a resume.
 * @param {number} id
 * @param {number} offset first byte lost
 * @param {number} size bytes lost
 */
export function gapError(id, offset, size) {
  return new StreamError(id, Code.GAP, `stream ${id}: GAP: ${size} bytes at offset ${offset} can no longer be replayed`);
}

/**
 * resumeSession resumes the detached session s over transport (HELLO with
 * "resume"); see Session.resumeOn.
 * @param {import('./session.js').Session} s
 * @param {any} transport
 * @param {object} baseHello the session's HELLO JSON, without "resume"
 */
export async function resumeSession(s, transport, baseHello) {
  if (s.error) throw s.error;
  if (!s.detached) throw new ConnError(Code.PROTOCOL_ERROR, 'resumeOn: the session is not detached');
  const hello = { ...baseHello, resume: positions(s) };
  let welcome;
  try {
    welcome = await exchange(transport, hello, s.opts.handshakeTimeout);
  } catch (err) {
    transport.close();
    const e = /** @type {ConnError} */ (err);
    if (e.remote) s.shutdown(e, false); // refused (RESUME_REJECTED, UNAUTHORIZED, …): final
    throw err;
  }
  if (s.error) {
    transport.close();
    throw s.error;
  }
  s.prelude = reconcile(s, welcome.resumed ?? {});
  s.detached = false;
  s.resumes++;
  s.attach(transport);
  for (const st of s.streams.values()) s.schedule(st);
  s.kick();
  s.dispatchEvent(new CustomEvent('resumed', { detail: s }));
}

/**
 * recordFinished remembers how stream st of session s ended (state, err), as
 * the frame to repeat to a server that missed it in a cut.
 * @param {import('./session.js').Session} s
 * @param {import('./stream.js').Stream} st
 * @param {string} state
 * @param {Error|null} err
 */
export function recordFinished(s, st, state, err) {
  if (!s.resumable) return;
  /** @type {import('./wire.js').Frame|null} */
  let f = null;
  const se = /** @type {StreamError|null} */ (err);
  if (state === 'completed') f = { type: 'ACK', flags: 1, streamId: st.id, received: BigInt(st.received) };
  else if (se instanceof StreamError && (!se.remote || se.code === Code.GAP)) {
    f = { type: state === 'cancelled' ? 'CANCEL' : 'ERROR', flags: 0, streamId: st.id, code: se.code, reason: se.reason };
  }
  if (!f) return;
  s.finished.delete(st.id);
  s.finished.set(st.id, s.encode(f));
  if (s.finished.size > FINISHED_CAP) s.finished.delete(/** @type {number} */ (s.finished.keys().next().value));
}
