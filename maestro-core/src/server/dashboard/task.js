// The task view: description, subtasks, dependencies, owners, worktree, merge, block reason,
// the timeline (paged) and the actions a person can take.

import * as api from './api.js';
import { fill, h } from './dom.js';
import { STATUS_LABEL, ago, mergeStateText, mergeStepText, timelineText, when } from './format.js';


export class TaskView {
  constructor(model, ui, actions) {
    this.model = model;
    this.ui = ui;
    this.actions = actions;
    this.el = h('div', { class: 'task-view', id: 'task-view' });
  }

  /** Opens task `id` (a full id or a unique prefix) and loads it. */
  open(id) {
    const m = this.model;
    const det = m.openDetail(id);
    if (!det.loaded && !det.loading) this.load(det);
  }

  async load(det) {
    det.loading = true;
    try {
      // The detail carries the newest entries and how many there are in all.
      const detail = await api.get(`/api/tasks/${encodeURIComponent(det.requested)}`);
      this.model.fillDetail(det, detail, detail.timeline ?? []);
    } catch (e) {
      det.error = e;
      this.model.touch('detail');
    } finally {
      det.loading = false;
      this.actions.schedule();
    }
  }

  /** Loads the whole history, oldest first, a page at a time (the API pages it). */
  async older() {
    const det = this.model.detail;
    if (!det || !det.hasMore) return;
    try {
      const all = await api.all(`/api/tasks/${encodeURIComponent(det.id)}/timeline`);
      for (const e of all) det.timeline.set(e.id, e);
      det.hasMore = false;
      this.model.touch('detail');
      this.actions.schedule();
    } catch (e) {
      this.actions.toast(e);
    }
  }

  render() {
    const m = this.model;
    const det = m.detail;
    if (!det) return;
    if (det.error && !det.loaded) {
      fill(this.el, 
        h('p', { class: 'empty' }, det.error.code === 'task_not_found' ? `No task ${det.requested}.` : det.error.message),
        h('p', null, h('a', { href: '#/' }, 'Back to the board')),
      );
      return;
    }
    const t = m.detailTask();
    if (!t) {
      fill(this.el, h('p', { class: 'empty' }, 'Loading…'));
      return;
    }
    const a = this.actions;
    const deps = (t.dependencies ?? []).map((id) => {
      const live = m.tasks.get(id);
      const known = det.dependencyDetails?.find((d) => d.id === id);
      return { id, title: live?.title ?? known?.title ?? id, status: live?.status ?? known?.status ?? 'pending' };
    });
    const dependents = [...m.tasks.values()].filter((x) => (x.dependencies ?? []).includes(t.id));
    const subtasks = [...det.subtasks.values()].sort((x, y) => x.order - y.order || x.createdAt.localeCompare(y.createdAt));
    const timeline = [...det.timeline.values()].sort((x, y) => y.id - x.id);
    const reason = blockReason(t, timeline);
    const names = { subtask: (id) => det.subtasks.get(id)?.title, session: (id) => m.sessionName(id) };
    const button = (label, onclick, cls) => h('button', { type: 'button', class: cls, onclick }, label);
    const st = t.status;
    const actions = [
      st === 'pending' || st === 'blocked' ? button(st === 'blocked' ? 'Resume' : 'Start', () => a.status(t, 'start')) : null,
      st === 'in_progress' ? button('Complete', () => a.status(t, 'complete'), 'primary') : null,
      st === 'pending' || st === 'in_progress' ? button('Block…', () => a.block(t)) : null,
      st !== 'completed' && st !== 'cancelled' ? button('Cancel', () => a.status(t, 'cancel'), 'danger') : null,
      st === 'completed' || st === 'cancelled' ? button('Reopen', () => a.status(t, 'reopen')) : null,
      st !== 'completed' && st !== 'cancelled' ? button('Spawn worker…', () => a.spawn(t)) : null,
    ];
    const usage = m.taskUsage(t.id);
    const merges = m.mergeEntries(t.id);
    fill(this.el, 
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Board'), ' / ', h('span', { class: 'id' }, t.id)),
      det.deleted ? h('p', { class: 'warn' }, 'This task was deleted.') : null,
      h(
        'div',
        { class: 'task-head' },
        h('h1', { id: 'task-title' }, t.title),
        h('span', { class: ['status', `status-${st}`], id: 'task-status' }, STATUS_LABEL[st] ?? st),
        h('span', { class: ['prio', `prio-${t.priority}`] }, t.priority),
        (t.labels ?? []).map((l) => h('span', { class: 'label' }, l)),
      ),
      h('div', { class: 'actions' }, actions),
      h(
        'div',
        { class: 'task-grid' },
        h(
          'div',
          { class: 'task-main' },
          reason ? h('div', { class: 'block-reason', id: 'block-reason' }, h('strong', null, 'Blocked: '), reason) : null,
          h('section', null, h('h3', null, 'Description'), t.description ? h('p', { class: 'desc' }, t.description) : h('p', { class: 'muted' }, 'No description.')),
          h(
            'section',
            null,
            h('h3', null, `Subtasks (${subtasks.filter((x) => x.completed).length}/${subtasks.length})`),
            subtasks.length
              ? h(
                  'ul',
                  { class: 'subtasks' },
                  subtasks.map((x) => h('li', { class: x.completed ? 'done' : '' }, h('span', { class: 'box' }, x.completed ? '\u2611' : '\u2610'), ' ', x.title)),
                )
              : h('p', { class: 'muted' }, 'None.'),
          ),
          h(
            'section',
            null,
            h('h3', null, 'Timeline'),
            h(
              'ol',
              { class: 'timeline', id: 'timeline' },
              timeline.map((e) =>
                h(
                  'li',
                  { class: `tl-${e.type}`, dataset: { id: String(e.id) } },
                  h('time', { datetime: e.timestamp, title: when(e.timestamp) }, ago(e.timestamp)),
                  h('span', { class: 'tl-type' }, e.type.replace('_', ' ')),
                  h('span', { class: 'tl-text' }, timelineText(e, names)),
                  e.actorSessionId ? h('span', { class: 'tl-actor' }, m.sessionName(e.actorSessionId)) : null,
                ),
              ),
            ),
            det.hasMore ? button(`Show all ${det.total} entries`, () => this.older()) : null,
          ),
        ),
        h(
          'aside',
          { class: 'task-side' },
          h('h3', null, 'Dependencies'),
          deps.length ? h('ul', { class: 'refs' }, deps.map((d) => ref(d))) : h('p', { class: 'muted' }, 'None.'),
          h('h3', null, 'Dependents'),
          dependents.length ? h('ul', { class: 'refs' }, dependents.map((d) => ref(d))) : h('p', { class: 'muted' }, 'None.'),
          h('h3', null, 'Owners'),
          (t.sessionIds ?? []).length
            ? h(
                'ul',
                { class: 'refs', id: 'owners' },
                t.sessionIds.map((id) => {
                  const s = m.sessions.get(id);
                  return h('li', null, h('a', { href: `#/sessions?focus=${encodeURIComponent(id)}` }, m.sessionName(id)), s ? h('span', { class: ['sstatus', `ss-${s.status}`] }, s.status) : null);
                }),
              )
            : h('p', { class: 'muted' }, 'Nobody.'),
          t.worktree
            ? [
                h('h3', null, 'Worktree'),
                h('dl', { class: 'kv', id: 'worktree' }, kv('branch', t.worktree.branch), kv('base', t.worktree.base), kv('path', t.worktree.path)),
              ]
            : null,
          merges.length
            ? [
                h('h3', null, 'Merge'),
                h(
                  'ul',
                  { class: 'refs', id: 'task-merge' },
                  merges.map(({ target, position, entry }) => {
                    const step = entry.state === 'merging' ? m.mergeSteps.get(t.id) : null;
                    return h(
                      'li',
                      null,
                      h('a', { href: '#/merges' }, `into ${target}`),
                      h('span', { class: 'mtext' }, position ? `${mergeStateText(entry)} (#${position})` : mergeStateText(entry), step ? ` — ${mergeStepText(step.step)}` : ''),
                    );
                  }),
                ),
              ]
            : null,
          usage ? [h('h3', null, usage.sessions > 1 ? `Usage (${usage.sessions} sessions)` : 'Usage'), usageList(usage)] : null,
          h('h3', null, 'Times'),
          h('dl', { class: 'kv' }, kv('created', ago(t.createdAt)), kv('updated', ago(t.updatedAt)), kv('started', t.startedAt && ago(t.startedAt)), kv('completed', t.completedAt && ago(t.completedAt)), kv('version', String(t.version))),
        ),
      ),
    );
  }
}

function ref(d) {
  return h('li', null, h('a', { href: `#/task/${encodeURIComponent(d.id)}` }, d.title), ' ', h('span', { class: ['status', `status-${d.status}`] }, STATUS_LABEL[d.status] ?? d.status));
}

function kv(k, v) {
  if (v === undefined || v === null || v === '') return null;
  return [h('dt', null, k), h('dd', null, v)];
}

/** Tokens and cost, those a usage carries. */
export function usageList(u) {
  return h(
    'dl',
    { class: 'kv usage' },
    kv('input tokens', u.inputTokens?.toLocaleString()),
    kv('output tokens', u.outputTokens?.toLocaleString()),
    kv('cached input', u.cachedInputTokens?.toLocaleString()),
    kv('cost', typeof u.costUsd === 'number' ? `$${u.costUsd.toFixed(4)}` : null),
    kv('turns', u.turns?.toString()),
  );
}

/** Why a blocked task is blocked: its `blockedReason`, else its newest `blocked` entry. */
export function blockReason(t, timelineNewestFirst) {
  if (t.status !== 'blocked') return null;
  if (t.blockedReason) return t.blockedReason;
  return timelineNewestFirst.find((e) => e.type === 'blocked')?.reason ?? null;
}
