// @ts-check
/**
 * Client keeps a session to a streamd server: it dials (WebTransport first
 * when configured and available, then WebSocket), reconnects with
 * exponential backoff and full jitter when the session is lost, and re-opens
 * a new session when the server sends GOAWAY.
 *
 * @module
 */

import { Session } from './session.js';
import { dialWebSocket, dialWebTransport, webTransportSupported, hashBytes } from './transport.js';
import { ConnError } from './errors.js';
import { Code } from './wire.js';

/**
 * Client options. Every field is optional.
 * @typedef {object} ClientOptions
 * @property {string} [url] WebSocket endpoint (default: /streamd on the page's origin)
 * @property {string} [token] bearer token, sent as ?token= on the WebSocket upgrade and the WebTransport CONNECT (browsers cannot set headers on either)
 * @property {Array<'webtransport'|'websocket'>} [transports] order to try (["webtransport", "websocket"] where WebTransport exists, else ["websocket"])
 * @property {string} [webTransportUrl] WebTransport endpoint (https://); default: from /cert-hash's "url", or the page's host on port 8443, path /streamd
 * @property {string} [certHashUrl] where the development certificate hash is published ("/cert-hash"); "" to not fetch it
 * @property {Array<Uint8Array|string>} [certHashes] serverCertificateHashes to use instead of fetching them
 * @property {number} [backoffInitial] first reconnect delay ceiling in ms (250)
 * @property {number} [backoffMax] largest reconnect delay ceiling in ms (30,000)
 * @property {number} [dialTimeout] ms to wait for a transport to open (10,000)
 * @property {boolean} [reconnect] reconnect after losing the session (true)
 * @property {import('./options.js').SessionOptions} [session] options of every session
 */

/** Client states. */
export const ClientState = Object.freeze({
  idle: 'idle', connecting: 'connecting', open: 'open', reconnecting: 'reconnecting', closed: 'closed',
});

/**
 * backoffDelay returns the delay before reconnect attempt n (0-based):
 * "full jitter", a uniform random value in [0, min(max, initial·2ⁿ)).
 * @param {number} attempt
 * @param {number} initial
 * @param {number} max
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, initial, max, random = Math.random) {
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Client is an EventTarget: "statechange" (detail: {state, transport, attempt,
 * delay, error}), "session" (detail: a new Session), "resumed" (detail: the
 * Session that continued on a new transport, streams intact).
 */
export class Client extends EventTarget {
  /** @param {ClientOptions} [opts] */
  constructor(opts = {}) {
    super();
    const origin = globalThis.location?.origin ?? 'http://127.0.0.1:8080';
    this.opts = {
      url: opts.url ?? new URL('/streamd', origin).href,
      transports: opts.transports ?? (webTransportSupported() ? ['webtransport', 'websocket'] : ['websocket']),
      certHashUrl: opts.certHashUrl ?? '/cert-hash',
      backoffInitial: opts.backoffInitial ?? 250,
      backoffMax: opts.backoffMax ?? 30000,
      dialTimeout: opts.dialTimeout ?? 10000,
      reconnect: opts.reconnect ?? true,
      token: opts.token,
      webTransportUrl: opts.webTransportUrl,
      certHashes: opts.certHashes,
      session: opts.session ?? {},
    };
    /** @type {string} */
    this.state = ClientState.idle;
    /** "websocket" or "webtransport" while a session is open, else null */
    this.transport = /** @type {string|null} */ (null);
    /** @type {Session|null} */
    this.session = null;
    this.attempt = 0;
    /** @type {Error|null} */
    this.lastError = null;
    /** @type {Array<(s: Session) => void>} */
    this.waiters = [];
    /** @type {Array<(s: Session) => void>} */
    this.setups = [];
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.timer = undefined;
    this.running = false;
  }

  /**
   * start begins connecting (and keeps reconnecting). It returns the client.
   */
  start() {
    if (this.state === ClientState.idle) {
      this.loop();
    }
    return this;
  }

  /**
   * ready resolves with an open session, waiting for the next one if needed.
   * @returns {Promise<Session>}
   */
  ready() {
    this.start();
    if (this.session && !this.session.error && !this.session.goingAway) return Promise.resolve(this.session);
    if (this.state === ClientState.closed) return Promise.reject(new ConnError(Code.NO_ERROR, 'client closed'));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * onSession registers fn to run on every new session (now, if one is open):
   * the place to register event and request handlers.
   * @param {(s: Session) => void} fn
   */
  onSession(fn) {
    this.setups.push(fn);
    if (this.session && !this.session.error) fn(this.session);
  }

  /**
   * open opens a stream on the current (or next) session.
   * @param {import('./session.js').OpenOptions} o
   */
  async open(o) {
    return (await this.ready()).open(o);
  }

  /**
   * request sends a request on the current (or next) session.
   * @param {string} name
   * @param {any} [data]
   * @param {{timeout?: number, signal?: AbortSignal}} [o]
   */
  async request(name, data, o) {
    return (await this.ready()).request(name, data, o);
  }

  /**
   * requestJSON sends a JSON request and parses the JSON reply.
   * @param {string} name
   * @param {any} [value]
   * @param {{timeout?: number, signal?: AbortSignal}} [o]
   */
  async requestJSON(name, value, o) {
    return (await this.ready()).requestJSON(name, value, o);
  }

  /** close ends the session and stops reconnecting. */
  close() {
    clearTimeout(this.timer);
    this.setState(ClientState.closed, null);
    this.session?.close();
    this.session = null;
  }

  /**
   * @param {string} state
   * @param {Error|null} error
   * @param {number} [delay]
   */
  setState(state, error, delay) {
    if (this.state === ClientState.closed) return;
    this.state = state;
    this.lastError = error;
    this.dispatchEvent(new CustomEvent('statechange', {
      detail: { state, transport: this.transport, attempt: this.attempt, delay, error },
    }));
  }

  /** loop dials until a session is up, then waits for it to end, forever. */
  async loop() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.state !== ClientState.closed) {
        this.transport = null;
        this.setState(this.attempt === 0 ? ClientState.connecting : ClientState.reconnecting, this.lastError);
        let session;
        try {
          session = await this.dial();
        } catch (err) {
          if (this.state === ClientState.closed) return;
          const delay = backoffDelay(this.attempt, this.opts.backoffInitial, this.opts.backoffMax);
          this.attempt++;
          this.setState(ClientState.reconnecting, /** @type {Error} */ (err), delay);
          await new Promise((r) => { this.timer = setTimeout(r, delay); });
          continue;
        }
        if (this.state === ClientState.closed) {
          session.close();
          return;
        }
        this.attempt = 0;
        this.session = session;
        this.transport = session.transportKind;
        for (const fn of this.setups) fn(session);
        this.setState(ClientState.open, null);
        this.dispatchEvent(new CustomEvent('session', { detail: session }));
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w(session);
        // Wait for the end, or for GOAWAY: then a new session takes new
        // streams while the old one finishes its own. A resumable session
        // that lost its transport is resumed on a new one first.
        const goaway = new Promise((r) => session.addEventListener('goaway', () => r({ err: null, goaway: true }), { once: true }));
        /** @type {any} */
        let ended;
        for (;;) {
          ended = await Promise.race([
            session.closed.then((/** @type {Error|null} */ err) => ({ err, goaway: false })),
            goaway,
            new Promise((r) => session.addEventListener('detached', (/** @type {Event} */ ev) => r({ detached: /** @type {CustomEvent} */ (ev).detail }), { once: true })),
          ]);
          if (!ended.detached || this.state === ClientState.closed) break;
          if (!(await this.resume(session, ended.detached))) {
            ended = { err: session.error, goaway: false };
            break;
          }
          this.transport = session.transportKind;
          this.setState(ClientState.open, null);
          this.dispatchEvent(new CustomEvent('resumed', { detail: session }));
        }
        if (this.state === ClientState.closed) return;
        this.lastError = /** @type {any} */ (ended).err;
        if (!this.opts.reconnect) {
          this.close();
          return;
        }
        // A quick first retry after a session that was up: the backoff starts over.
        const delay = backoffDelay(0, this.opts.backoffInitial, this.opts.backoffMax);
        this.attempt = 1;
        this.transport = null;
        this.setState(ClientState.reconnecting, this.lastError, delay);
        await new Promise((r) => { this.timer = setTimeout(r, delay); });
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * resume tries to continue session on new transports, with backoff, until
   * it resumed (true) or can no longer (false: the server refused, or the
   * resume TTL passed; the session has ended then).
   * @param {Session} session
   * @param {Error} cause
   */
  async resume(session, cause) {
    const deadline = Date.now() + Math.max(session.resumeTTL, 1) * 1000;
    /** @type {Error} */
    let last = cause;
    for (let attempt = 0; this.state !== ClientState.closed; attempt++) {
      this.transport = null;
      const delay = backoffDelay(attempt, this.opts.backoffInitial, this.opts.backoffMax);
      this.setState(ClientState.reconnecting, last, delay);
      await new Promise((r) => { this.timer = setTimeout(r, delay); });
      if (session.error) return false;
      if (Date.now() > deadline) {
        session.shutdown(new ConnError(Code.TIMEOUT, `could not resume within ${session.resumeTTL} s: ${last.message}`), false);
        return false;
      }
      try {
        await this.dial((t) => session.resumeOn(t));
        return true;
      } catch (err) {
        last = /** @type {Error} */ (err);
        if (session.error) return false; // refused for good (RESUME_REJECTED, …)
      }
    }
    return false;
  }

  /**
   * dial tries each transport in order and returns what use (by default a new
   * session's handshake) makes of the first one that works.
   * @template T
   * @param {(t: any) => Promise<T>} [use]
   * @returns {Promise<T>}
   */
  async dial(use = (t) => /** @type {Promise<any>} */ (Session.handshake(t, this.opts.session))) {
    /** @type {Error[]} */
    const errors = [];
    for (const kind of this.opts.transports) {
      try {
        const t = kind === 'webtransport' ? await this.dialWT() : await dialWebSocket(this.opts.url, {
          token: this.opts.token, timeoutMs: this.opts.dialTimeout,
        });
        return await use(t);
      } catch (err) {
        errors.push(/** @type {Error} */ (err));
        if (/** @type {any} */ (err)?.remote) break; // the server answered: another transport gets the same answer
      }
    }
    if (errors.length === 1) throw errors[0];
    const last = /** @type {any} */ (errors[errors.length - 1]);
    throw new ConnError(typeof last?.code === 'number' ? last.code : Code.INTERNAL_ERROR,
      errors.map((e, i) => `${this.opts.transports[i]}: ${e.message}`).join('; '), { cause: last });
  }

  /** dialWT fetches the certificate hash (development) and dials WebTransport. */
  async dialWT() {
    let url = this.opts.webTransportUrl;
    let hashes = this.opts.certHashes;
    if (!hashes && this.opts.certHashUrl) {
      const info = await fetchCertHash(this.opts.certHashUrl);
      if (!info.found && !url) throw new ConnError(Code.INTERNAL_ERROR, `webtransport: not enabled on this server (${this.opts.certHashUrl}: 404)`);
      hashes = info.hashes;
      url = url ?? info.url;
    }
    if (!url) {
      const u = new URL(this.opts.url, globalThis.location?.href);
      url = `https://${u.hostname}:8443/streamd`;
    }
    // The token goes in ?token= on the CONNECT, as for the WebSocket upgrade
    // (docs/WEBTRANSPORT.md §1).
    return dialWebTransport(url, { token: this.opts.token, certHashes: hashes, timeoutMs: this.opts.dialTimeout });
  }
}

/**
 * fetchCertHash reads the published development certificate hash: JSON
 * {"algorithm": "sha-256", "value": HASH, "next": HASH, "url": "https://…"}
 * (transport/webtransport CertInfo; hashes in base64 or hex), or plain hex.
 * "next" is the certificate of the next rotation, passed too so reconnects keep
 * working across it. A 404 means WebTransport is not enabled on the server.
 * @param {string} url
 * @returns {Promise<{found: boolean, hashes: Uint8Array[]|undefined, url: string|undefined}>}
 */
export async function fetchCertHash(url) {
  const res = await fetch(url, { cache: 'no-store' });
  if (res.status === 404) return { found: false, hashes: undefined, url: undefined };
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const text = (await res.text()).trim();
  if (text.startsWith('{')) {
    const j = JSON.parse(text);
    if (j.algorithm && j.algorithm !== 'sha-256') throw new Error(`${url}: certificate hash algorithm ${j.algorithm}`);
    const list = [j.value, j.next].filter(Boolean).map(hashBytes);
    return { found: true, hashes: list.length ? list : undefined, url: j.url || undefined };
  }
  return { found: true, hashes: text ? [hashBytes(text)] : undefined, url: undefined };
}
