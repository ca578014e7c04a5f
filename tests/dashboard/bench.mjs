// Frame times of the dashboard with 1,000 tasks under a burst of 1,000 events, measured in
// the browser (requestAnimationFrame intervals and long tasks).
//
//   scripts/bench-dashboard            (or: node tests/dashboard/bench.mjs [--tasks N] [--events N])
//
// Two bursts: "live" (1,000 REST mutations from 16 concurrent clients while the board is
// open: events arrive as fast as the server commits them) and "replay" (the server is down
// while the same amount happens, then restarts: the page receives every missed event at once).

import { browser, cli, open, rest, serve, waitState, workspace } from './harness.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const TASKS = arg('tasks', 1000);
const EVENTS = arg('events', 1000);
const CONCURRENCY = 16;

const api = rest;

async function pool(n, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** `EVENTS` mutations over the tasks: starts, progress entries, edits, completions. */
async function mutate(url, tasks, round) {
  await pool(EVENTS, async (i) => {
    const t = tasks[(i * 7 + round) % tasks.length];
    switch (i % 4) {
      case 0:
        return api(url, 'POST', `/api/tasks/${t.id}/timeline`, { type: 'progress', message: `step ${round}.${i}` });
      case 1:
        return api(url, 'PATCH', `/api/tasks/${t.id}`, { description: `Revised in ${round}.${i}` });
      case 2:
        return api(url, 'PATCH', `/api/tasks/${t.id}`, { title: `Task ${t.n} (rev ${round}.${i})` });
      default:
        return api(url, 'POST', `/api/tasks/${t.id}/timeline`, { type: 'comment', author: 'bench', message: `note ${i}` });
    }
  });
}

const latest = async (url) => (await api(url, 'GET', '/api/events?since=0&limit=1')).latestSeq;

/** Starts recording frame intervals and long tasks in the page. */
const record = (page) =>
  page.evaluate(() => {
    window.__frames = [];
    window.__long = [];
    let last = performance.now();
    const tick = (t) => {
      window.__frames.push(t - last);
      last = t;
      if (window.__recording) requestAnimationFrame(tick);
    };
    window.__recording = true;
    requestAnimationFrame(tick);
    window.__obs = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__long.push(e.duration);
    });
    window.__obs.observe({ type: 'longtask' });
  });

const stop = (page) =>
  page.evaluate(() => {
    window.__recording = false;
    window.__obs.disconnect();
    return { frames: window.__frames.slice(1), long: window.__long };
  });

function summary(name, { frames, long }, ms, events) {
  const s = [...frames].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return {
    burst: name,
    events,
    'until drawn (ms)': Math.round(ms),
    frames: frames.length,
    'median frame (ms)': q(0.5).toFixed(1),
    'p95 frame (ms)': q(0.95).toFixed(1),
    'max frame (ms)': s.at(-1).toFixed(1),
    'frames > 50 ms': frames.filter((f) => f > 50).length,
    'long tasks': long.length,
    'longest task (ms)': long.length ? Math.max(...long).toFixed(0) : '0',
  };
}

/** Waits until the page has drawn everything up to `seq`; resolves with the time taken. */
async function drawn(page, seq, t0) {
  await page.waitForFunction((s) => Number(document.querySelector('#conn')?.dataset.seq) >= s, seq, { timeout: 120000, polling: 'raf' });
  return performance.now() - t0;
}

const ws = workspace();
await cli(ws, ['init', '--name', 'bench']);
let srv = await serve(ws);
const tasks = [];
await pool(TASKS, async (n) => {
  const t = await api(srv.url, 'POST', '/api/tasks', { title: `Task ${n}`, labels: [`area-${n % 10}`] });
  tasks.push({ id: t.id, n });
});
// A quarter in progress, so cards move between columns too.
await pool(TASKS / 4, async (i) => api(srv.url, 'POST', `/api/tasks/${tasks[i].id}/start`, {}));

const br = await browser();
const tLoad = performance.now();
const page = await open(br.context, `${srv.url}/`);
await waitState(page, 'connected');
await page.waitForFunction((n) => document.querySelectorAll('.card').length === n, TASKS, { timeout: 60000, polling: 'raf' });
const loadMs = Math.round(performance.now() - tLoad);
await page.waitForTimeout(500);

const results = [];
{
  const before = await latest(srv.url);
  await record(page);
  const t0 = performance.now();
  await mutate(srv.url, tasks, 1);
  const after = await latest(srv.url);
  const ms = await drawn(page, after, t0);
  await page.waitForTimeout(300);
  results.push(summary('live', await stop(page), ms, after - before));
}
{
  // The same amount while the page's server is away, through a second server on the db.
  const addr = srv.addr;
  await srv.kill('SIGKILL');
  await waitState(page, 'reconnecting');
  const side = await serve(ws);
  const before = await latest(side.url);
  await mutate(side.url, tasks, 2);
  const after = await latest(side.url);
  await side.kill();
  srv = await serve(ws, { addr });
  await record(page);
  const t0 = performance.now();
  // Skip the rest of the page's backoff wait ('online' retries at once), so the time below
  // is reconnecting, replaying and drawing.
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  const ms = await drawn(page, after, t0);
  await page.waitForTimeout(300);
  results.push(summary('replay', await stop(page), ms, after - before));
}
const cards = await page.$$eval('.card', (c) => c.length);
if (cards !== TASKS) throw new Error(`expected ${TASKS} cards, found ${cards}`);
if (page.problems.length) throw new Error(page.problems.join('\n'));
console.log(`${TASKS} tasks: page opened to every card drawn in ${loadMs} ms`);
console.table(results);
console.log(JSON.stringify({ tasks: TASKS, loadMs, results }));
await br.close();
await srv.kill();
ws.cleanup();
