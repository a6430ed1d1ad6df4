// The client session against a real `streamd serve`, over Node's WebSocket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startServer } from './server.mjs';
import { dialWebSocket } from '../transport.js';
import { Session } from '../session.js';
import { Client, backoffDelay } from '../client.js';
import { upload, download, Code, StreamError, RequestError, SHA256 } from '../streamd.js';

const skip = typeof WebSocket === 'undefined' ? 'no WebSocket in this Node (run with --experimental-websocket on Node 20)' : false;

/** @type {Awaited<ReturnType<typeof startServer>>} */
let srv;
before(async () => { if (!skip) srv = await startServer(); });
after(async () => { await srv?.stop(); });

async function session(opts = {}) {
  return Session.handshake(await dialWebSocket(srv.ws), opts);
}

test('handshake negotiates limits and compression', { skip }, async () => {
  const s = await session();
  assert.equal(s.maxFrame, 65536);
  assert.deepEqual(s.compression, ['gzip']); // Node decodes gzip, not zstd
  assert.equal(s.sendAlg, 'gzip');
  assert.ok(s.id.length > 10);
  s.close();
  assert.equal(await s.closed, null);
});

test('upload then download round-trips bytes and SHA-256', { skip }, async () => {
  const s = await session();
  const data = new Uint8Array(randomBytes(3 << 20));
  data.fill(7, 0, 1 << 20); // a compressible region
  let last;
  const meta = await upload(s, new Blob([data]), { name: 'rand.bin', onprogress: (p) => { last = p; } });
  assert.equal(meta.name, 'rand.bin');
  assert.equal(last.sent, data.length);
  const stored = readFileSync(join(srv.dataDir, 'rand.bin'));
  assert.equal(createHash('sha256').update(stored).digest('hex'), createHash('sha256').update(data).digest('hex'));
  const blob = await download(s, 'rand.bin');
  assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), data);
  s.close();
});

test('a wrong SHA-256 fails the upload with INTEGRITY_ERROR and stores nothing', { skip }, async () => {
  const s = await session();
  const st = await s.open({ route: 'files/upload', kind: 'upload', checksum: true, metadata: { name: 'bad.bin', size: 1000 } });
  const w = st.writable.getWriter();
  await w.write(new Uint8Array(1000).fill(3));
  st.hashOut = new SHA256(); // the CLOSE will carry the hash of nothing
  await assert.rejects(w.close(), (err) => err instanceof StreamError && err.code === Code.INTEGRITY_ERROR && err.remote);
  assert.equal(existsSync(join(srv.dataDir, 'bad.bin')), false);
  s.close();
});

test('credit is granted only as the reader consumes', { skip }, async () => {
  writeFileSync(join(srv.dataDir, 'big.bin'), randomBytes(4 << 20));
  const s = await session({ window: 128 << 10, compressOutgoing: false });
  const st = await s.open({ route: 'files/download', kind: 'download', metadata: { name: 'big.bin' } });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(st.received, 128 << 10, 'the server sent exactly the initial window and stopped');
  const reader = st.readable.getReader();
  let n = 0;
  while (n < 1 << 20) n += (await reader.read()).value.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(st.received <= n + st.window, `received ${st.received} ≤ read ${n} + window ${st.window}`);
  st.cancel('enough');
  await assert.rejects(st.closed, (err) => err instanceof StreamError && err.code === Code.CANCELLED);
  s.close();
});

test('pause stops the sender, resume continues', { skip }, async () => {
  writeFileSync(join(srv.dataDir, 'p.bin'), randomBytes(2 << 20));
  const s = await session();
  const st = await s.open({ route: 'files/download', kind: 'download', metadata: { name: 'p.bin' } });
  st.pause();
  assert.equal(st.state, 'paused');
  const reader = st.readable.getReader();
  let n = 0;
  const before = st.received;
  while (n < before) n += (await reader.read()).value.length; // drain what was in flight
  await new Promise((r) => setTimeout(r, 200));
  const atPause = st.received;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(st.received, atPause, 'nothing arrives while paused');
  st.resume();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
  }
  assert.equal(n, 2 << 20);
  await st.closed;
  s.close();
});

test('requests: reply and error codes', { skip }, async () => {
  const s = await session();
  const list = await s.requestJSON('files/list', {});
  assert.ok(Array.isArray(list.files));
  await assert.rejects(s.request('no/such', 'x'), (err) => err instanceof RequestError && err.code === Code.NO_ROUTE);
  await assert.rejects(s.requestJSON('files/list', 'not an object'), (err) => err.code === Code.INVALID_ARGUMENT);
  s.close();
});

test('refused open rejects with the code', { skip }, async () => {
  const s = await session();
  await assert.rejects(s.open({ route: 'nope', kind: 'download' }), (err) => err instanceof StreamError && err.code === Code.NO_ROUTE);
  await assert.rejects(s.open({ route: 'files/download', kind: 'download', metadata: { name: 'missing' } }), (err) => err.code === Code.NOT_FOUND);
  s.close();
});

test('backoff is full jitter under an exponential ceiling', () => {
  assert.equal(backoffDelay(0, 250, 30000, () => 0.999), 249);
  assert.equal(backoffDelay(3, 250, 30000, () => 0.5), 1000);
  assert.equal(backoffDelay(20, 250, 30000, () => 0.5), 15000);
  assert.equal(backoffDelay(5, 250, 30000, () => 0), 0);
});

test('client reconnects after the server restarts', { skip }, async () => {
  const s1 = await startServer();
  const c = new Client({ url: s1.ws, transports: ['websocket'], backoffInitial: 50, backoffMax: 200 });
  const first = await c.start().ready();
  assert.equal(c.transport, 'websocket');
  await s1.stop();
  const err = await first.closed;
  assert.ok(err, 'the session ended with an error');
  const s2 = await startServer({ addr: s1.addr, dataDir: s1.dataDir });
  const second = await c.ready();
  assert.notEqual(second, first);
  assert.ok(Array.isArray((await c.requestJSON('files/list', {})).files));
  c.close();
  await s2.stop();
});

test('a bearer token goes in ?token=; a wrong one is refused', { skip }, async () => {
  const s = await startServer({ args: ['--token', 's3cret'] });
  try {
    const ok = await Session.handshake(await dialWebSocket(s.ws, { token: 's3cret' }));
    assert.ok(ok.id);
    ok.close();
    await assert.rejects(dialWebSocket(s.ws, { token: 'wrong' }), /failed/); // HTTP 401
    // Without a token the upgrade succeeds and HELLO (no "auth") is refused.
    await assert.rejects(Session.handshake(await dialWebSocket(s.ws)), (e) => e.code === Code.UNAUTHORIZED && e.remote);
    const viaHello = await Session.handshake(await dialWebSocket(s.ws), { auth: 's3cret' });
    viaHello.close();
  } finally {
    await s.stop();
  }
});

test('a resumable session survives a cut: download and upload go on where they were', { skip }, async () => {
  const c = new Client({ url: srv.ws, transports: ['websocket'], backoffInitial: 20, backoffMax: 100 });
  const s = await c.start().ready();
  assert.ok(s.resumable, 'the server offered resume');
  const resumed = [];
  c.addEventListener('resumed', (ev) => resumed.push(ev.detail));
  const cut = () => s.transport.ws.close(); // the transport goes away without an ERROR frame

  // Download: cut after 1 MiB was read.
  const src = randomBytes(6 << 20);
  writeFileSync(join(srv.dataDir, 'resume-dl.bin'), src);
  const st = await s.open({ route: 'files/download', kind: 'download', checksum: true, metadata: { name: 'resume-dl.bin' }, window: 256 << 10 });
  const parts = [];
  let n = 0, didCut = false;
  for await (const chunk of st.readable) {
    parts.push(chunk);
    n += chunk.length;
    if (!didCut && n >= 1 << 20) { didCut = true; cut(); }
  }
  await st.closed;
  assert.equal(Buffer.concat(parts).compare(src), 0, 'the bytes after the cut continue exactly');
  assert.equal(resumed.length, 1);
  assert.equal(resumed[0], s, 'the same session went on');

  // Upload: cut in the middle.
  const up = randomBytes(6 << 20);
  const w = await s.open({ route: 'files/upload', kind: 'upload', checksum: true, metadata: { name: 'resume-up.bin', size: up.length } });
  const writer = w.writable.getWriter();
  for (let pos = 0; pos < up.length; pos += 256 << 10) {
    if (pos === 3 << 20) cut();
    await writer.write(new Uint8Array(up.subarray(pos, pos + (256 << 10))));
  }
  await writer.close();
  assert.equal(resumed.length, 2);
  assert.equal(createHash('sha256').update(readFileSync(join(srv.dataDir, 'resume-up.bin'))).digest('hex'), createHash('sha256').update(up).digest('hex'));
  assert.equal(s.resumes, 2);
  c.close();
});
