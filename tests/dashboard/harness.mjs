// Real components for the dashboard's browser tests, benchmark and screenshots: the
// `maestro` binary (serve and CLI) on a temporary database, and Debian's Chromium driven by
// playwright-core.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MAESTRO = process.env.MAESTRO_BIN || join(root, 'target/debug/maestro');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const run = promisify(execFile);

/** A temporary Maestro home and database; `cleanup()` removes them. */
export function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-dash-'));
  const env = { ...process.env, MAESTRO_HOME: join(dir, 'home'), MAESTRO_DB: join(dir, 'maestro.db'), NO_COLOR: '1' };
  for (const k of ['MAESTRO_API_URL', 'MAESTRO_TOKEN', 'MAESTRO_SESSION_ID', 'MAESTRO_PROJECT_ID', 'MAESTRO_TASK_IDS']) delete env[k];
  return { dir, env, db: env.MAESTRO_DB, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `maestro --json <args>`; resolves with `data`, rejects with the error envelope. */
export async function cli(ws, args, extraEnv = {}) {
  try {
    const { stdout } = await run(MAESTRO, ['--json', ...args], { env: { ...ws.env, ...extraEnv }, maxBuffer: 64 << 20 });
    return JSON.parse(stdout).data;
  } catch (e) {
    const out = e.stdout ? e.stdout.toString() : '';
    throw new Error(`maestro ${args.join(' ')} failed (${e.code}): ${out || e.stderr || e.message}`);
  }
}

/**
 * Starts `maestro serve` on `addr` (default 127.0.0.1:0) over the workspace's database and
 * resolves once it printed its URL. `kill(signal)` resolves when the process has exited.
 */
export function serve(ws, { addr = '127.0.0.1:0', token } = {}) {
  const args = ['--json', 'serve', '--addr', addr];
  if (token) args.push('--token', token);
  const proc = spawn(MAESTRO, args, { env: { ...ws.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise((r) => proc.once('exit', r));
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let up = false;
    const fail = (why) => up || reject(new Error(`maestro serve ${why}: ${stderr}`));
    proc.once('error', (e) => fail(e.message));
    proc.once('exit', (code) => fail(`exited with ${code} before printing its URL`));
    proc.stdout.on('data', (b) => {
      if (up) return;
      out += b;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const { data } = JSON.parse(out.slice(0, nl));
      up = true;
      resolvePromise({
        url: data.url,
        addr: data.addr,
        proc,
        kill: (signal = 'SIGTERM') => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
          return exited;
        },
      });
    });
  });
}

/** One REST call to a server at `url`; resolves with the JSON body, throws on an error status. */
export async function rest(url, method, path, body, headers = {}) {
  const r = await fetch(url + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's Chromium with a new empty profile; `close()` also removes the profile. */
export async function browser() {
  const profile = mkdtempSync(join(tmpdir(), 'maestro-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1440, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A new tab on `url`, failing the test on any page error, console error or dialog (an
 * `alert` from injected markup would be one).
 */
export async function open(context, url) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket connection to|Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  page.on('dialog', async (d) => {
    page.problems.push(`dialog: ${d.type()} ${d.message()}`);
    await d.dismiss();
  });
  await page.goto(url);
  return page;
}

/** Waits until the connection indicator shows `state`. */
export async function waitState(page, state, timeout = 10000) {
  await page.waitForSelector(`#conn[data-state="${state}"]`, { timeout });
}
