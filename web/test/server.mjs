// Starts `streamd serve` on loopback for the tests. The binary is STREAMD_BIN
// (the Go test in web/ builds it), or built here with `go build` once.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
let built = '';

/** binary returns the path of the streamd binary, building it if needed. */
export function binary() {
  if (process.env.STREAMD_BIN) return process.env.STREAMD_BIN;
  if (built) return built;
  const out = join(mkdtempSync(join(tmpdir(), 'streamd-bin-')), 'streamd');
  execFileSync('go', ['build', '-o', out, './cmd/streamd'], {
    cwd: repo, stdio: 'inherit', env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod` },
  });
  built = out;
  return out;
}

let help = '';
/**
 * serveFlag reports whether `streamd serve` has a flag (features other parts
 * of the project add: --tail, --wt-addr, --demo-rows).
 * @param {string} flag e.g. "--tail"
 */
export function serveFlag(flag) {
  if (!help) help = execFileSync(binary(), ['serve', '--help'], { encoding: 'utf8' });
  return new RegExp(`\\s${flag}[\\s=]`).test(help);
}

/**
 * startServer runs `streamd serve --addr 127.0.0.1:PORT` (a free port unless
 * given) with a fresh data directory, and resolves once it listens. The demo
 * dataset is not seeded (--demo-rows 0) unless args say otherwise: seeding a
 * million rows per test server would cost more than the tests.
 * @param {{args?: string[], dataDir?: string, addr?: string}} [o]
 */
export async function startServer(o = {}) {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'streamd-data-'));
  const extra = o.args ?? [];
  const noDemo = serveFlag('--demo-rows') && !extra.includes('--demo-rows') ? ['--demo-rows', '0'] : [];
  const args = ['serve', '--addr', o.addr ?? '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn',
    '--shutdown-timeout', '2s', ...noDemo, ...extra];
  const proc = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; if (process.env.STREAMD_LOG) process.stderr.write(d); });
  const addr = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`streamd did not listen within 20 s: ${stderr}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`streamd exited (${code}): ${stderr}`)); });
  });
  const exited = new Promise((r) => proc.on('exit', (code, sig) => r({ code, sig })));
  return {
    addr, dataDir, proc, base: `http://${addr}`, ws: `ws://${addr}/streamd`,
    get stderr() { return stderr; },
    /** stop sends SIGTERM and waits for the exit. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

export { existsSync, repo };
