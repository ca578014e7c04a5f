// The sessions view: every agent session of the project, live.

import { fill, h } from './dom.js';
import { ago, count, usd, when } from './format.js';

const ENDED = new Set(['completed', 'failed', 'stopped', 'lost']);

export class SessionsView {
  constructor(model, ui) {
    this.model = model;
    this.ui = ui;
    this.activeOnly = false;
    this.el = h('div', { class: 'sessions-view', id: 'sessions-view' });
  }

  render() {
    const m = this.model;
    const q = this.ui.filter.text.toLowerCase();
    const focus = this.ui.route.params.get('focus');
    const all = [...m.sessions.values()];
    const rows = all
      .filter((s) => !this.activeOnly || !ENDED.has(s.status))
      .filter((s) => !q || `${s.id} ${s.name} ${s.agent ?? ''} ${s.role}`.toLowerCase().includes(q))
      .sort((a, b) => Number(ENDED.has(a.status)) - Number(ENDED.has(b.status)) || b.lastSeen.localeCompare(a.lastSeen));
    // Tokens and cost only when some session reports them.
    const withUsage = rows.some((s) => s.usage);
    const withTree = rows.some((s) => s.worktree);
    const total = rows.reduce((a, s) => a + (typeof s.usage?.costUsd === 'number' ? s.usage.costUsd : 0), 0);
    const toggle = h('input', {
      type: 'checkbox',
      checked: this.activeOnly,
      onchange: (e) => {
        this.activeOnly = e.target.checked;
        this.render();
      },
    });
    fill(this.el, 
      h(
        'div',
        { class: 'view-head' },
        h('h1', null, 'Sessions'),
        h('label', { class: 'check' }, toggle, ' Active only'),
        h('span', { class: 'counts' }, `${rows.length} of ${all.length}`, withUsage ? ` · total ${usd(total)}` : ''),
      ),
      rows.length
        ? h(
            'table',
            { class: 'sessions', id: 'sessions' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Session', 'Status', 'Role', 'Agent', 'Tasks', 'Last seen'].map((c) => h('th', null, c)),
                withUsage ? ['Tokens in', 'Tokens out', 'Cached', 'Cost', 'Turns'].map((c) => h('th', { class: 'num' }, c)) : null,
                withTree ? h('th', null, 'Worktree') : null,
              ),
            ),
            h(
              'tbody',
              null,
              rows.map((s) => {
                const u = s.usage;
                return h(
                  'tr',
                  { dataset: { id: s.id }, class: focus === s.id ? 'focus' : '' },
                  h('td', null, h('div', { class: 'sname' }, s.name || s.id), h('div', { class: 'id' }, s.id)),
                  h('td', null, h('span', { class: ['sstatus', `ss-${s.status}`] }, s.status), s.reason ? h('div', { class: 'muted' }, s.reason) : null),
                  h('td', null, s.role),
                  h('td', null, s.agent ?? ''),
                  h(
                    'td',
                    null,
                    (s.taskIds ?? []).map((id) => h('div', null, h('a', { href: `#/task/${encodeURIComponent(id)}` }, m.tasks.get(id)?.title ?? id))),
                  ),
                  h('td', { title: when(s.lastSeen) }, ago(s.lastSeen)),
                  withUsage
                    ? [
                        h('td', { class: 'num' }, count(u?.inputTokens)),
                        h('td', { class: 'num' }, count(u?.outputTokens)),
                        h('td', { class: 'num' }, count(u?.cachedInputTokens)),
                        h('td', { class: 'num' }, usd(u?.costUsd)),
                        h('td', { class: 'num' }, count(u?.turns)),
                      ]
                    : null,
                  withTree ? h('td', null, worktreeText(s.worktree)) : null,
                );
              }),
            ),
          )
        : h('p', { class: 'empty' }, all.length ? 'No session matches.' : 'No sessions yet. Spawn a worker, or run an agent with maestro session register.'),
    );
  }
}

function worktreeText(w) {
  if (!w) return '';
  if (typeof w === 'string') return w;
  return [w.branch, w.path].filter(Boolean).join(' · ');
}
