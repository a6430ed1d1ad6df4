// Session behaviour against a scripted peer (no network): handshake, request
// timeouts, flow control violations, unknown frames, ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from '../session.js';
import { decodeMessage, encodeFrames, Code } from '../wire.js';
import { ConnError, RequestError, StreamError } from '../errors.js';

/** A transport whose peer is the test. */
class FakeTransport {
  constructor() {
    this.kind = 'websocket';
    this.pending = [];
    this.handler = null;
    this.closeHandler = null;
    this.closedWith = null;
    /** frames the session sent */
    this.sent = [];
    this.waiters = [];
  }
  set onmessage(fn) { this.handler = fn; while (this.pending.length && this.handler === fn) fn(this.pending.shift()); }
  set onclose(fn) { this.closeHandler = fn; if (this.closedWith) fn(this.closedWith); }
  send(msg) {
    if (this.closedWith) throw this.closedWith;
    this.sent.push(...decodeMessage(msg));
    for (const w of this.waiters.splice(0)) w();
  }
  async drain() {}
  close() { if (!this.closedWith) { this.closedWith = new Error('closed'); this.closeHandler?.(this.closedWith); } }
  /** peer sends frames */
  deliver(...frames) { const m = encodeFrames(frames); this.handler ? this.handler(m) : this.pending.push(m); }
  /** next resolves with the first sent frame of type (waiting for it). */
  async next(type) {
    for (;;) {
      const i = this.sent.findIndex((f) => f.type === type);
      if (i >= 0) return this.sent.splice(i, 1)[0];
      await new Promise((r) => this.waiters.push(r));
    }
  }
}

async function connected(welcome = {}) {
  const t = new FakeTransport();
  const p = Session.handshake(t, { compression: ['gzip'] });
  const hello = JSON.parse((await t.next('HELLO')).json);
  assert.deepEqual(hello.versions, [1]);
  assert.equal(hello.maxFrame, 65536);
  t.deliver({ type: 'WELCOME', flags: 0, streamId: 0, json: JSON.stringify({ version: 1, session: 's1', compression: ['gzip'], maxFrame: 4096, maxMessage: 65536, pingInterval: 60000, ...welcome }) });
  const s = await p;
  return { t, s };
}

test('handshake takes the smaller limits; ERROR instead of WELCOME rejects', async () => {
  const { s } = await connected();
  assert.equal(s.maxFrame, 4096);
  assert.equal(s.maxMessage, 65536);
  s.close();
  const t = new FakeTransport();
  const p = Session.handshake(t);
  await t.next('HELLO');
  t.deliver({ type: 'ERROR', flags: 0, streamId: 0, code: Code.UNAUTHORIZED, reason: 'no' });
  await assert.rejects(p, (e) => e instanceof ConnError && e.code === Code.UNAUTHORIZED && e.remote);
});

test('a request without a reply times out; a late reply is ignored', async () => {
  const { t, s } = await connected();
  const p = s.request('slow', 'x', { timeout: 50 });
  const req = await t.next('REQUEST');
  assert.equal(req.name, 'slow');
  assert.equal(req.timeoutMs, 50);
  await assert.rejects(p, (e) => e instanceof RequestError && e.code === Code.TIMEOUT);
  t.deliver({ type: 'REPLY', flags: 0, streamId: req.streamId, code: 0, data: new Uint8Array(1) });
  const ok = s.request('fast', 'y');
  const r2 = await t.next('REQUEST');
  t.deliver({ type: 'REPLY', flags: 0, streamId: r2.streamId, code: 0, data: new TextEncoder().encode('pong') });
  assert.equal(new TextDecoder().decode(await ok), 'pong');
  assert.equal(s.error, null);
  s.close();
});

test('data beyond the granted credit fails the stream with FLOW_CONTROL_ERROR', async () => {
  const { t, s } = await connected();
  const op = s.open({ route: 'files/download', kind: 'download', window: 4096 });
  const open = await t.next('OPEN');
  assert.equal(open.window, 4096n);
  t.deliver({ type: 'ACCEPT', flags: 0, streamId: open.streamId, window: 0n, metadata: '' });
  const st = await op;
  t.deliver({ type: 'DATA', flags: 0, streamId: st.id, offset: 0n, data: new Uint8Array(4096) });
  t.deliver({ type: 'DATA', flags: 0, streamId: st.id, offset: 4096n, data: new Uint8Array(1) });
  const err = await t.next('ERROR');
  assert.equal(err.code, Code.FLOW_CONTROL_ERROR);
  assert.match(err.reason, /stream 1: 1 bytes beyond credit 4096/);
  await assert.rejects(st.closed, (e) => e instanceof StreamError && e.code === Code.FLOW_CONTROL_ERROR);
  s.close();
});

test('credit is granted as the reader consumes, not as data arrives', async () => {
  const { t, s } = await connected();
  const op = s.open({ route: 'd', kind: 'download', window: 8192 });
  const open = await t.next('OPEN');
  t.deliver({ type: 'ACCEPT', flags: 0, streamId: open.streamId, window: 0n, metadata: '{"size":8192}' });
  const st = await op;
  assert.equal(st.total, 8192);
  t.deliver({ type: 'DATA', flags: 0, streamId: st.id, offset: 0n, data: new Uint8Array(4096).fill(1) },
    { type: 'DATA', flags: 0, streamId: st.id, offset: 4096n, data: new Uint8Array(4096).fill(2) });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(t.sent.filter((f) => f.type === 'CREDIT').length, 0, 'no credit before reading');
  const reader = st.readable.getReader();
  assert.equal((await reader.read()).value[0], 1);
  const credit = await t.next('CREDIT');
  assert.equal(credit.limit, 4096n + 8192n, 'half a window read: the limit moves to read + window');
  assert.equal((await reader.read()).value[0], 2);
  t.deliver({ type: 'CLOSE', flags: 0, streamId: st.id, total: 8192n });
  assert.equal((await reader.read()).done, true);
  const close = await t.next('CLOSE');
  assert.equal(close.total, 0n, 'the opener of a download confirms with CLOSE(0)');
  await st.closed;
  assert.equal(st.state, 'completed');
  s.close();
});

test('a gap in offsets is a stream PROTOCOL_ERROR; unknown frame types are skipped', async () => {
  const { t, s } = await connected();
  const op = s.open({ route: 'd', kind: 'download' });
  const open = await t.next('OPEN');
  const unknown = new Uint8Array([0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2]);
  const accept = encodeFrames([{ type: 'ACCEPT', flags: 0, streamId: open.streamId, window: 0n, metadata: '' }]);
  const m = new Uint8Array(unknown.length + accept.length);
  m.set(unknown);
  m.set(accept, unknown.length);
  t.handler(m);
  const st = await op;
  t.deliver({ type: 'DATA', flags: 0, streamId: st.id, offset: 5n, data: new Uint8Array(1) });
  const err = await t.next('ERROR');
  assert.equal(err.code, Code.PROTOCOL_ERROR);
  assert.equal(s.error, null, 'the session goes on');
  s.close();
});

test('a server-opened stream without a handler is refused; with one it is accepted', async () => {
  const { t, s } = await connected();
  t.deliver({ type: 'OPEN', flags: 0, streamId: 2, kind: 2, priority: 0, window: 0n, route: 'nope', metadata: '' });
  const err = await t.next('ERROR');
  assert.equal(err.streamId, 2);
  assert.equal(err.code, Code.NO_ROUTE);
  let got;
  s.handle('push', (st) => { got = st; st.accept({ ok: true }); });
  t.deliver({ type: 'OPEN', flags: 0, streamId: 4, kind: 1, priority: 3, window: 0n, route: 'push', metadata: '{"a":1}' });
  const acc = await t.next('ACCEPT');
  assert.equal(acc.streamId, 4);
  assert.equal(acc.metadata, '{"ok":true}');
  assert.deepEqual(got.metadata, { a: 1 });
  t.deliver({ type: 'OPEN', flags: 0, streamId: 4, kind: 1, priority: 0, window: 0n, route: 'push', metadata: '' });
  const fatal = await t.next('ERROR');
  assert.equal(fatal.streamId, 0, 'reusing an id is a connection error');
  assert.equal(fatal.code, Code.PROTOCOL_ERROR);
  assert.ok(s.error);
});

test('PING is answered with PONG carrying the same bytes', async () => {
  const { t, s } = await connected();
  t.deliver({ type: 'PING', flags: 0, streamId: 0, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
  const pong = await t.next('PONG');
  assert.deepEqual([...pong.data], [1, 2, 3, 4, 5, 6, 7, 8]);
  s.close();
});

test('an upload splits writes by maxFrame and credit, and CLOSE carries the SHA-256', async () => {
  const { t, s } = await connected();
  const op = s.open({ route: 'files/upload', kind: 'upload', checksum: true, metadata: { name: 'a' } });
  const open = await t.next('OPEN');
  assert.equal(open.flags, 1);
  t.deliver({ type: 'ACCEPT', flags: 0, streamId: open.streamId, window: 10000n, metadata: '{}' });
  const st = await op;
  const w = st.writable.getWriter();
  const data = new Uint8Array(12000).map((_, i) => (i * 7919) % 251);
  const wrote = w.write(data);
  const frames = [];
  while (frames.reduce((n, f) => n + f.data.length, 0) < 10000) frames.push(await t.next('DATA'));
  assert.deepEqual(frames.map((f) => [Number(f.offset), f.data.length]), [[0, 4096], [4096, 4096], [8192, 1808]]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(t.sent.filter((f) => f.type === 'DATA').length, 0, 'nothing beyond the credit');
  t.deliver({ type: 'CREDIT', flags: 0, streamId: st.id, limit: 20000n });
  const last = await t.next('DATA');
  assert.deepEqual([Number(last.offset), last.data.length], [10000, 2000]);
  await wrote;
  const closing = w.close();
  const close = await t.next('CLOSE');
  assert.equal(close.total, 12000n);
  const { createHash } = await import('node:crypto');
  assert.equal(Buffer.from(close.checksum).toString('hex'), createHash('sha256').update(data).digest('hex'));
  t.deliver({ type: 'CLOSE', flags: 0, streamId: st.id, total: 0n });
  await closing;
  assert.equal(st.state, 'completed');
  s.close();
});
