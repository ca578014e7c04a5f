// A layered layout of the dependency graph (dependencies left, dependents right). Pure.
//
// 1. Layers: a task sits one layer right of its furthest dependency (longest path).
// 2. An edge that spans several layers gets a waypoint in each layer it crosses, so it is
//    routed between the boxes instead of through them.
// 3. Order within a layer: barycenter sweeps (each node moves to the mean position of its
//    neighbours in the previous layer, then the next), which removes most crossings.
// 4. A layer taller than `maxRows` boxes wraps into several columns, so 200 independent
//    tasks make a readable grid rather than one very tall column.

export const DEFAULT_OPTIONS = Object.freeze({
  nodeW: 200,
  nodeH: 44,
  gapX: 70, // between the columns of two layers
  wrapGapX: 24, // between the wrapped columns of one layer
  gapY: 12,
  pointH: 8, // the height a waypoint takes in its layer
  maxRows: 24,
  sweeps: 6,
  margin: 16,
});

/**
 * `tasks`: [{id, dependencies}] (other fields are carried through). Dependencies on tasks
 * not in the list are left out; a cycle (never stored, but tolerated) is broken.
 * Returns {nodes: [{id, x, y, w, h, layer, task}], edges: [{from, to, points: [[x, y], …]}],
 * width, height}.
 */
export function layout(tasks, options = {}) {
  const o = { ...DEFAULT_OPTIONS, ...options };
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const deps = new Map(
    tasks.map((t) => [t.id, [...new Set((t.dependencies ?? []).filter((d) => d !== t.id && byId.has(d)))]]),
  );
  const layer = assignLayers(tasks, deps);

  // Vertices: tasks and waypoints; `up`/`down` are the neighbours one layer left/right.
  const verts = new Map();
  const vert = (id, l, task) => {
    const v = { id, layer: l, task, up: [], down: [], pos: 0 };
    verts.set(id, v);
    return v;
  };
  for (const t of tasks) vert(t.id, layer.get(t.id), t);
  const chains = [];
  for (const t of tasks) {
    for (const d of deps.get(t.id)) {
      const from = layer.get(d);
      const to = layer.get(t.id);
      if (from >= to) continue; // a broken cycle's back edge
      const chain = [d];
      for (let l = from + 1; l < to; l++) {
        const id = `${d}\u2192${t.id}@${l}`;
        vert(id, l, null);
        chain.push(id);
      }
      chain.push(t.id);
      for (let i = 1; i < chain.length; i++) {
        verts.get(chain[i - 1]).down.push(verts.get(chain[i]));
        verts.get(chain[i]).up.push(verts.get(chain[i - 1]));
      }
      chains.push({ from: d, to: t.id, chain });
    }
  }

  const layers = [];
  for (const v of verts.values()) (layers[v.layer] ??= []).push(v);
  const rank = { in_progress: 0, blocked: 1, pending: 2, completed: 3, cancelled: 4 };
  for (const l of layers) {
    l.sort((a, b) => key(a, rank).localeCompare(key(b, rank)));
    l.forEach((v, i) => (v.pos = i));
  }
  for (let s = 0; s < o.sweeps; s++) {
    const down = s % 2 === 0;
    const seq = down ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const l of seq) {
      for (const v of l) {
        const ns = down ? v.up : v.down;
        v.bary = ns.length ? ns.reduce((a, n) => a + n.pos, 0) / ns.length : v.pos;
      }
      l.sort((a, b) => a.bary - b.bary || a.pos - b.pos);
      l.forEach((v, i) => (v.pos = i));
    }
  }

  // Coordinates: each layer is one or more columns of at most maxRows slots.
  let x = o.margin;
  let height = 0;
  for (const l of layers) {
    const cols = Math.max(1, Math.ceil(l.filter((v) => v.task).length / o.maxRows));
    const perCol = Math.ceil(l.length / cols);
    for (let c = 0; c < cols; c++) {
      let y = o.margin;
      for (const v of l.slice(c * perCol, (c + 1) * perCol)) {
        v.x = x;
        v.w = v.task ? o.nodeW : 0;
        v.h = v.task ? o.nodeH : o.pointH;
        v.y = y;
        y += v.h + o.gapY;
        if (!v.task) v.x = x + o.nodeW / 2;
      }
      height = Math.max(height, y);
      x += o.nodeW + (c < cols - 1 ? o.wrapGapX : o.gapX);
    }
  }
  const nodes = [...verts.values()]
    .filter((v) => v.task)
    .map((v) => ({ id: v.id, x: v.x, y: v.y, w: v.w, h: v.h, layer: v.layer, task: v.task }));
  const edges = chains.map(({ from, to, chain }) => {
    const points = chain.map((id, i) => {
      const v = verts.get(id);
      const cy = v.y + v.h / 2;
      if (!v.task) return [v.x, cy];
      return i === 0 ? [v.x + v.w, cy] : [v.x, cy];
    });
    return { from, to, points };
  });
  return { nodes, edges, width: x - o.gapX + o.margin, height: height - o.gapY + o.margin };
}

function key(v, rank) {
  const t = v.task;
  if (!t) return `9 ${v.id}`;
  return `${rank[t.status] ?? 5} ${t.createdAt ?? ''} ${t.id}`;
}

/** Longest-path layers, iteratively (no recursion limit); a cycle is cut where it closes. */
function assignLayers(tasks, deps) {
  const layer = new Map();
  const onStack = new Set();
  for (const t of tasks) {
    if (layer.has(t.id)) continue;
    const stack = [[t.id, 0]];
    onStack.add(t.id);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, i] = top;
      const ds = deps.get(id);
      if (i < ds.length) {
        top[1] += 1;
        const d = ds[i];
        if (!layer.has(d) && !onStack.has(d)) {
          onStack.add(d);
          stack.push([d, 0]);
        }
        continue;
      }
      let l = 0;
      for (const d of ds) if (layer.has(d)) l = Math.max(l, layer.get(d) + 1);
      layer.set(id, l);
      onStack.delete(id);
      stack.pop();
    }
  }
  return layer;
}

/** An SVG path through `points` with horizontal tangents: smooth left-to-right curves. */
export function edgePath(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const dx = (x1 - x0) / 2;
    d += ` C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
  }
  return d;
}
