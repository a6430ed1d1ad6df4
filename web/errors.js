// @ts-check
/**
 * Typed errors of the client. Every protocol error carries its wire code
 * (docs/PROTOCOL.md §6): match with `err.code === Code.NO_ROUTE`, or
 * `err instanceof StreamError`, never by message.
 *
 * @module
 */

import { Code, codeName } from './wire.js';

/** StreamdError is an error with a wire code. */
export class StreamdError extends Error {
  /**
   * @param {number} code wire error code
   * @param {string} reason
   * @param {{remote?: boolean, cause?: unknown}} [info]
   */
  constructor(code, reason, info = {}) {
    super(`${codeName(code)}${reason ? ': ' + reason : ''}`, { cause: info.cause });
    this.name = 'StreamdError';
    /** the wire code */
    this.code = code;
    /** the spec name of the code */
    this.codeName = codeName(code);
    this.reason = reason;
    /** true when the peer reported it */
    this.remote = !!info.remote;
  }
}

/** StreamError ended one stream (ERROR on a stream, CANCEL, a bad frame for it). */
export class StreamError extends StreamdError {
  /**
   * @param {number} streamId
   * @param {number} code
   * @param {string} reason
   * @param {{remote?: boolean, cause?: unknown}} [info]
   */
  constructor(streamId, code, reason, info) {
    super(code, reason, info);
    this.name = 'StreamError';
    this.streamId = streamId;
  }
}

/** ConnError ended the session (ERROR on stream 0, a transport failure, a timeout). */
export class ConnError extends StreamdError {
  /**
   * @param {number} code
   * @param {string} reason
   * @param {{remote?: boolean, cause?: unknown}} [info]
   */
  constructor(code, reason, info) {
    super(code, reason, info);
    this.name = 'ConnError';
  }
}

/** RequestError is a REPLY with a non-zero code, or a request that timed out. */
export class RequestError extends StreamdError {
  /**
   * @param {string} requestName
   * @param {number} code
   * @param {string} reason
   */
  constructor(requestName, code, reason) {
    super(code, `request ${JSON.stringify(requestName)}: ${reason}`, { remote: code !== Code.TIMEOUT });
    this.name = 'RequestError';
    this.requestName = requestName;
  }
}
