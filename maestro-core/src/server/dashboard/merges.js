// The merge queues: for each target branch, its tasks in the order they merge, what each
// merge came to, and the step a running merge is at, live.

import { fill, h } from './dom.js';
import { ago, mergeStateText, mergeStepText, when } from './format.js';
import { isPendingMerge } from './model.js';

export class MergesView {
  constructor(model) {
    this.model = model;
    this.el = h('div', { class: 'merges-view', id: 'merges-view' });
  }

  render() {
    const m = this.model;
    // Queues with work waiting first, then by name.
    const queues = [...m.merges.values()].sort(
      (a, b) => Number(!a.entries.some(isPendingMerge)) - Number(!b.entries.some(isPendingMerge)) || a.target.localeCompare(b.target),
    );
    const entries = queues.flatMap((q) => q.entries);
    const pending = entries.filter(isPendingMerge).length;
    const merged = entries.filter((e) => e.state === 'merged').length;
    fill(
      this.el,
      h(
        'div',
        { class: 'view-head' },
        h('h1', null, 'Merges'),
        h('span', { class: 'counts', id: 'merge-counts' }, `${pending} to merge · ${merged} merged · ${entries.length - pending - merged} stopped`),
      ),
      queues.length
        ? queues.map((q) => this.queue(q))
        : h('p', { class: 'empty' }, 'No merges yet. A completed task joins its queue with maestro merge <task>, or when its host finishes it (config merge.auto).'),
    );
  }

  queue(q) {
    const m = this.model;
    let position = 0;
    return h(
      'section',
      { class: 'queue', dataset: { target: q.target } },
      h('h2', null, 'into ', h('code', null, q.target)),
      q.entries.length
        ? h(
            'table',
            { class: 'sessions merges' },
            h('thead', null, h('tr', null, ['#', 'Task', 'Branch', 'State', 'Runs'].map((c) => h('th', null, c)))),
            h(
              'tbody',
              null,
              q.entries.map((e) => {
                const live = isPendingMerge(e);
                if (live) position += 1;
                const step = e.state === 'merging' ? m.mergeSteps.get(e.taskId) : null;
                const title = m.tasks.get(e.taskId)?.title ?? e.title ?? e.taskId;
                return h(
                  'tr',
                  { dataset: { task: e.taskId, state: e.state } },
                  h('td', { class: 'num' }, live ? String(position) : ''),
                  h('td', null, h('a', { href: `#/task/${encodeURIComponent(e.taskId)}` }, title), h('div', { class: 'id' }, e.taskId)),
                  h('td', null, h('code', null, e.branch)),
                  h(
                    'td',
                    null,
                    h('span', { class: ['mstate', `ms-${e.state}`] }, e.state.replace('_', ' ')),
                    h('div', { class: 'mtext' }, mergeStateText(e)),
                    e.state === 'merging' && e.startedAt ? started(new Date(e.startedAt).toISOString()) : null,
                    step ? h('div', { class: 'mstep' }, mergeStepText(step.step)) : null,
                    e.state === 'gate_failed' && e.tail ? h('details', null, h('summary', null, "The gate's output"), h('pre', { class: 'tail' }, e.tail)) : null,
                  ),
                  h('td', { class: 'num' }, String(e.runs ?? 0)),
                );
              }),
            ),
          )
        : h('p', { class: 'empty' }, 'Nothing queued.'),
    );
  }
}

function started(iso) {
  return h('div', { class: 'muted', title: when(iso) }, `started ${ago(iso)}`);
}
