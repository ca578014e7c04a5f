// The dashboard in a real headless Chromium, against the real `maestro serve` and CLI.
//
//   node --test tests/dashboard/browser.test.mjs     (scripts/test-dashboard sets it up)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { browser, cli, open, rest, serve, waitState, workspace } from './harness.mjs';

let br;
before(async () => {
  br = await browser();
});
after(async () => {
  await br?.close();
});

/** A workspace with a project, a server on it and a connected page; `done()` tears down. */
async function setup({ token, hash = '' } = {}) {
  const ws = workspace();
  await cli(ws, ['init', '--name', 'demo']);
  const srv = await serve(ws, { token });
  const page = await open(br.context, `${srv.url}/${hash}`);
  return {
    ws,
    srv,
    page,
    done: async () => {
      assert.deepEqual(page.problems, [], 'no page errors, console errors or dialogs');
      await page.close();
      await srv.kill();
      ws.cleanup();
    },
  };
}

const card = (id) => `.card[data-id="${id}"]`;
const inColumn = (status, id) => `.col[data-status="${status}"] ${card(id)}`;

test('the board shows a task created by the CLI within a second', async () => {
  const { ws, srv, page, done } = await setup();
  await waitState(page, 'connected');
  await page.waitForSelector('#board');
  const t = await cli(ws, ['--server', srv.url, 'task', 'create', 'Made by the CLI', '--priority', 'high']);
  await page.waitForSelector(inColumn('pending', t.id), { timeout: 1000 });
  assert.equal(await page.textContent(`${card(t.id)} .title`), 'Made by the CLI');
  // And one created in local mode on the same database (found by the server's poll).
  const u = await cli(ws, ['task', 'create', 'Made in local mode']);
  await page.waitForSelector(inColumn('pending', u.id), { timeout: 1000 });
  await done();
});

test("a worker's progress appears live on the board and in the task", async () => {
  const { ws, srv, page, done } = await setup();
  const t = await cli(ws, ['task', 'create', 'Write the parser']);
  await waitState(page, 'connected');
  await page.waitForSelector(inColumn('pending', t.id));
  const s = await cli(ws, ['session', 'register', '--name', 'worker-1']);
  const worker = { MAESTRO_SESSION_ID: s.id, MAESTRO_TASK_IDS: t.id, MAESTRO_API_URL: srv.url };
  await cli(ws, ['task', 'start', t.id], worker);
  await page.waitForSelector(inColumn('in_progress', t.id));
  assert.match(await page.textContent(`${card(t.id)} .owners`), /worker-1/);
  await cli(ws, ['update', 'Tokenizer handles nested blocks'], worker);
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent === 'Tokenizer handles nested blocks',
    `${card(t.id)} .progress`,
  );
  // The task view follows too: timeline, subtasks, owners.
  await page.click(card(t.id));
  await page.waitForSelector('#task-title');
  assert.equal(await page.textContent('#task-title'), 'Write the parser');
  assert.match(await page.textContent('#owners'), /worker-1/);
  await cli(ws, ['update', 'Tests green'], worker);
  await page.waitForFunction(() => document.querySelector('#timeline .tl-progress .tl-text')?.textContent === 'Tests green');
  await cli(ws, ['subtask', 'create', t.id, 'Handle escapes'], worker);
  await page.waitForFunction(() => document.querySelector('.subtasks')?.textContent.includes('Handle escapes'));
  const progress = await page.$$eval('#timeline .tl-progress .tl-text', (els) => els.map((e) => e.textContent));
  assert.deepEqual(progress, ['Tests green', 'Tokenizer handles nested blocks'], 'each entry once, newest first');
  await done();
});

test('the indicator follows a server kill and restart, and shows what was missed once', async () => {
  const ws = workspace();
  await cli(ws, ['init', '--name', 'demo']);
  const a = await cli(ws, ['task', 'create', 'Task A']);
  const b = await cli(ws, ['task', 'create', 'Task B']);
  let srv = await serve(ws);
  const page = await open(br.context, `${srv.url}/`);
  await waitState(page, 'connected');
  await page.waitForSelector(card(b.id));
  const before = await cli(ws, ['events', '--since', '0', '--limit', '1000']);
  const seqBefore = before.at(-1).seq;

  await srv.kill('SIGKILL');
  await waitState(page, 'reconnecting', 5000);
  // Meanwhile, the CLI in local mode on the same database.
  const c = await cli(ws, ['task', 'create', 'Made while the server was down']);
  await cli(ws, ['task', 'start', a.id]);
  await cli(ws, ['update', 'Progress while the server was down', '--task', a.id]);
  await cli(ws, ['task', 'block', b.id, '--reason', 'Waiting for the schema review']);
  const missed = (await cli(ws, ['events', '--since', String(seqBefore), '--limit', '1000'])).map((e) => e.seq);
  assert.ok(missed.length >= 5);
  // Still trying (backoff), not given up.
  await page.waitForTimeout(1500);
  assert.equal(await page.getAttribute('#conn', 'data-state'), 'reconnecting');
  assert.equal(await page.$(card(c.id)), null, 'nothing new before the server is back');

  srv = await serve(ws, { addr: srv.addr });
  await waitState(page, 'connected', 10000);
  await page.waitForSelector(inColumn('pending', c.id));
  await page.waitForSelector(inColumn('in_progress', a.id));
  await page.waitForSelector(inColumn('blocked', b.id));
  for (const id of [a.id, b.id, c.id]) assert.equal((await page.$$(card(id))).length, 1, `${id} shown once`);
  assert.equal(await page.textContent(`${card(a.id)} .progress`), 'Progress while the server was down');

  // The activity feed lists every event since the page loaded: each missed one exactly once.
  await page.click('#nav a[data-view="activity"]');
  await page.waitForSelector('#feed li[data-seq]');
  const shown = (await page.$$eval('#feed li[data-seq]', (els) => els.map((e) => Number(e.dataset.seq)))).reverse();
  assert.deepEqual(shown, missed, 'every missed event, in order, none twice');

  assert.deepEqual(page.problems, []);
  await page.close();
  await srv.kill();
  ws.cleanup();
});

test('a server on another database makes the page reload its state (resync_required)', async () => {
  const ws = workspace();
  await cli(ws, ['init', '--name', 'old']);
  const olds = [];
  for (let i = 0; i < 6; i++) olds.push(await cli(ws, ['task', 'create', `Old task ${i}`]));
  let srv = await serve(ws);
  const page = await open(br.context, `${srv.url}/`);
  await waitState(page, 'connected');
  await page.waitForSelector(card(olds[5].id));
  await srv.kill('SIGKILL');
  await waitState(page, 'reconnecting', 5000);
  // A fresh database, with fewer events than the page has seen.
  const other = workspace();
  await cli(other, ['init', '--name', 'fresh']);
  const n = await cli(other, ['task', 'create', 'Only in the new database']);
  srv = await serve(other, { addr: srv.addr });
  await waitState(page, 'connected', 10000);
  await page.waitForSelector(card(n.id));
  assert.equal(await page.$(card(olds[0].id)), null, 'the old state is gone');
  assert.equal(await page.$eval('#project option:checked', (o) => o.textContent), 'fresh');
  assert.deepEqual(page.problems, []);
  await page.close();
  await srv.kill();
  ws.cleanup();
  other.cleanup();
});

test('hostile text stays text', async () => {
  const { ws, srv, page, done } = await setup();
  const xss = '<img src=x onerror=alert(1)>';
  const t = await cli(ws, [
    'task', 'create', xss,
    '--desc', '<script>alert(2)</script><b>bold</b>',
    '--label', '<i>label</i>',
  ]);
  const s = await cli(ws, ['session', 'register', '--name', '<svg onload=alert(3)>']);
  await cli(ws, ['task', 'start', t.id], { MAESTRO_SESSION_ID: s.id });
  await cli(ws, ['update', '<img src=y onerror=alert(4)>', '--task', t.id], { MAESTRO_SESSION_ID: s.id });
  await waitState(page, 'connected');
  await page.waitForSelector(card(t.id));
  await page.waitForSelector(`${card(t.id)} .progress`);
  assert.equal(await page.textContent(`${card(t.id)} .title`), xss);
  assert.equal(await page.textContent(`${card(t.id)} .label`), '<i>label</i>');
  assert.equal(await page.textContent(`${card(t.id)} .progress`), '<img src=y onerror=alert(4)>');
  const injected = 'main img, main script, main b, main i, main svg:not(.graph), main [onerror], main [onload]';
  assert.equal((await page.$$(injected)).length, 0);

  await page.click(card(t.id));
  await page.waitForSelector('#task-title');
  assert.equal(await page.textContent('#task-title'), xss);
  assert.equal(await page.textContent('.desc'), '<script>alert(2)</script><b>bold</b>');
  assert.match(await page.textContent('#owners'), /<svg onload=alert\(3\)>/);
  assert.equal((await page.$$(injected)).length, 0);

  await page.click('#nav a[data-view="graph"]');
  await page.waitForSelector('#graph .node');
  assert.equal(await page.textContent('#graph .node text.t'), `${xss.slice(0, 25)}\u2026`);
  assert.equal(await page.textContent('#graph .node title'), `${xss} (In progress)`);
  assert.equal((await page.$$(injected)).length, 0, 'graph: no injected element');
  await page.click('#nav a[data-view="sessions"]');
  await page.waitForSelector('#sessions');
  assert.match(await page.textContent('#sessions'), /<svg onload=alert\(3\)>/);
  assert.equal((await page.$$(injected)).length, 0, 'sessions: no injected element');
  await page.click('#nav a[data-view="activity"]');
  await page.waitForSelector('#feed li[data-seq]');
  assert.equal((await page.$$(injected)).length, 0, 'activity: no injected element');
  // The page forbids inline script, whatever the markup.
  const resp = await page.request.get(`${srv.url}/`);
  assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
  assert.doesNotMatch(resp.headers()['content-security-policy'], /unsafe-inline/);
  assert.equal(resp.headers()['x-content-type-options'], 'nosniff');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await done();
});

test('with a token: a login form, the token kept for the tab and sent in the handshake', async () => {
  const token = 's3cret/+= token';
  const { ws, srv, page, done } = await setup({ token });
  const sockets = [];
  page.on('websocket', (w) => sockets.push(w.url()));
  await page.waitForSelector('#login');
  assert.equal(await page.$('#board'), null);
  await page.fill('#token', 'wrong');
  await page.click('#login button[type="submit"]');
  await page.waitForSelector('#login-error');
  assert.match(await page.textContent('#login-error'), /not valid/);
  await page.fill('#token', token);
  await page.click('#login button[type="submit"]');
  await waitState(page, 'connected');
  await page.waitForSelector('#board');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('maestro.token')), token);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing kept beyond the tab');
  // Live events arrive over the socket that carried the token in its subprotocol.
  const t = await cli(ws, ['--server', srv.url, 'task', 'create', 'Behind a token'], { MAESTRO_TOKEN: token });
  await page.waitForSelector(card(t.id), { timeout: 2000 });
  assert.ok(sockets.length >= 1);
  for (const u of sockets) assert.doesNotMatch(u, /token|s3cret/, 'no token in the WebSocket URL');
  // Another tab has no token.
  const other = await open(br.context, `${srv.url}/`);
  await other.waitForSelector('#login');
  await other.close();
  // The page reloaded in the same tab keeps it.
  await page.reload();
  await waitState(page, 'connected');
  await page.waitForSelector(card(t.id));
  await done();
});

test("what agents used shows on their sessions and, summed, on their task", async () => {
  const { ws, srv, page, done } = await setup();
  const t = await cli(ws, ['task', 'create', 'Costly work']);
  // Two workers' sessions for the task (requests no host launches here).
  const first = await cli(ws, ['session', 'spawn', '--task', t.id, '--name', 'first-run']);
  const second = await cli(ws, ['session', 'spawn', '--task', t.id, '--name', 'second-run', '--force']);
  await waitState(page, 'connected');
  await page.click('#nav a[data-view="sessions"]');
  await page.waitForFunction(() => document.querySelector('#sessions')?.textContent.includes('second-run'));
  assert.equal(await page.$('#sessions th:has-text("Cost")'), null, 'no usage columns before any usage');
  // What a host records as it reads each agent's output, live on the page.
  const usage = (inputTokens, outputTokens, costUsd, turns) => ({ usage: { inputTokens, outputTokens, cachedInputTokens: 0, costUsd, turns } });
  await rest(srv.url, 'PATCH', `/api/sessions/${first.id}`, usage(12000, 800, 0.42, 3));
  await rest(srv.url, 'PATCH', `/api/sessions/${second.id}`, usage(3000, 200, 0.08, 1));
  await page.waitForFunction(() => document.querySelector('.view-head .counts')?.textContent.includes('total $0.50'));
  const row = await page.textContent(`#sessions tr[data-id="${first.id}"]`);
  assert.match(row, /12\.0k/);
  assert.match(row, /\$0\.42/);
  await page.goto(`${srv.url}/#/task/${t.id}`);
  await page.waitForSelector('#task-title');
  await page.waitForFunction(() => document.querySelector('#task-view h3 + dl.usage'));
  assert.equal(await page.textContent('#task-view h3:has(+ dl.usage)'), 'Usage (2 sessions)');
  const kv = await page.textContent('#task-view dl.usage');
  assert.match(kv, /input tokens15,000/);
  assert.match(kv, /output tokens1,000/);
  assert.match(kv, /cost\$0\.5000/);
  assert.match(kv, /turns4/);
  await done();
});

/** Runs git in `dir` (with an identity of its own) and returns what it printed. */
function git(dir, ...args) {
  return execFileSync('git', ['-c', 'user.name=Maestro Test', '-c', 'user.email=test@maestro.invalid', ...args], { cwd: dir, encoding: 'utf8' }).trim();
}

/**
 * A completed task whose branch, in a git worktree of `repo`, changes `file` to `content`,
 * recorded on the task as a host records it.
 */
async function finishedInWorktree(ws, srv, repo, title, file, content) {
  const t = await cli(ws, ['task', 'create', title]);
  const branch = `maestro/${t.id}`;
  const path = join(ws.env.MAESTRO_HOME, 'worktrees', t.id);
  git(repo, 'worktree', 'add', '-q', '-b', branch, path, 'main');
  writeFileSync(join(path, file), content);
  git(path, 'commit', '-qam', title);
  await rest(srv.url, 'PUT', `/api/tasks/${t.id}/worktree`, { worktree: { path, branch, base: 'main', repo } });
  await cli(ws, ['--server', srv.url, 'task', 'start', t.id]);
  await cli(ws, ['--server', srv.url, 'task', 'complete', t.id]);
  return t;
}

test('the merge queue: tasks in order, then what each merge came to, live', async () => {
  const { ws, srv, page, done } = await setup({ hash: '#/merges' });
  const repo = join(ws.dir, 'repo');
  mkdirSync(repo);
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'README'), 'one\n');
  git(repo, 'add', 'README');
  git(repo, 'commit', '-qm', 'init');
  await waitState(page, 'connected');
  await page.waitForFunction(() => document.querySelector('#merges-view .empty')?.textContent.startsWith('No merges yet'));
  const a = await finishedInWorktree(ws, srv, repo, 'Edit the readme', 'README', 'from a\n');
  const b = await finishedInWorktree(ws, srv, repo, 'Edit it <b>too</b>', 'README', 'from b\n');
  for (const t of [a, b]) await cli(ws, ['--server', srv.url, 'merge', t.id, '--no-run']);
  const row = (t) => `#merges-view tr[data-task="${t.id}"]`;
  await page.waitForSelector(row(b));
  const order = await page.$$eval('#merges-view section[data-target="main"] tbody tr', (rs) => rs.map((r) => [r.dataset.task, r.cells[0].textContent, r.dataset.state]));
  assert.deepEqual(order, [[a.id, '1', 'queued'], [b.id, '2', 'queued']], 'in the order they joined, numbered');
  assert.equal(await page.textContent(`${row(b)} a`), 'Edit it <b>too</b>', 'titles stay text');
  assert.equal(await page.$(`${row(b)} a b`), null);
  assert.equal(await page.textContent('#merge-counts'), '2 to merge · 0 merged · 0 stopped');

  // The queues run (as `maestro merge` does on the machine holding the repository): the
  // first lands, the second now conflicts on the same line.
  await cli(ws, ['merge']);
  const head = git(repo, 'rev-parse', 'main');
  await page.waitForSelector(`${row(b)}[data-state="conflict"]`);
  await page.waitForSelector(`${row(a)}[data-state="merged"]`);
  assert.equal(await page.textContent(`${row(a)} .mtext`), `merged at ${head.slice(0, 12)}`);
  assert.equal(await page.textContent(`${row(b)} .mtext`), 'conflict in README');
  assert.equal(await page.textContent('#merge-counts'), '0 to merge · 1 merged · 1 stopped');
  // The conflict blocks the task; its view says where it stands in the queue.
  await page.click(`${row(b)} a`);
  await page.waitForSelector('#task-merge');
  assert.equal(await page.textContent('#task-status'), 'Blocked');
  assert.match(await page.textContent('#task-merge'), /into main\s*conflict in README/);
  // The feed has each step of the first merge, once, in order, then its result.
  await page.click('#nav a[data-view="activity"]');
  await page.waitForSelector('#feed li[data-seq]');
  const feed = (await page.$$eval('#feed li[data-seq]', (els) => els.map((e) => e.textContent))).reverse().filter((x) => x.includes('Edit the readme'));
  const steps = feed.filter((x) => x.includes('merge:step'));
  assert.ok(steps.some((x) => x.includes('preparing (attempt 1)')), feed.join('\n'));
  assert.ok(steps.some((x) => x.includes(`target moved to ${head.slice(0, 12)}`)), feed.join('\n'));
  assert.equal(new Set(feed).size, feed.length, 'none twice');
  assert.match(feed.at(-1), /merge:updated.*→ main: merged \(merged at/);
  await done();
});

test('creating, starting, blocking, completing and spawning from the page', async () => {
  const { ws, page, done } = await setup();
  await waitState(page, 'connected');
  await page.waitForSelector('#board');
  await page.click('#new-task');
  await page.fill('#new-task-dialog input[name="title"]', 'Made on the page');
  await page.fill('#new-task-dialog textarea[name="description"]', 'From the dialog');
  await page.selectOption('#new-task-dialog select[name="priority"]', 'high');
  await page.fill('#new-task-dialog input[name="labels"]', 'ui, web');
  await page.click('#new-task-dialog button[type="submit"]');
  const sel = '.col[data-status="pending"] .card';
  await page.waitForFunction((s) => [...document.querySelectorAll(s)].some((c) => c.querySelector('.title').textContent === 'Made on the page'), sel);
  const id = await page.$$eval(sel, (cs) => cs.find((c) => c.querySelector('.title').textContent === 'Made on the page').dataset.id);
  const made = await cli(ws, ['task', 'get', id]);
  assert.equal(made.priority, 'high');
  assert.deepEqual(made.labels, ['ui', 'web']);
  assert.equal(made.description, 'From the dialog');

  await page.click(card(id));
  await page.waitForSelector('#task-title');
  await page.click('.actions button:has-text("Start")');
  await page.waitForFunction(() => document.querySelector('#task-status')?.textContent === 'In progress');
  await page.click('.actions button:has-text("Block")');
  await page.fill('#block-dialog textarea[name="reason"]', 'Needs the API key');
  await page.click('#block-dialog button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#task-status')?.textContent === 'Blocked');
  await page.waitForFunction(() => document.querySelector('#block-reason')?.textContent.includes('Needs the API key'));
  await page.click('.actions button:has-text("Resume")');
  await page.waitForFunction(() => document.querySelector('#task-status')?.textContent === 'In progress');
  await page.click('.actions button:has-text("Complete")');
  await page.waitForFunction(() => document.querySelector('#task-status')?.textContent === 'Completed');
  assert.equal((await cli(ws, ['task', 'get', id])).status, 'completed');
  await page.click('.crumbs a');
  await page.waitForSelector(inColumn('completed', id));

  // Cancel one, spawn a worker for another.
  const other = await cli(ws, ['task', 'create', 'Needs a worker']);
  const doomed = await cli(ws, ['task', 'create', 'Not needed after all']);
  await page.click(card(doomed.id));
  await page.click('.actions button:has-text("Cancel")');
  await page.waitForFunction(() => document.querySelector('#task-status')?.textContent === 'Cancelled');
  await page.click('.crumbs a');
  await page.click('#spawn');
  await page.selectOption('#spawn-dialog select[name="task"]', other.id);
  await page.fill('#spawn-dialog input[name="name"]', 'page-worker');
  await page.click('#spawn-dialog button[type="submit"]');
  await page.click('#nav a[data-view="sessions"]');
  await page.waitForFunction(() => document.querySelector('#sessions')?.textContent.includes('page-worker'));
  const row = await page.textContent('#sessions tbody tr');
  assert.match(row, /spawning/);
  assert.match(row, /Needs a worker/);
  const spawned = (await cli(ws, ['session', 'list'])).find((s) => s.name === 'page-worker');
  assert.deepEqual(spawned.taskIds, [other.id]);
  // An action the server refuses says why, and changes nothing.
  const waits = await cli(ws, ['task', 'create', 'Waits for the worker', '--depends-on', other.id]);
  await page.click('#nav a[data-view="board"]');
  await page.click(card(waits.id));
  await page.click('.actions button:has-text("Start")');
  // (The spawn's confirmation may still be showing: wait for the refusal's own message.)
  await page.waitForFunction(() => {
    const t = document.querySelector('#toast');
    return t && !t.hidden && /depend/i.test(t.textContent);
  });
  assert.match(await page.textContent('#toast'), /depend/i);
  assert.equal(await page.textContent('#task-status'), 'Pending');
  await done();
});

test('projects, filters and search', async () => {
  const { ws, page, done } = await setup();
  const parser = await cli(ws, ['task', 'create', 'Write the parser', '--label', 'backend', '--priority', 'high']);
  const docs = await cli(ws, ['task', 'create', 'Write the docs', '--label', 'docs', '--priority', 'low']);
  const ready = await cli(ws, ['task', 'create', 'Ship it', '--depends-on', parser.id]);
  const p2 = await cli(ws, ['project', 'create', 'second']);
  const elsewhere = await cli(ws, ['task', 'create', 'In the second project', '--project', p2.id]);
  await waitState(page, 'connected');
  await page.waitForSelector(card(docs.id));
  assert.equal(await page.$(card(elsewhere.id)), null);
  await page.fill('#search', 'parser');
  await page.waitForFunction(() => document.querySelectorAll('.card').length === 1);
  assert.ok(await page.$(card(parser.id)));
  await page.fill('#search', '');
  await page.selectOption('#f-label', 'docs');
  // The one card left must be the docs' (the parser's may still be the only one drawn).
  await page.waitForFunction((sel) => document.querySelectorAll('.card').length === 1 && document.querySelector(sel), card(docs.id));
  await page.selectOption('#f-label', '');
  await page.check('#f-ready');
  await page.waitForFunction(() => document.querySelectorAll('.card').length === 2);
  assert.equal(await page.$(card(ready.id)), null, 'waits on the parser: not ready');
  await page.uncheck('#f-ready');
  await page.selectOption('#project', p2.id);
  await page.waitForSelector(card(elsewhere.id));
  assert.equal(await page.$(card(docs.id)), null);
  assert.match(page.url(), new RegExp(`project=${p2.id}`));
  // Live events follow the chosen project only.
  const more = await cli(ws, ['task', 'create', 'Also second', '--project', p2.id]);
  const notHere = await cli(ws, ['task', 'create', 'Back in the first']);
  await page.waitForSelector(card(more.id));
  assert.equal(await page.$(card(notHere.id)), null);
  await done();
});
