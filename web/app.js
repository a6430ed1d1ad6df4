// @ts-check
/**
 * The demo page: connection state, live log of a broadcast topic, upload with
 * progress, file list, dataset table. URL parameters: ?topic=NAME (follow it at
 * once), ?transport=ws|wt|auto, ?token=TOKEN, ?last=N.
 */

import { connect, upload, download, Code, ConnError } from './streamd.js';
import { readDataset } from './dataset.js';
import { subscribe, nextPosition } from './broadcast.js';

const params = new URLSearchParams(location.search);
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {Array<'webtransport'|'websocket'>|undefined} */
let transports;
switch (params.get('transport')) {
  case 'ws': transports = ['websocket']; break;
  case 'wt': transports = ['webtransport']; break;
  case 'ws,wt': transports = ['websocket', 'webtransport']; break;
  default: transports = undefined; // WebTransport first where the browser has it
}

const client = connect({ transports, token: params.get('token') ?? undefined });

/** State the tests read. */
const demo = {
  client,
  sessionResumes: 0,
  log: { lines: 0, gaps: 0, lostRecords: 0, epochChanges: 0, following: '', paused: false, lastSeq: 0 },
  dataset: { state: 'idle', rows: 0, total: -1, shown: 0, firstRowsMs: -1, error: '' },
  upload: { state: 'idle', sent: 0, total: 0, result: /** @type {any} */ (null), error: '', resumedAt: -1, attempts: 0, durable: 0 },
};
/** @type {any} */ (window).streamdDemo = demo;

// ---- connection indicator ----

const transportNames = { websocket: 'WebSocket', webtransport: 'WebTransport' };
client.addEventListener('statechange', (ev) => {
  const { state, transport, attempt, delay, error } = /** @type {CustomEvent} */ (ev).detail;
  const conn = $('conn');
  conn.dataset.state = state;
  conn.dataset.transport = transport ?? '';
  $('conn-transport').textContent = transport ? transportNames[/** @type {'websocket'} */ (transport)] : '';
  let text = state;
  if (state === 'open') text = 'connected';
  if (state === 'connecting') text = 'connecting…';
  if (state === 'reconnecting') {
    text = delay !== undefined ? `reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})` : 'reconnecting…';
  }
  $('conn-text').textContent = text;
  $('conn-text').title = error ? String(error.message ?? error) : '';
  $('up-go').toggleAttribute('disabled', state !== 'open' || demo.upload.state === 'running');
});
client.addEventListener('resumed', () => {
  demo.sessionResumes++;
  $('conn-text').textContent = `connected (resumed ${demo.sessionResumes}×)`;
});
client.addEventListener('session', (ev) => {
  const s = /** @type {CustomEvent} */ (ev).detail;
  $('conn-session').textContent = s.id.slice(0, 8);
  refreshFiles();
  listDatasets();
});
setInterval(() => {
  const s = client.session;
  if (s && !s.error) {
    s.ping();
    if (s.rtt) $('conn-rtt').textContent = `${s.rtt.toFixed(1)} ms`;
  }
}, 2000);

// ---- live log ----

const MAX_LINES = 5000;
const logEl = /** @type {HTMLOListElement} */ ($('log'));
/** @type {HTMLLIElement[]} */
let pendingRows = [];
let renderQueued = false;
/** @type {(() => void)|null} */
let unpause = null;
let followGen = 0;

/**
 * addRow queues a row for the next frame (DOM updates are batched per frame).
 * @param {string} cls
 * @param {string} text
 * @param {number} [seq]
 */
function addRow(cls, text, seq) {
  const li = document.createElement('li');
  li.className = cls;
  if (seq !== undefined) {
    const s = document.createElement('span');
    s.className = 'seq';
    s.textContent = String(seq);
    li.append(s);
  }
  li.append(text);
  pendingRows.push(li);
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(render);
  }
}

function render() {
  renderQueued = false;
  const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
  const rows = pendingRows.length > MAX_LINES ? pendingRows.slice(-MAX_LINES) : pendingRows;
  pendingRows = [];
  logEl.append(...rows);
  let extra = logEl.childElementCount - MAX_LINES;
  while (extra-- > 0) logEl.firstElementChild?.remove();
  if (atBottom) logEl.scrollTop = logEl.scrollHeight;
}

/** @param {number} n */
function fmtBytes(n) {
  if (n < 0) return 'unknown size';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/**
 * follow subscribes to topic and renders its records until another follow
 * starts. When the session is lost it resubscribes from the last position, so
 * the server replays what it still holds and reports the rest as a gap.
 * @param {string} topic
 * @param {number} last
 * @param {boolean} resume start from the position saved before a page reload, if any
 */
async function follow(topic, last, resume) {
  const gen = ++followGen;
  demo.log.following = topic;
  // The position of the next record wanted, kept across reconnects and page
  // reloads (sessionStorage), so the server replays what it still holds and
  // reports the rest as a gap.
  const key = `streamd.log.${topic}`;
  /** @type {{epoch: number, seq: number}|null} */
  let pos = null;
  try {
    if (resume) pos = JSON.parse(sessionStorage.getItem(key) ?? 'null');
    else sessionStorage.removeItem(key);
  } catch { /* no storage */ }
  if (pos) addRow('info', `— resuming at epoch ${pos.epoch}, record ${pos.seq} —`);
  $('log-pause').removeAttribute('disabled');
  while (gen === followGen) {
    let sub;
    try {
      $('log-status').textContent = `subscribing to ${topic}…`;
      sub = await subscribe(client, topic, pos ? { from: pos } : { last });
    } catch (err) {
      const e = /** @type {any} */ (err);
      if (e.code === Code.NOT_FOUND || e.code === Code.NO_ROUTE || e.code === Code.INVALID_ARGUMENT) {
        $('log-status').textContent = `cannot follow ${topic}: ${e.reason ?? e.message}`;
        demo.log.following = '';
        return;
      }
      await new Promise((r) => setTimeout(r, 500)); // the client is reconnecting
      continue;
    }
    $('log-status').textContent = `following ${topic}`;
    try {
      for await (const rec of sub.records) {
        if (gen !== followGen) break;
        if (demo.log.paused) await new Promise((r) => { unpause = () => r(undefined); });
        if (gen !== followGen) break;
        const next = nextPosition(rec);
        if (next) {
          pos = next;
          savePosition(key, pos);
        }
        switch (rec.type) {
          case 'data':
            demo.log.lines++;
            demo.log.lastSeq = rec.seq;
            addRow('line', rec.text, rec.seq);
            break;
          case 'gap':
            demo.log.gaps++;
            demo.log.lostRecords += rec.records;
            addRow('gap', `— ${rec.records} line${rec.records === 1 ? '' : 's'} (${fmtBytes(rec.bytes)}) missed —`);
            break;
          case 'epoch':
            if (rec.changed) {
              demo.log.epochChanges++;
              addRow('epoch', `— source restarted (epoch ${rec.epoch}) —`);
            }
            break;
        }
      }
      if (gen === followGen) {
        $('log-status').textContent = `${topic} ended`;
        return;
      }
    } catch (err) {
      if (gen !== followGen) return;
      addRow('info', `— connection lost: ${/** @type {Error} */ (err).message}; resuming —`);
    } finally {
      if (gen !== followGen) sub.stream.cancel('unfollowed');
    }
  }
}

/** @type {ReturnType<typeof setTimeout>|undefined} */
let saveTimer;
/** @type {[string, any]|null} */
let toSave = null;
/**
 * savePosition stores the log position at most every 250 ms.
 * @param {string} key
 * @param {{epoch: number, seq: number}} pos
 */
function savePosition(key, pos) {
  toSave = [key, pos];
  if (saveTimer) return;
  saveTimer = setTimeout(flushPosition, 250);
}
function flushPosition() {
  saveTimer = undefined;
  if (!toSave) return;
  try {
    sessionStorage.setItem(toSave[0], JSON.stringify(toSave[1]));
  } catch { /* storage full or disabled */ }
  toSave = null;
}
addEventListener('pagehide', flushPosition);

$('log-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const topic = /** @type {HTMLInputElement} */ ($('log-topic')).value.trim();
  const last = Number(/** @type {HTMLInputElement} */ ($('log-last')).value) || 0;
  if (topic) follow(topic, last, false);
});

$('log-pause').addEventListener('click', () => {
  demo.log.paused = !demo.log.paused;
  const btn = $('log-pause');
  btn.setAttribute('aria-pressed', String(demo.log.paused));
  btn.textContent = demo.log.paused ? 'Resume' : 'Pause';
  $('log-status').textContent = demo.log.paused ? `paused (the server drops what does not fit and reports it)` : `following ${demo.log.following}`;
  if (!demo.log.paused && unpause) {
    unpause();
    unpause = null;
  }
});

$('log-clear').addEventListener('click', () => { logEl.replaceChildren(); });

// ---- upload ----
// An upload's id is kept in localStorage under the file's name, size and
// modification time until it completes. After a page reload, choosing the
// same file again resumes from what the server made durable; a lost
// connection resumes by itself once the client has reconnected.

/** @type {AbortController|null} */
let uploadAbort = null;
/** @type {import('./stream.js').Stream|null} */
let uploadStream = null;
let uploadPaused = false;
const fileInput = /** @type {HTMLInputElement} */ ($('up-file'));
const UPLOAD_PREFIX = 'streamd.upload:';

/** @param {File} f */
const uploadKey = (f) => `${UPLOAD_PREFIX}${f.name}:${f.size}:${f.lastModified}`;

/** @returns {Array<{name: string, size: number, durable: number}>} interrupted uploads */
function interruptedUploads() {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k?.startsWith(UPLOAD_PREFIX)) out.push(JSON.parse(localStorage.getItem(k) ?? '{}'));
    }
  } catch { /* no storage */ }
  return out;
}

function showInterrupted() {
  const list = interruptedUploads();
  if (list.length) {
    $('up-status').textContent = `interrupted: ${list.map((u) => `${u.name} (${fmtBytes(u.durable ?? 0)} of ${fmtBytes(u.size)} stored)`).join(', ')} — choose the same file to resume`;
  }
}

fileInput.addEventListener('change', () => {
  const f = fileInput.files?.[0];
  if (!f) return;
  let resumable = null;
  try { resumable = localStorage.getItem(uploadKey(f)); } catch { /* no storage */ }
  $('up-status').textContent = `${f.name}, ${fmtBytes(f.size)}${resumable ? ' — an interrupted upload of this file will resume' : ''}`;
});

$('up-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = fileInput.files?.[0];
  if (!file || demo.upload.state === 'running') return;
  const bar = /** @type {HTMLProgressElement} */ ($('up-progress'));
  const status = $('up-status');
  const key = uploadKey(file);
  /** @type {{id: string, name: string, size: number, durable: number}|null} */
  let rec = null;
  try { rec = JSON.parse(localStorage.getItem(key) ?? 'null'); } catch { /* no storage */ }
  const save = () => { try { if (rec) localStorage.setItem(key, JSON.stringify(rec)); } catch { /* no storage */ } };
  const forget = () => { try { localStorage.removeItem(key); } catch { /* no storage */ } };
  uploadAbort = new AbortController();
  const signal = uploadAbort.signal;
  demo.upload = { state: 'running', sent: 0, total: file.size, result: null, error: '', resumedAt: -1, attempts: 0, durable: 0 };
  $('up-go').setAttribute('disabled', '');
  $('up-cancel').removeAttribute('disabled');
  $('up-pause').removeAttribute('disabled');
  let t0 = performance.now();
  let from = 0;
  try {
    for (;;) {
      demo.upload.attempts++;
      try {
        const result = await upload(client, file, {
          id: rec?.id, signal,
          onopen: (st) => {
            uploadStream = st;
            if (uploadPaused) st.pause(); // a stream reopened while paused stays paused
          },
          onaccept: (a) => {
            rec = { id: a.id, name: a.name, size: file.size, durable: a.offset };
            save();
            from = a.offset;
            t0 = performance.now();
            if (a.offset > 0) {
              demo.upload.resumedAt = a.offset;
              status.textContent = `resuming at ${fmtBytes(a.offset)}`;
            }
          },
          onprogress: ({ sent, total, durable }) => {
            demo.upload.sent = sent;
            bar.max = Math.max(total, 1);
            bar.value = sent;
            demo.upload.durable = durable;
            if (rec && durable > rec.durable) {
              rec.durable = durable;
              save();
            }
            if (uploadPaused) {
              status.textContent = `paused at ${fmtBytes(sent)} (${fmtBytes(durable)} stored)`;
              return;
            }
            const secs = (performance.now() - t0) / 1000;
            status.textContent = `${fmtBytes(sent)} of ${fmtBytes(total)} · ${fmtBytes((sent - from) / Math.max(secs, 0.001))}/s${from ? ` · resumed at ${fmtBytes(from)}` : ''}`;
          },
        });
        forget();
        bar.max = 1;
        bar.value = 1;
        demo.upload.state = 'done';
        demo.upload.result = result;
        status.textContent = `stored ${result.name} (${fmtBytes(file.size)}), SHA-256 verified by the server`;
        refreshFiles();
        return;
      } catch (err) {
        const e = /** @type {any} */ (err);
        if (signal.aborted) throw err;
        if (rec && e?.code === Code.NOT_FOUND) { // the server no longer has it: start over
          rec = null;
          forget();
          continue;
        }
        if (rec && (e instanceof ConnError || e?.cause instanceof ConnError)) {
          status.textContent = `connection lost at ${fmtBytes(demo.upload.sent)}; resuming when reconnected…`;
          await client.ready();
          continue;
        }
        throw err;
      }
    }
  } catch (err) {
    if (signal.aborted) forget();
    demo.upload.state = 'failed';
    demo.upload.error = String(/** @type {Error} */ (err).message ?? err);
    status.textContent = `upload ${signal.aborted ? 'cancelled' : 'failed'}: ${demo.upload.error}`;
  } finally {
    uploadAbort = null;
    uploadStream = null;
    setUploadPaused(false);
    $('up-cancel').setAttribute('disabled', '');
    $('up-pause').setAttribute('disabled', '');
    $('up-go').toggleAttribute('disabled', client.state !== 'open');
  }
});
$('up-cancel').addEventListener('click', () => uploadAbort?.abort());

/**
 * setUploadPaused pauses or resumes the running upload (PAUSE/RESUME on its
 * stream: it keeps its credit and position).
 * @param {boolean} p
 */
function setUploadPaused(p) {
  uploadPaused = p;
  const btn = $('up-pause');
  btn.setAttribute('aria-pressed', String(p));
  btn.textContent = p ? 'Resume' : 'Pause';
  if (uploadStream && !uploadStream.ended) {
    if (p) uploadStream.pause();
    else uploadStream.resume();
  }
  if (p && demo.upload.state === 'running') $('up-status').textContent = `paused at ${fmtBytes(demo.upload.sent)}`;
}
$('up-pause').addEventListener('click', () => setUploadPaused(!uploadPaused));
showInterrupted();

// ---- files ----

async function refreshFiles() {
  const body = $('files');
  try {
    const list = await client.requestJSON('files/list', {}, { timeout: 5000 });
    const rows = list.files.map((/** @type {{name: string, size: number, modTime: string}} */ f) => {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = f.name;
      const size = document.createElement('td');
      size.className = 'r';
      size.textContent = fmtBytes(f.size);
      const mod = document.createElement('td');
      mod.textContent = new Date(f.modTime).toLocaleString();
      const act = document.createElement('td');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = 'Download';
      btn.setAttribute('aria-label', `download ${f.name}`);
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        try {
          const blob = await download(client, f.name);
          const a = document.createElement('a');
          a.href = URL.createObjectURL(blob);
          a.download = f.name;
          a.click();
          setTimeout(() => URL.revokeObjectURL(a.href), 10000);
        } finally {
          btn.disabled = false;
        }
      });
      act.append(btn);
      tr.append(name, size, mod, act);
      return tr;
    });
    body.replaceChildren(...rows);
  } catch (err) {
    body.replaceChildren();
  }
}
$('files-refresh').addEventListener('click', refreshFiles);

// ---- dataset ----
// Shown when the server answers dataset/list (docs/DATASET.md §13): an export
// of the chosen dataset on route dataset/export fills the table as batches
// arrive; reading them is what grants the server credit.

const MAX_TABLE_ROWS = 2000;
/** @type {import('./stream.js').Stream|null} */
let exportStream = null;

/**
 * cellText formats one dataset value for the table.
 * @param {any} v
 * @param {import('./dataset.js').Column} col
 */
function cellText(v, col) {
  if (v === null || v === undefined) return '';
  switch (col.type) {
    case 'timestamp': {
      const perMs = { s: 1e-3, ms: 1, us: 1e3, ns: 1e6 }[col.unit ?? 'us'] ?? 1e3;
      const ms = Number(v) / perMs;
      const d = new Date(ms);
      return Number.isFinite(ms) && !Number.isNaN(d.getTime()) ? d.toISOString() : String(v);
    }
    case 'date': return new Date(v * 86400000).toISOString().slice(0, 10);
    case 'binary': return `0x${Array.from(/** @type {Uint8Array} */ (v).subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('')}${v.length > 16 ? '…' : ''}`;
    case 'float64': return Number.isInteger(v) ? v.toFixed(1) : String(v);
    default: return String(v);
  }
}

/**
 * exportDataset opens an export of dataset and fills the table as batches
 * arrive.
 * @param {string} dataset
 */
async function exportDataset(dataset) {
  const status = $('ds-status');
  const table = /** @type {HTMLTableElement} */ ($('ds-table'));
  const head = /** @type {HTMLTableSectionElement} */ (table.tHead);
  const body = table.tBodies[0];
  head.replaceChildren();
  body.replaceChildren();
  status.textContent = 'opening…';
  demo.dataset = { state: 'running', rows: 0, total: -1, shown: 0, firstRowsMs: -1, error: '' };
  $('ds-go').setAttribute('disabled', '');
  $('ds-stop').removeAttribute('disabled');
  const t0 = performance.now();
  /** @type {import('./dataset.js').Column[]} */
  let cols = [];
  const numeric = (/** @type {string} */ t) => ['int64', 'float64', 'decimal'].includes(t);
  try {
    exportStream = await client.open({ route: 'dataset/export', kind: 'download', metadata: { dataset, layouts: ['batched', 'rows'] } });
    const res = await readDataset(/** @type {ReadableStream<Uint8Array>} */ (exportStream.readable), {
      onHeader: (h) => {
        cols = h.schema.columns;
        demo.dataset.total = h.total_rows;
        const tr = document.createElement('tr');
        for (const c of cols) {
          const th = document.createElement('th');
          th.scope = 'col';
          th.textContent = c.name;
          th.title = c.type;
          if (numeric(c.type)) th.className = 'r';
          tr.append(th);
        }
        head.append(tr);
      },
      onBatch: (b) => {
        if (demo.dataset.firstRowsMs < 0) demo.dataset.firstRowsMs = Math.round(performance.now() - t0);
        const frag = document.createDocumentFragment();
        for (let i = 0; i < b.rows && demo.dataset.shown < MAX_TABLE_ROWS; i++, demo.dataset.shown++) {
          const tr = document.createElement('tr');
          for (const c of cols) {
            const td = document.createElement('td');
            const v = b.columns[c.name][i];
            td.textContent = cellText(v, c);
            td.className = `${v === null ? 'null ' : ''}${numeric(c.type) ? 'r' : ''}`.trim();
            tr.append(td);
          }
          frag.append(tr);
        }
        body.append(frag);
        demo.dataset.rows = b.firstRow + b.rows;
        const total = demo.dataset.total;
        status.textContent = `${demo.dataset.rows.toLocaleString()}${total >= 0 ? ` of ${total.toLocaleString()}` : ''} rows · first rows after ${demo.dataset.firstRowsMs} ms`;
      },
    });
    const secs = (performance.now() - t0) / 1000;
    demo.dataset.state = 'done';
    status.textContent = `${res.rows.toLocaleString()} rows in ${secs.toFixed(2)} s (${Math.round(res.rows / Math.max(secs, 0.001)).toLocaleString()} rows/s; first rows after ${demo.dataset.firstRowsMs} ms)${res.rows > MAX_TABLE_ROWS ? `; showing the first ${MAX_TABLE_ROWS.toLocaleString()}` : ''}`;
  } catch (err) {
    demo.dataset.state = 'failed';
    demo.dataset.error = String(/** @type {Error} */ (err).message ?? err);
    status.textContent = `export ${exportStream?.state === 'cancelled' ? 'stopped' : 'failed'}: ${demo.dataset.error}`;
  } finally {
    exportStream = null;
    $('ds-go').removeAttribute('disabled');
    $('ds-stop').setAttribute('disabled', '');
  }
}

/** listDatasets shows the dataset card when the server serves datasets. */
async function listDatasets() {
  try {
    /** @type {string[]} */
    const names = [];
    let after = '';
    for (let page = 0; page < 20; page++) {
      const res = await client.requestJSON('dataset/list', after ? { after } : {}, { timeout: 5000 });
      for (const d of res.datasets ?? []) names.push(d.name);
      if (!res.more || !res.datasets?.length) break;
      after = res.datasets[res.datasets.length - 1].name;
    }
    const select = /** @type {HTMLSelectElement} */ ($('ds-name'));
    const current = select.value;
    select.replaceChildren(...names.map((n) => new Option(n, n, false, n === current)));
    $('ds-card').hidden = names.length === 0;
  } catch {
    $('ds-card').hidden = true; // no dataset service (NO_ROUTE) or not now
  }
}

$('ds-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = /** @type {HTMLSelectElement} */ ($('ds-name')).value;
  if (name) exportDataset(name);
});
$('ds-stop').addEventListener('click', () => exportStream?.cancel('stopped by the user'));

// Leaving the page ends the session for good (ERROR NO_ERROR), so the server
// does not park it for a resume that will never come.
addEventListener('pagehide', () => client.close());

// ---- start ----

const initialTopic = params.get('topic');
if (initialTopic) {
  /** @type {HTMLInputElement} */ ($('log-topic')).value = initialTopic;
  follow(initialTopic, Number(params.get('last') ?? 100), true);
}
