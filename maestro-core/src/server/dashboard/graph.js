// The dependency graph of the project, laid out by layout.js and drawn as SVG.

import { h, s } from './dom.js';
import { STATUS_LABEL } from './format.js';
import { edgePath, layout } from './layout.js';

/** A title cut to what fits a box (about 7 px a character at 12 px). */
function fit(text, chars) {
  return text.length > chars ? `${text.slice(0, chars - 1)}\u2026` : text;
}

export class GraphView {
  constructor(model, ui) {
    this.model = model;
    this.ui = ui;
    this.zoom = 1;
    this.sig = '';
    this.lay = null;
    this.svg = null;
    this.scroll = h('div', { class: 'graph-scroll', id: 'graph' });
    const zoomBy = (f) => () => {
      this.zoom = Math.min(3, Math.max(0.2, f === 0 ? this.fitZoom() : this.zoom * f));
      this.applyZoom();
    };
    this.el = h(
      'div',
      { class: 'graph-view' },
      h(
        'div',
        { class: 'view-head' },
        h('h1', null, 'Dependency graph'),
        h('button', { type: 'button', onclick: zoomBy(1 / 1.25), title: 'Zoom out' }, '\u2212'),
        h('button', { type: 'button', onclick: zoomBy(1.25), title: 'Zoom in' }, '+'),
        h('button', { type: 'button', onclick: zoomBy(0), title: 'Fit the width' }, 'Fit'),
        h('span', { class: 'legend' }, ['pending', 'in_progress', 'blocked', 'completed', 'cancelled'].map((st) => h('span', { class: ['key', `st-${st}`] }, STATUS_LABEL[st]))),
        (this.info = h('span', { class: 'counts' })),
      ),
      this.scroll,
    );
  }

  fitZoom() {
    if (!this.lay) return 1;
    return Math.min(1, (this.scroll.clientWidth - 8) / this.lay.width);
  }

  applyZoom() {
    if (!this.svg || !this.lay) return;
    this.svg.setAttribute('width', String(Math.ceil(this.lay.width * this.zoom)));
    this.svg.setAttribute('height', String(Math.ceil(this.lay.height * this.zoom)));
  }

  render() {
    const m = this.model;
    const tasks = [...m.tasks.values()];
    // Lay out again only when what the layout reads changed.
    const sig = tasks.map((t) => `${t.id}:${t.status}:${t.version}`).join(',');
    if (sig !== this.sig || !this.svg) {
      this.sig = sig;
      this.draw(tasks);
    }
    this.highlight();
  }

  draw(tasks) {
    const lay = layout(tasks);
    this.lay = lay;
    const o = { nodeW: 200 };
    const chars = Math.floor((o.nodeW - 16) / 7);
    const edges = s(
      'g',
      { class: 'edges' },
      lay.edges.map((e) => s('path', { d: edgePath(e.points), class: `e-${this.model.tasks.get(e.from)?.status}`, dataset: { from: e.from, to: e.to } })),
    );
    const nodes = s(
      'g',
      { class: 'nodes' },
      lay.nodes.map((n) =>
        s(
          'a',
          { href: `#/task/${encodeURIComponent(n.id)}`, class: ['node', `st-${n.task.status}`], dataset: { id: n.id } },
          s('title', null, `${n.task.title} (${STATUS_LABEL[n.task.status] ?? n.task.status})`),
          s('rect', { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }),
          s('text', { x: n.x + 8, y: n.y + 18, class: 't' }, fit(n.task.title, chars)),
          s('text', { x: n.x + 8, y: n.y + 34, class: 'm' }, `${n.id} · ${n.task.priority}`),
        ),
      ),
    );
    this.svg = s(
      'svg',
      { class: 'graph', viewBox: `0 0 ${lay.width} ${lay.height}`, role: 'img', 'aria-label': 'Dependency graph' },
      s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto' }, s('path', { d: 'M0,0 L8,4 L0,8 z' }))),
      edges,
      nodes,
    );
    this.svg.addEventListener('mouseover', (ev) => this.hover(ev.target.closest?.('.node')?.dataset.id));
    this.svg.addEventListener('mouseout', () => this.hover(null));
    // The first drawing fits the width, unless the boxes would get too small to read.
    if (!this.zoomed) {
      this.zoomed = true;
      this.zoom = Math.max(0.6, this.fitZoom());
    }
    this.applyZoom();
    this.scroll.replaceChildren(
      tasks.length ? this.svg : h('p', { class: 'empty' }, 'No tasks in this project yet.'),
    );
    this.info.textContent = `${lay.nodes.length} tasks, ${lay.edges.length} dependencies`;
  }

  /** Tasks that do not pass the filters are dimmed, so the structure stays. */
  highlight() {
    if (!this.svg) return;
    const m = this.model;
    for (const g of this.svg.querySelectorAll('.node')) {
      const t = m.tasks.get(g.dataset.id);
      g.classList.toggle('dim', !t || !m.matches(t, this.ui.filter));
    }
  }

  hover(id) {
    if (!this.svg) return;
    for (const p of this.svg.querySelectorAll('.edges path')) {
      p.classList.toggle('hl', Boolean(id) && (p.dataset.from === id || p.dataset.to === id));
    }
  }
}
