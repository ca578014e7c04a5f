// The board: the project's tasks in one column per status, updated as events arrive.
//
// Cards are cached by task id with a key of everything they show; a render rebuilds only
// the cards whose key changed and touches a column's children only when its list changed,
// so a burst of events costs one pass over the tasks per frame.

import { h, setChildren } from './dom.js';
import { STATUSES, STATUS_LABEL } from './format.js';
import { compareIn } from './model.js';

export class Board {
  constructor(model, ui) {
    this.model = model;
    this.ui = ui;
    this.cards = new Map(); // id → {key, el}
    this.cols = new Map();
    this.el = h(
      'div',
      { class: 'board', id: 'board' },
      STATUSES.map((st) => {
        const count = h('span', { class: 'n' }, '0');
        const list = h('div', { class: 'cards' });
        const col = h(
          'section',
          { class: ['col', `st-${st}`], dataset: { status: st } },
          h('h2', null, STATUS_LABEL[st], ' ', count),
          list,
        );
        this.cols.set(st, { col, count, list });
        return col;
      }),
    );
  }

  render() {
    const m = this.model;
    const f = this.ui.filter;
    const groups = new Map(STATUSES.map((st) => [st, []]));
    let shown = 0;
    for (const t of m.tasks.values()) {
      if (!m.matches(t, f)) continue;
      (groups.get(t.status) ?? groups.get('pending')).push(t);
      shown += 1;
    }
    const seen = new Set();
    for (const [st, tasks] of groups) {
      tasks.sort(compareIn(st));
      const c = this.cols.get(st);
      c.count.textContent = String(tasks.length);
      setChildren(
        c.list,
        tasks.map((t) => {
          seen.add(t.id);
          return this.card(t);
        }),
      );
    }
    for (const id of this.cards.keys()) if (!seen.has(id)) this.cards.delete(id);
    return { shown, total: m.tasks.size };
  }

  card(t) {
    const m = this.model;
    const ready = m.isReady(t);
    const open = (t.dependencies ?? []).filter((d) => m.tasks.get(d)?.status !== 'completed').length;
    const owners = (t.sessionIds ?? []).map((id) => m.sessionName(id));
    const progress = t.status === 'in_progress' ? m.progress.get(t.id) : null;
    const key = `${t.version}|${t.updatedAt}|${ready}|${open}|${owners.join(',')}|${progress?.id ?? ''}`;
    const cached = this.cards.get(t.id);
    if (cached && cached.key === key) return cached.el;
    const el = h(
      'a',
      { class: ['card', `pr-${t.priority}`], href: `#/task/${encodeURIComponent(t.id)}`, dataset: { id: t.id } },
      h('div', { class: 'title' }, t.title),
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'id' }, t.id),
        h('span', { class: ['prio', `prio-${t.priority}`] }, t.priority),
        ready ? h('span', { class: 'badge ready' }, 'ready') : null,
        open ? h('span', { class: 'badge deps', title: 'dependencies not completed' }, `waits on ${open}`) : null,
      ),
      (t.labels ?? []).length ? h('div', { class: 'labels' }, t.labels.map((l) => h('span', { class: 'label' }, l))) : null,
      owners.length ? h('div', { class: 'owners' }, '\u25B8 ', owners.join(', ')) : null,
      progress ? h('div', { class: 'progress', title: progress.message }, progress.message) : null,
      t.worktree?.branch ? h('div', { class: 'branch' }, t.worktree.branch) : null,
    );
    this.cards.set(t.id, { key, el });
    return el;
  }
}
