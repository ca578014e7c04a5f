// Building DOM nodes without HTML strings: every text goes in as a text node, so a title
// like `<img src=x onerror=alert(1)>` shows as those characters and never becomes markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on')) {
        // Handlers are functions; a string would be inline script, which is never set.
        if (typeof v === 'function') el.addEventListener(k.slice(2), v);
      }
      else if (k === 'value' && 'value' in el) el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = Boolean(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** An HTML element: `h('a', {href: '#/'}, 'Board')`. Strings become text nodes. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/**
 * Makes `nodes` the children of `el`, in order, touching only what differs: children not in
 * `nodes` are removed and nodes out of place are moved, so one changed card among a thousand
 * costs one removal and one insertion, not a thousand.
 */
export function setChildren(el, nodes) {
  const want = new Set(nodes);
  let cur = el.firstChild;
  for (const n of nodes) {
    while (cur && !want.has(cur)) {
      const next = cur.nextSibling;
      cur.remove();
      cur = next;
    }
    if (n === cur) cur = cur.nextSibling;
    else el.insertBefore(n, cur);
  }
  while (cur) {
    const next = cur.nextSibling;
    cur.remove();
    cur = next;
  }
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

/** Replaces the children of `el` with `children` (arrays flattened, null and false left out). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
