// A small SVG line chart for the Overview: a few series over time, the
// largest value on the axis, a legend. Hand-written (about 80 lines)
// rather than a charting library: the dashboard has no build step and
// needs nothing more.

const NS = 'http://www.w3.org/2000/svg';
const W = 480, H = 150, PAD_L = 44, PAD_B = 18, PAD_T = 8;

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

function short(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  return n >= 10 || n === 0 ? String(Math.round(n)) : n.toFixed(1);
}

/**
 * lineChart draws series [{name, points: [[t ms, value]]}] into an SVG
 * element and returns it, with a legend under it.
 */
export function lineChart(title, series, unit = '') {
  const box = document.createElement('figure');
  box.className = 'chart';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  box.append(cap);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  const all = series.flatMap((s) => s.points);
  const t1 = all.length ? Math.max(...all.map((p) => p[0])) : Date.now();
  const t0 = Math.min(all.length ? Math.min(...all.map((p) => p[0])) : t1, t1 - 30000); // at least 30 s wide
  const vmax = Math.max(...all.map((p) => p[1]), 1);
  const x = (t) => PAD_L + ((t - t0) / (t1 - t0)) * (W - PAD_L - 4);
  const y = (v) => PAD_T + (1 - v / vmax) * (H - PAD_T - PAD_B);
  for (const f of [0, 0.5, 1]) {
    const yy = y(vmax * f);
    root.append(svg('line', { x1: PAD_L, x2: W - 4, y1: yy, y2: yy, class: 'grid' }));
    const label = svg('text', { x: PAD_L - 6, y: yy + 4, class: 'axis', 'text-anchor': 'end' });
    label.textContent = short(vmax * f) + unit;
    root.append(label);
  }
  const span = svg('text', { x: W - 4, y: H - 4, class: 'axis', 'text-anchor': 'end' });
  span.textContent = `last ${Math.max(1, Math.round((t1 - t0) / 60000))} min`;
  root.append(span);
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
    root.append(svg('path', { d, class: `line s${i % 6}` }));
  });
  box.append(root);
  const legend = document.createElement('div');
  legend.className = 'legend';
  series.forEach((s, i) => {
    const item = document.createElement('span');
    item.className = `key s${i % 6}`;
    const last = s.points.length ? s.points[s.points.length - 1][1] : 0;
    item.textContent = `${s.name} ${short(last)}${unit}`;
    legend.append(item);
  });
  box.append(legend);
  return box;
}
