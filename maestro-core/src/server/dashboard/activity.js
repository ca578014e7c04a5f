// The activity feed: every event of the project as it arrives, newest first, with its seq.

import { h } from './dom.js';
import { ago, when } from './format.js';

const SHOWN = 500;

export class ActivityView {
  constructor(model) {
    this.model = model;
    this.list = h('ol', { class: 'feed', id: 'feed' });
    this.lastSeq = null;
    this.el = h(
      'div',
      { class: 'activity-view' },
      h('div', { class: 'view-head' }, h('h1', null, 'Activity'), h('span', { class: 'counts' }, 'Every change, live, in order')),
      this.list,
    );
  }

  row(e) {
    return h(
      'li',
      { dataset: { seq: String(e.seq) } },
      h('span', { class: 'seq' }, `#${e.seq}`),
      h('time', { datetime: e.ts, title: when(e.ts) }, ago(e.ts)),
      h('span', { class: ['etype', `et-${e.type.split(':')[0]}`] }, e.type),
      e.taskId ? h('a', { href: `#/task/${encodeURIComponent(e.taskId)}` }, e.text) : h('span', null, e.text),
    );
  }

  /** Adds the entries newer than the last shown one; `full` rebuilds the list. */
  render(full = false) {
    const feed = this.model.feed;
    if (full || this.lastSeq === null || this.list.querySelector('.empty')) {
      this.list.replaceChildren(...feed.slice(-SHOWN).reverse().map((e) => this.row(e)));
    } else {
      let i = feed.length;
      while (i > 0 && feed[i - 1].seq > this.lastSeq) i--;
      const fresh = feed.slice(Math.max(i, feed.length - SHOWN)).reverse().map((e) => this.row(e));
      if (fresh.length) this.list.prepend(...fresh);
      while (this.list.childElementCount > SHOWN) this.list.lastElementChild.remove();
    }
    this.lastSeq = feed.length ? feed[feed.length - 1].seq : this.lastSeq;
    if (!feed.length) this.list.replaceChildren(h('li', { class: 'empty' }, 'Nothing has happened since the page loaded.'));
  }
}
