// Small DOM helpers: no framework, no inline HTML from data (everything
// goes through textContent, so a payload or a client id cannot inject
// markup).

/** h builds an element: h('button.primary#id', {onclick, dataset...}, ...children). */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear empties an element and fills it with children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** table builds a table: columns [{title, get(row) → node|string, cls}], rows. */
export function table(columns, rows, opts = {}) {
  const head = h('tr', columns.map((c) => h('th', { class: c.cls }, c.title)));
  const body = rows.map((r) => {
    const tr = h('tr', columns.map((c) => h('td', { class: c.cls }, c.get(r))));
    if (opts.rowData) Object.assign(tr.dataset, opts.rowData(r));
    if (opts.onclick) { tr.classList.add('clickable'); tr.addEventListener('click', () => opts.onclick(r, tr)); }
    return tr;
  });
  if (rows.length === 0) body.push(h('tr', h('td.empty', { colSpan: columns.length }, opts.empty || 'Nothing here.')));
  return h('table.grid', h('thead', head), h('tbody', body));
}

/** toast shows a short message at the bottom of the window. */
export function toast(text, kind = 'ok') {
  const t = h('div.toast.' + kind, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/**
 * confirmButton is a button that acts on the second click within 4 s. It
 * changes something, so a viewer does not see it (class change).
 */
export function confirmButton(label, confirmLabel, action, attrs = {}) {
  let armed = null;
  const b = h('button.danger.change', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async (ev) => {
    ev.stopPropagation();
    if (!armed) {
      b.textContent = confirmLabel;
      b.classList.add('armed');
      armed = setTimeout(() => { armed = null; b.textContent = label; b.classList.remove('armed'); }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    try { await action(); } finally { b.disabled = false; b.textContent = label; b.classList.remove('armed'); }
  });
  return b;
}

/** field is a labelled input. */
export function field(label, input) {
  return h('label.field', h('span', label), input);
}

/** fmt formats numbers compactly. */
export function fmt(n, digits = 0) {
  if (n == null || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Number(n).toFixed(digits);
}

/** ago formats a time as "12s ago". */
export function ago(t) {
  if (!t) return '–';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.round(s / 60) + 'm ago';
  if (s < 86400) return Math.round(s / 3600) + 'h ago';
  return Math.round(s / 86400) + 'd ago';
}

/** every runs fn now and every ms until the returned stop is called. */
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    try { await fn(); } catch (e) { if (!stopped) console.warn(e); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}
