// The dashboard's pure modules (reconnect rules, the mirrored state, the graph layout),
// imported from where the server compiles them in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_OPTIONS, edgePath, layout } from '../../maestro-core/src/server/dashboard/layout.js';
import { Model, compareIn } from '../../maestro-core/src/server/dashboard/model.js';
import { DEFAULTS, Tracker, backoffDelay } from '../../maestro-core/src/server/dashboard/sync.js';
import { mergeStateText, mergeStepText, timelineText } from '../../maestro-core/src/server/dashboard/format.js';

test('merge entries read as what happened to the branch', () => {
  assert.equal(
    timelineText({ type: 'merged', branch: 'maestro/t-1-x', target: 'main', commit: 'c'.repeat(40) }),
    'merged maestro/t-1-x into main at cccccccccccc',
  );
  assert.equal(
    timelineText({ type: 'blocked', reason: 'merge_conflict', details: { target: 'main', paths: ['a.rs', 'b.rs'] } }),
    'blocked: merge conflict with main in a.rs, b.rs',
  );
  assert.equal(
    timelineText({ type: 'blocked', reason: 'gate_failed', details: { target: 'main', exitCode: 3 } }),
    'blocked: the merge gate failed on main (exit 3)',
  );
  assert.equal(timelineText({ type: 'blocked', reason: 'waiting on design' }), 'blocked: waiting on design');
});

test('the merge queues follow merge:updated and merge:step events of the project', () => {
  const m = new Model();
  m.projectId = 'p-1';
  m.loadSnapshot({ tasks: [], sessions: [], merges: [{ projectId: 'p-1', target: 'main', entries: [{ taskId: 't-1', branch: 'b1', state: 'merged', commit: 'c'.repeat(40), runs: 1 }] }] });
  const queue = (entries) => ({ type: 'merge:updated', projectId: 'p-1', data: { projectId: 'p-1', taskId: 't-3', action: 'queued', target: 'main', entries } });
  m.receive(queue([
    { taskId: 't-1', branch: 'b1', state: 'merged', commit: 'c'.repeat(40), runs: 1 },
    { taskId: 't-2', branch: 'b2', state: 'merging', runs: 1 },
    { taskId: 't-3', branch: 'b3', state: 'queued', runs: 0 },
  ]));
  assert.deepEqual(m.mergeEntries('t-3').map((x) => [x.target, x.position]), [['main', 2]]);
  assert.deepEqual(m.mergeEntries('t-1').map((x) => x.position), [null], 'a finished entry has no place in line');
  m.receive({ type: 'merge:step', projectId: 'p-1', ts: 'now', data: { projectId: 'p-1', taskId: 't-2', target: 'main', step: { step: 'gate_started', command: 'cargo test' } } });
  assert.equal(mergeStepText(m.mergeSteps.get('t-2').step), 'running the gate: cargo test');
  // Another project's queue changes nothing here.
  m.receive({ type: 'merge:updated', projectId: 'p-2', data: { projectId: 'p-2', taskId: 't-9', action: 'queued', target: 'main', entries: [] } });
  assert.equal(m.merges.get('main').entries.length, 3);
  // The merge ends: its step is forgotten with the state it left.
  m.receive(queue([
    { taskId: 't-1', branch: 'b1', state: 'merged', commit: 'c'.repeat(40), runs: 1 },
    { taskId: 't-2', branch: 'b2', state: 'conflict', paths: ['src/a.rs'], runs: 1 },
    { taskId: 't-3', branch: 'b3', state: 'queued', runs: 0 },
  ]));
  assert.equal(m.mergeSteps.has('t-2'), false);
  assert.deepEqual(m.mergeEntries('t-3').map((x) => x.position), [1]);
  assert.equal(mergeStateText(m.merges.get('main').entries[1]), 'conflict in src/a.rs');
  assert.equal(mergeStateText({ state: 'waiting', reason: 'the checkout of main has uncommitted changes' }), 'waiting: the checkout of main has uncommitted changes');
  assert.equal(mergeStateText({ state: 'failed', code: 'not_found', message: 'no branch b9' }), 'failed (not_found): no branch b9');
  assert.equal(mergeStepText({ step: 'target_moved', now: 'd'.repeat(40), attempt: 2 }), `the target moved to ${'d'.repeat(12)}: building again (attempt 2)`);
});

test('backoff doubles from 200 ms up to 5 s, jitter takes up to half', () => {
  // The rule of RetryPolicy::delay with the sync client's defaults.
  assert.equal(backoffDelay(0, 1), 200);
  assert.equal(backoffDelay(2, 1), 800);
  assert.equal(backoffDelay(0, 0), 100);
  assert.equal(backoffDelay(10, 1), DEFAULTS.maxDelay);
  assert.equal(backoffDelay(10, 0), DEFAULTS.maxDelay / 2);
  assert.equal(backoffDelay(1000, 0.5), DEFAULTS.maxDelay * 0.75);
  for (let a = 0; a < 20; a++) {
    const d = backoffDelay(a, Math.random());
    assert.ok(d > 0 && d <= DEFAULTS.maxDelay);
  }
  assert.equal(backoffDelay(3, Number.NaN), 1600, 'a bad random value counts as 1');
});

const ev = (seq) => ({ type: 'task:updated', seq, projectId: 'p-1', data: { id: 't-1' } });

test('the tracker delivers each seq once, in order', () => {
  const t = new Tracker(5);
  const out = [3, 5, 6, 6, 4, 7, 9].map((s) => t.onFrame(ev(s))?.event?.seq ?? null);
  assert.deepEqual(out, [null, null, 6, null, null, 7, 9]);
  assert.equal(t.lastSeq, 9);
  assert.equal(t.onFrame({ type: 'pong' }), null);
  assert.equal(t.onFrame({ type: 'ack', id: 'x', ok: true }), null);
  assert.equal(t.onFrame('garbage'), null);
});

test('resync_required moves the resume point and asks for a reload', () => {
  const t = new Tracker(5);
  assert.deepEqual(t.onFrame({ type: 'resync_required', oldest: 20 }), { resync: { lastSeq: 5, oldest: 20 }, since: 19 });
  assert.equal(t.lastSeq, 19);
  // The server's log is behind us (another database): start over from its beginning.
  assert.deepEqual(t.onFrame({ type: 'resync_required', oldest: 1 }), { resync: { lastSeq: 19, oldest: 1 }, since: 0 });
  assert.equal(t.onFrame(ev(1)).event.seq, 1);
});

const task = (id, version, extra = {}) => ({
  id,
  projectId: 'p-1',
  title: id,
  status: 'pending',
  priority: 'medium',
  dependencies: [],
  labels: [],
  sessionIds: [],
  version,
  createdAt: `2026-01-01T00:00:0${version}Z`,
  updatedAt: `2026-01-01T00:00:0${version}Z`,
  ...extra,
});
const taskEv = (seq, t, type = 'task:updated') => ({ type, seq, projectId: t.projectId, data: t });

test('events during a snapshot load apply on top of it, never behind it', () => {
  const m = new Model();
  m.projectId = 'p-1';
  m.beginLoad();
  // Received while the snapshot loads: an update the snapshot already has, a newer one,
  // a deletion, another project's task.
  m.receive(taskEv(11, task('t-a', 2)));
  m.receive(taskEv(12, task('t-b', 3, { status: 'in_progress' })));
  m.receive(taskEv(13, task('t-c', 2), 'task:deleted'));
  m.receive(taskEv(14, task('t-x', 1, { projectId: 'p-2' }), 'task:created'));
  assert.equal(m.tasks.size, 0, 'nothing applied before the snapshot');
  m.loadSnapshot({ tasks: [task('t-a', 3, { title: 'newer' }), task('t-b', 2), task('t-c', 1)], sessions: [] });
  assert.equal(m.tasks.get('t-a').title, 'newer', 'an older event does not undo the snapshot');
  assert.equal(m.tasks.get('t-b').status, 'in_progress');
  assert.equal(m.tasks.has('t-c'), false);
  assert.equal(m.tasks.has('t-x'), false);
  assert.deepEqual(m.feed.map((e) => e.seq), [11, 12, 13], 'the feed holds this project only');
  m.receive({ type: 'timeline:added', seq: 15, projectId: 'p-1', data: { id: 7, taskId: 't-b', type: 'progress', message: 'half way' } });
  assert.equal(m.progress.get('t-b').message, 'half way');
});

test('ready and filters follow the dependencies and fields', () => {
  const m = new Model();
  m.projectId = 'p-1';
  m.loadSnapshot({
    tasks: [
      task('t-1', 1, { status: 'completed', labels: ['api'] }),
      task('t-2', 1, { dependencies: ['t-1'], priority: 'high', title: 'Write the parser' }),
      task('t-3', 1, { dependencies: ['t-2'], sessionIds: ['s-1'] }),
    ],
    sessions: [{ id: 's-1', projectId: 'p-1', name: 'worker-1', taskIds: ['t-3'] }],
  });
  const ids = (f) => [...m.tasks.values()].filter((t) => m.matches(t, { text: '', ...f })).map((t) => t.id);
  assert.deepEqual(ids({ ready: true }), ['t-2']);
  assert.deepEqual(ids({ text: 'PARSER' }), ['t-2']);
  assert.deepEqual(ids({ label: 'api' }), ['t-1']);
  assert.deepEqual(ids({ owner: 's-1' }), ['t-3']);
  assert.deepEqual(ids({ priority: 'high' }), ['t-2']);
  assert.equal(m.sessionName('s-1'), 'worker-1');
  const pending = [task('t-l', 1, { priority: 'low' }), task('t-h', 2, { priority: 'high' }), task('t-m', 1)];
  assert.deepEqual(pending.sort(compareIn('pending')).map((t) => t.id), ['t-h', 't-m', 't-l']);
});

/** A random DAG: each task depends on up to 3 earlier ones. */
function dag(n, seed = 7) {
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out = [];
  for (let i = 0; i < n; i++) {
    const deps = new Set();
    const k = i === 0 ? 0 : Math.floor(rand() * 4);
    for (let j = 0; j < k; j++) deps.add(`t-${Math.floor(rand() * i)}`);
    out.push({ id: `t-${i}`, title: `Task ${i}`, status: 'pending', dependencies: [...deps] });
  }
  return out;
}

function checkLayout(tasks, lay) {
  const o = DEFAULT_OPTIONS;
  const byId = new Map(lay.nodes.map((n) => [n.id, n]));
  assert.equal(lay.nodes.length, tasks.length);
  // No two boxes overlap.
  const sorted = [...lay.nodes].sort((a, b) => a.x - b.x || a.y - b.y);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j].x < sorted[i].x + sorted[i].w; j++) {
      const [a, b] = [sorted[i], sorted[j]];
      assert.ok(a.y + a.h <= b.y || b.y + b.h <= a.y, `${a.id} overlaps ${b.id}`);
    }
  }
  // A task is right of everything it depends on; every edge runs left to right.
  for (const t of tasks) for (const d of t.dependencies) assert.ok(byId.get(d).x + o.nodeW <= byId.get(t.id).x, `${d} → ${t.id}`);
  for (const e of lay.edges) {
    for (let i = 1; i < e.points.length; i++) assert.ok(e.points[i][0] > e.points[i - 1][0]);
    assert.ok(edgePath(e.points).startsWith('M'));
  }
  // Columns are at most maxRows boxes tall, and everything is inside the drawing.
  const perColumn = new Map();
  for (const n of lay.nodes) perColumn.set(n.x, (perColumn.get(n.x) ?? 0) + 1);
  for (const c of perColumn.values()) assert.ok(c <= o.maxRows);
  for (const n of lay.nodes) assert.ok(n.x >= 0 && n.y >= 0 && n.x + n.w <= lay.width && n.y + n.h <= lay.height);
}

test('the layout of 200 tasks keeps boxes apart and edges left to right', () => {
  const tasks = dag(200);
  const lay = layout(tasks);
  checkLayout(tasks, lay);
  assert.equal(lay.edges.length, tasks.reduce((a, t) => a + t.dependencies.length, 0));
});

test('200 independent tasks wrap into a grid', () => {
  const tasks = Array.from({ length: 200 }, (_, i) => ({ id: `t-${i}`, title: `T${i}`, status: 'pending', dependencies: [] }));
  const lay = layout(tasks);
  checkLayout(tasks, lay);
  assert.ok(lay.height < 30 * (DEFAULT_OPTIONS.nodeH + DEFAULT_OPTIONS.gapY), `height ${lay.height}`);
});

test('a cycle or a missing dependency does not break the layout', () => {
  const tasks = [
    { id: 'a', title: 'a', dependencies: ['c'] },
    { id: 'b', title: 'b', dependencies: ['a', 'gone'] },
    { id: 'c', title: 'c', dependencies: ['b'] },
  ];
  const lay = layout(tasks);
  assert.equal(lay.nodes.length, 3);
  assert.equal(lay.edges.length, 2, 'the edge closing the cycle is left out');
});
