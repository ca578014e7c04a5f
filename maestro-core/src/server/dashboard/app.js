// The dashboard: wires the model, the sync client and the views, and renders once a frame.

import * as api from './api.js';
import { ActivityView } from './activity.js';
import { Board } from './board.js';
import * as dialogs from './dialogs.js';
import { $, h } from './dom.js';
import { GraphView } from './graph.js';
import { MergesView } from './merges.js';
import { Model } from './model.js';
import { SessionsView } from './sessions.js';
import { Fatal, SyncClient } from './sync.js';
import { TaskView } from './task.js';

const model = new Model();
const ui = {
  filter: { text: '', priority: '', label: '', owner: '', ready: false },
  route: parseRoute(),
};

// ---- rendering ---------------------------------------------------------------------------

let frame = 0;
/** The login form holds the page: nothing else renders. */
let loginShown = false;
function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

const actions = { schedule, toast, status: changeStatus, block, spawn };
const views = {
  board: new Board(model, ui),
  task: new TaskView(model, ui, actions),
  sessions: new SessionsView(model, ui),
  graph: new GraphView(model, ui),
  merges: new MergesView(model),
  activity: new ActivityView(model),
};
let shownView = null;

function render() {
  frame = 0;
  if (loginShown) return;
  const name = ui.route.view;
  const view = views[name];
  const main = $('#main');
  const fresh = shownView !== name;
  if (fresh) {
    shownView = name;
    main.replaceChildren(view.el);
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('on', a.dataset.view === name);
    $('#filters').hidden = !(name === 'board' || name === 'graph' || name === 'sessions');
  }
  const d = model.dirty;
  if (d.has('projects')) renderProjects();
  if (d.has('tasks') || d.has('sessions')) renderFilterOptions();
  if (!model.loaded) {
    if (fresh) main.replaceChildren(h('p', { class: 'empty' }, 'Loading…'));
    shownView = null;
    model.dirty.clear();
    return;
  }
  switch (name) {
    case 'board': {
      if (fresh || d.has('tasks') || d.has('filter')) {
        const { shown, total } = views.board.render();
        $('#counts').textContent = shown === total ? `${total} tasks` : `${shown} of ${total} tasks`;
      }
      break;
    }
    case 'task':
      if (fresh || d.has('detail') || d.has('tasks') || d.has('sessions') || d.has('merges')) views.task.render();
      break;
    case 'sessions':
      if (fresh || d.has('sessions') || d.has('tasks') || d.has('filter') || d.has('clock')) views.sessions.render();
      break;
    case 'graph':
      if (fresh || d.has('tasks') || d.has('filter')) views.graph.render();
      break;
    case 'merges':
      if (fresh || d.has('merges') || d.has('tasks') || d.has('clock')) views.merges.render();
      break;
    case 'activity':
      if (fresh || d.has('feed')) views.activity.render(fresh);
      break;
  }
  model.dirty.clear();
  model.changedTasks.clear();
  // The last event the page has drawn (for people: in the indicator's tooltip).
  if (sync.lastSeq !== null) conn.dataset.seq = String(sync.lastSeq);
}

function renderProjects() {
  const sel = $('#project');
  const projects = [...model.projects.values()].sort((a, b) => a.name.localeCompare(b.name));
  sel.replaceChildren(...projects.map((p) => h('option', { value: p.id, selected: p.id === model.projectId }, p.name)));
  sel.disabled = projects.length < 2;
}

function renderFilterOptions() {
  const labelSel = $('#f-label');
  const labels = model.labels();
  const keyL = labels.join('\n');
  if (labelSel.dataset.key !== keyL) {
    labelSel.dataset.key = keyL;
    labelSel.replaceChildren(h('option', { value: '' }, 'Any label'), ...labels.map((l) => h('option', { value: l, selected: l === ui.filter.label }, l)));
  }
  const ownerSel = $('#f-owner');
  const owners = [...model.sessions.values()].filter((s) => s.taskIds?.length);
  const keyO = owners.map((s) => `${s.id}=${s.name}`).join('\n');
  if (ownerSel.dataset.key !== keyO) {
    ownerSel.dataset.key = keyO;
    ownerSel.replaceChildren(h('option', { value: '' }, 'Any owner'), ...owners.map((s) => h('option', { value: s.id, selected: s.id === ui.filter.owner }, s.name || s.id)));
  }
}

let toastTimer = 0;
function toast(e) {
  const el = $('#toast');
  const msg = typeof e === 'string' ? e : [e.message, e.suggestion].filter(Boolean).join(' — ');
  el.textContent = msg;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 8000);
}

// ---- routing -----------------------------------------------------------------------------

/** `#/`, `#/task/<id>`, `#/sessions?focus=<id>`, `#/graph`, `#/merges`, `#/activity`; `?project=` on any. */
function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const params = new URLSearchParams(qs ?? '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'task' && parts[1]) return { view: 'task', id: parts[1], params };
  if (['sessions', 'graph', 'merges', 'activity'].includes(parts[0])) return { view: parts[0], params };
  return { view: 'board', params };
}

function onRoute() {
  ui.route = parseRoute();
  if (ui.route.view === 'task') views.task.open(ui.route.id);
  else model.closeDetail();
  const wanted = ui.route.params.get('project');
  if (wanted && wanted !== model.projectId && model.projects.has(wanted)) switchProject(wanted);
  shownView = null;
  schedule();
}

// ---- data --------------------------------------------------------------------------------

let loading = null;

/** Loads the projects, tasks, sessions and merge queues; events received meanwhile are applied after. */
function reload() {
  model.beginLoad();
  const run = (async () => {
    const projects = await api.get('/api/projects');
    // After a resync the server may hold another database: then show its default project.
    if (!projects.some((p) => p.id === model.projectId)) {
      const id = await pickProject(projects, null);
      resetProject(id);
      model.beginLoad();
    }
    const projectId = model.projectId;
    const [tasks, sessions, merges] = await Promise.all([
      api.all('/api/tasks', { projectId }),
      api.all('/api/sessions', { projectId }),
      api.get('/api/merges' + api.query({ projectId })),
    ]);
    if (model.projectId !== projectId) return; // switched meanwhile: that load wins
    model.loadSnapshot({ projects, tasks, sessions, merges });
    if (model.detail && !model.detail.loaded) views.task.open(model.detail.requested);
    schedule();
  })();
  loading = run.catch((e) => {
    if (e.status === 401) return needLogin('The token is not valid any more.');
    // The server went away mid-load: the next hello loads again.
    model.loaded = false;
    console.warn('loading the state failed:', e.message);
  });
  return loading;
}

/** `wanted` when it exists, else the store's default project, else the first. */
async function pickProject(projects, wanted) {
  if (wanted && projects.some((p) => p.id === wanted)) return wanted;
  try {
    return (await api.get('/api/projects/default')).id;
  } catch {
    return projects[0]?.id ?? null;
  }
}

/** Forgets what was shown of the previous project. */
function resetProject(id) {
  model.projectId = id;
  model.feed = [];
  model.progress.clear();
  model.loaded = false;
  model.closeDetail();
  views.activity.lastSeq = null;
  shownView = null;
}

function switchProject(id) {
  resetProject(id);
  const params = new URLSearchParams(ui.route.params);
  params.set('project', id);
  history.replaceState(null, '', `#/${ui.route.view === 'board' ? '' : ui.route.view}?${params}`);
  ui.route = parseRoute();
  schedule();
  return reload();
}

async function changeStatus(task, action) {
  try {
    await api.post(`/api/tasks/${encodeURIComponent(task.id)}/${action}`, {});
  } catch (e) {
    toast(e);
  }
}

async function block(task) {
  const reason = await dialogs.blockReason(task);
  if (reason === null) return;
  try {
    await api.post(`/api/tasks/${encodeURIComponent(task.id)}/block`, { reason });
  } catch (e) {
    toast(e);
  }
}

async function spawn(task) {
  const input = await dialogs.spawnWorker([...model.tasks.values()], task?.id);
  if (!input) return;
  if (input.empty) return toast('Every task is done: create a task first.');
  try {
    const s = await api.post('/api/sessions/spawn', { ...input, projectId: model.projectId });
    toast(`Spawn request ${s.name || s.id} sent: a host (maestro host, or serve --spawn) launches it.`);
  } catch (e) {
    toast(e);
  }
}

async function createTask() {
  const input = await dialogs.newTask([...model.tasks.values()]);
  if (!input) return;
  try {
    // The board shows it when its event arrives, like any other change.
    await api.post('/api/tasks', { ...input, projectId: model.projectId });
  } catch (e) {
    toast(e);
  }
}

// ---- connection --------------------------------------------------------------------------

const conn = $('#conn');
function showState(state, info) {
  conn.dataset.state = state;
  let label = state;
  if (state === 'reconnecting') {
    label = sync.everConnected ? 'reconnecting' : 'connecting';
    if (info.delay > 500) label += ` (retry in ${(info.delay / 1000).toFixed(1)} s)`;
  }
  if (state === 'connected') sync.everConnected = true;
  conn.querySelector('.conn-text').textContent = label;
  conn.title = info.error ? String(info.error) : state === 'connected' ? `Live; last event #${sync.lastSeq}` : '';
  if (state === 'disconnected' && info.code === 'unauthorized') needLogin('The server refused the token.');
}

const sync = new SyncClient({
  url: api.wsUrl,
  protocols: api.wsProtocols,
  probe: async () => {
    try {
      await api.get('/api/projects');
    } catch (e) {
      if (e.status === 401) throw new Fatal('unauthorized', e.message);
    }
  },
  onState: showState,
  onHello: ({ first }) => {
    if (first || !model.loaded) reload();
  },
  onEvent: (ev) => {
    model.receive(ev);
    schedule();
  },
  onResync: () => reload(),
});
conn.addEventListener('click', () => {
  if (sync.state === 'disconnected') sync.restart();
});
window.addEventListener('online', () => sync.retryNow());

// ---- start -------------------------------------------------------------------------------

async function needLogin(message) {
  if (loginShown) return;
  loginShown = true;
  sync.close('login');
  api.setToken(null);
  $('#filters').hidden = true;
  shownView = null;
  const t = await dialogs.login($('#main'), message);
  api.setToken(t);
  loginShown = false;
  start();
}

async function start() {
  let projects;
  try {
    projects = await api.get('/api/projects');
  } catch (e) {
    if (e.status === 401) return needLogin(api.token() ? 'The token is not valid.' : null);
    $('#main').replaceChildren(h('p', { class: 'empty' }, `Cannot load the projects: ${e.message}`));
    setTimeout(start, 2000);
    return;
  }
  $('#logout').hidden = !api.token();
  model.projects = new Map(projects.map((p) => [p.id, p]));
  const projectId = await pickProject(projects, ui.route.params.get('project'));
  model.projectId = projectId;
  model.touch('projects');
  if (!projectId) {
    $('#main').replaceChildren(h('div', { class: 'empty' }, h('p', null, 'No project yet.'), h('p', null, 'Create one with: maestro init --name <name>'), h('p', null, 'Then reload this page.')));
    renderProjects();
    return;
  }
  onRoute();
  if (sync.state === 'disconnected' || !sync.started) {
    sync.started = true;
    if (sync.closed) sync.restart();
    else sync.start();
  }
}

// ---- controls ----------------------------------------------------------------------------

function onFilter() {
  ui.filter = {
    text: $('#search').value.trim(),
    priority: $('#f-priority').value,
    label: $('#f-label').value,
    owner: $('#f-owner').value,
    ready: $('#f-ready').checked,
  };
  model.touch('filter');
  schedule();
}
for (const id of ['#search', '#f-priority', '#f-label', '#f-owner', '#f-ready']) $(id).addEventListener('input', onFilter);
$('#project').addEventListener('change', (e) => switchProject(e.target.value));
$('#new-task').addEventListener('click', createTask);
$('#spawn').addEventListener('click', () => spawn(model.detailTask()));
$('#logout').addEventListener('click', () => {
  api.setToken(null);
  location.hash = '#/';
  location.reload();
});
window.addEventListener('hashchange', onRoute);
// Relative times ("5 s ago") move on.
setInterval(() => {
  if (['sessions', 'task', 'merges'].includes(ui.route.view)) {
    model.touch(ui.route.view === 'task' ? 'detail' : 'clock');
    schedule();
  }
}, 10000);

start();
