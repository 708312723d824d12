// Upstream: this hub as an edge — the link to its centre (state, since,
// last error, connects), the backlog and its oldest message's age, rate,
// sent/resends/expired/refused, drops by reason, per stream — and as a
// centre, the edges' resends it dropped and the commands it relayed
// (GET /api/v1/upstream; docs/edge.md).

import { h, fill, table, fmt, ago, every } from '../lib/dom.js';

/** drops sums and lists drops by reason ("–" when none). */
function drops(d) {
  const e = Object.entries(d || {}).filter(([, n]) => n > 0);
  return e.length ? e.map(([k, n]) => `${k} ${fmt(n)}`).join(', ') : '0';
}

function age(s) {
  if (s == null) return '–';
  return s < 1 ? '0s' : s < 120 ? `${Math.round(s)}s` : `${Math.round(s / 60)}m`;
}

function stat(id, value, label) {
  return h('div.card.stat', { dataset: { stat: id } }, h('div.value', value), h('div.label', label));
}

function edgeView(e) {
  if (!e) {
    return h('div.card#upstream-edge', h('h2', 'Not an edge'),
      h('p.muted', 'This hub sends nothing upstream: no upstream.url is configured. See docs/edge.md to link it to a centre.'));
  }
  const link = e.link || {};
  const cls = link.state === 'connected' ? '.ok' : link.state === 'stopped' ? '' : '.bad';
  return h('div#upstream-edge',
    h('div.cards',
      stat('link', h('span.badge' + cls, link.state || '–'), `Link to ${e.url || 'the centre'}`),
      stat('backlog', fmt(e.backlog_messages), `Backlog (${fmt(e.backlog_bytes)} bytes)`),
      stat('oldest', age(e.oldest_backlog_age_seconds), 'Oldest in backlog'),
      stat('rate', `${fmt(e.rate, 1)}/s`, 'Acknowledged'),
      stat('sent', fmt(e.sent), 'Sent')),
    h('div.card',
      h('h2', `Edge ${e.origin || ''}`),
      h('dl.props',
        h('dt', 'State since'), h('dd', ago(link.since)),
        h('dt', 'Connects'), h('dd', fmt(link.connects)),
        h('dt', 'Last error'), h('dd', link.last_error ? h('span.error', link.last_error) : '–'),
        h('dt', 'Resends'), h('dd', fmt(e.resends)),
        h('dt', 'Expired / refused'), h('dd', `${fmt(e.expired)} / ${fmt(e.refused)}`),
        h('dt', 'Dropped'), h('dd', drops(e.dropped))),
      h('h2', 'Streams'),
      table([
        { title: 'Stream', get: (s) => [h('strong', s.name), s.priority ? ` (priority ${s.priority})` : ''] },
        { title: 'Forward', get: (s) => (s.forward || []).map((f) => [h('code', f), ' ']) },
        { title: 'Backlog', get: (s) => fmt(s.backlog_messages), cls: 'num' },
        { title: 'Oldest', get: (s) => age(s.oldest_backlog_age_seconds), cls: 'num' },
        { title: 'Sent', get: (s) => fmt(s.sent), cls: 'num' },
        { title: 'Resends', get: (s) => fmt(s.resends), cls: 'num' },
        { title: 'Dropped', get: (s) => drops(s.dropped) },
      ], e.streams || [], { rowData: (s) => ({ stream: s.name }), empty: 'No stream.' })));
}

function centreView(c) {
  const d = (c && c.dedup) || {};
  const r = c && c.relay;
  return h('div.card#upstream-centre', h('h2', 'As a centre'),
    h('dl.props',
      h('dt', 'Edges seen'), h('dd', fmt(d.origins)),
      h('dt', 'Edge messages checked'), h('dd', fmt(d.checked)),
      h('dt', 'Resends dropped'), h('dd', fmt(d.hits)),
      h('dt', 'Commands relayed'), h('dd', r ? `${fmt(r.relayed)} (answered ${fmt(r.answered)}, unclaimed ${fmt(r.unclaimed)}, timed out ${fmt(r.timeouts)})` : 'off')));
}

export default {
  id: 'upstream',
  title: 'Upstream',
  order: 75,
  requires: ['GET /api/v1/upstream'],
  async render(root, { api }) {
    const box = h('div#upstream-view');
    root.append(box);
    return every(5000, async () => {
      let u;
      try {
        u = await api.get('/api/v1/upstream');
      } catch (e) {
        fill(box, h('p.error', e.message));
        return;
      }
      fill(box, edgeView(u.edge), centreView(u.centre));
    });
  },
};
