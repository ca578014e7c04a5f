// Screenshots of the dashboard for the README: the board, a task and the graph, taken in
// headless Chromium over a small project made through the real server.
//
//   scripts/dashboard-screenshots          (writes docs/dashboard-*.png)

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browser, cli, open, rest, serve, waitState, workspace } from './harness.mjs';

const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs');
mkdirSync(out, { recursive: true });

const ws = workspace();
await cli(ws, ['init', '--name', 'billing-service']);
const srv = await serve(ws);

const api = (method, path, body, session) =>
  rest(srv.url, method, path, body, session ? { 'X-Maestro-Session': session } : {});

const plan = [
  ['schema', 'Design the invoice schema', 'high', [], ['db']],
  ['migr', 'Write the migrations', 'high', ['schema'], ['db']],
  ['model', 'Invoice and line-item models', 'high', ['schema'], ['backend']],
  ['tax', 'Tax rules per region', 'medium', ['model'], ['backend']],
  ['pdf', 'Render invoices as PDF', 'medium', ['model'], ['backend']],
  ['api', 'REST endpoints for invoices', 'high', ['model', 'migr'], ['api']],
  ['webhook', 'Payment provider webhooks', 'medium', ['api'], ['api']],
  ['retry', 'Retry failed charges', 'medium', ['webhook'], ['backend']],
  ['ui', 'Invoice list in the admin UI', 'low', ['api'], ['frontend']],
  ['email', 'Email receipts', 'low', ['pdf', 'webhook'], ['backend']],
  ['load', 'Load test the endpoints', 'medium', ['api'], ['ops']],
  ['docs', 'API reference docs', 'low', ['api'], ['docs']],
  ['audit', 'Audit log of every change', 'medium', ['model'], ['backend']],
  ['ship', 'Release 1.0', 'high', ['retry', 'ui', 'email', 'load', 'docs', 'tax'], ['release']],
];
const ids = {};
for (const [key, title, priority, deps, labels] of plan) {
  const t = await api('POST', '/api/tasks', { title, priority, labels, dependsOn: deps.map((d) => ids[d]) });
  ids[key] = t.id;
}
const worker = async (name) => (await api('POST', '/api/sessions', { name, role: 'worker', agent: 'claude' })).id;
const finish = async (key, s) => {
  await api('POST', `/api/tasks/${ids[key]}/start`, {}, s);
  await api('POST', `/api/tasks/${ids[key]}/complete`, {}, s);
};
const w1 = await worker('worker-schema');
await finish('schema', w1);
await finish('migr', w1);
await finish('model', w1);
const w2 = await worker('worker-api');
await api('POST', `/api/tasks/${ids.api}/start`, {}, w2);
for (const [title, done] of [['GET /invoices', true], ['POST /invoices', true], ['PATCH /invoices/:id', false], ['Pagination', false]]) {
  const st = await api('POST', `/api/tasks/${ids.api}/subtasks`, { title }, w2);
  if (done) await api('PATCH', `/api/tasks/${ids.api}/subtasks/${st.id}`, { completed: true }, w2);
}
await api('POST', `/api/tasks/${ids.api}/timeline`, { type: 'progress', message: 'Routes and validation in place; 38 tests pass' }, w2);
await api('POST', `/api/tasks/${ids.api}/timeline`, { type: 'progress', message: 'Writing the PATCH handler with If-Match checks' }, w2);
const w3 = await worker('worker-pdf');
await api('POST', `/api/tasks/${ids.pdf}/start`, {}, w3);
await api('POST', `/api/tasks/${ids.pdf}/timeline`, { type: 'progress', message: 'Layout done, fonts embedded' }, w3);
const w4 = await worker('worker-tax');
await api('POST', `/api/tasks/${ids.tax}/start`, {}, w4);
await api('POST', `/api/tasks/${ids.tax}/block`, { reason: 'Needs the VAT rates for the EU regions from finance' }, w4);
await api('POST', `/api/tasks/${ids.audit}/start`, {}, w1);
await api('POST', `/api/tasks/${ids.audit}/timeline`, { type: 'progress', message: 'Append-only table and triggers' }, w1);
await api('PATCH', `/api/tasks/${ids.docs}`, { description: 'Generated from the OpenAPI file, with examples for every route.' });

const br = await browser();
const page = await open(br.context, `${srv.url}/`);
await waitState(page, 'connected');
await page.waitForSelector(`.card[data-id="${ids.ship}"]`);
await page.screenshot({ path: join(out, 'dashboard-board.png') });
await page.goto(`${srv.url}/#/task/${ids.api}`);
await page.waitForSelector('#timeline li');
await page.screenshot({ path: join(out, 'dashboard-task.png') });
await page.goto(`${srv.url}/#/graph`);
await page.waitForSelector('#graph .node');
await page.screenshot({ path: join(out, 'dashboard-graph.png') });
if (page.problems.length) throw new Error(page.problems.join('\n'));
console.log(`wrote ${['board', 'task', 'graph'].map((v) => `docs/dashboard-${v}.png`).join(', ')}`);
await br.close();
await srv.kill();
ws.cleanup();
