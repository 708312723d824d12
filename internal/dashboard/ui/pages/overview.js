// Overview: the hub's numbers and live charts from the hub's own short
// history (GET /api/v1/node/history), so it works without Prometheus.

import { h, fill, fmt, every } from '../lib/dom.js';
import { lineChart } from '../lib/chart.js';

function stat(label, value, id) {
  return h('div.card.stat', { dataset: { stat: id } }, h('div.value', fmt(value)), h('div.label', label));
}

function series(points, names, pick) {
  return names.map(([key, name]) => ({ name, points: points.map((p) => [Date.parse(p.t), pick(p, key) || 0]) }));
}

export default {
  id: 'overview',
  title: 'Overview',
  order: 10,
  requires: ['GET /api/v1/node/history'],
  async render(root, { api }) {
    const cards = h('div.cards');
    const charts = h('div.grid2');
    const nodeBox = h('div.card');
    root.append(cards, charts, h('h2', 'Node'), nodeBox);
    return every(5000, async () => {
      const [st, hist, node, cluster] = await Promise.all([
        api.get('/api/v1/node/stats'), api.get('/api/v1/node/history'), api.get('/api/v1/node'),
        api.get('/api/v1/cluster').catch(() => null), // a hub without the cluster API
      ]);
      const dropped = Object.values(st.dropped || {}).reduce((a, b) => a + b, 0);
      fill(cards,
        stat('Connections', st.connections, 'connections'), stat('Sessions', st.sessions, 'sessions'),
        stat('Subscriptions', st.subscriptions, 'subscriptions'), stat('Retained', st.retained, 'retained'),
        stat('Messages in', st.messages_in, 'messages_in'), stat('Messages out', st.messages_out, 'messages_out'),
        stat('Queued', st.queued, 'queued'), stat('Dropped', dropped, 'dropped'));
      const pts = hist.points || [];
      // Only the reasons that dropped something in the window.
      const dropKeys = [...new Set(pts.flatMap((p) => Object.entries(p.rates || {}).filter(([k, v]) => k.startsWith('dropped.') && v > 0).map(([k]) => k)))]
        .map((k) => [k, k.slice(8)]);
      const rate = (p, k) => (p.rates || {})[k];
      fill(charts,
        h('div.card', lineChart('Connections and sessions', series(pts, [['connections', 'connections'], ['sessions', 'sessions'], ['subscriptions', 'subscriptions']], (p, k) => p.gauges[k]))),
        h('div.card', lineChart('Messages per second', series(pts, [['messages_in', 'in'], ['messages_out', 'out (deliveries)'], ['rules_matched', 'rules matched']], rate), '/s')),
        h('div.card', lineChart('Drops per second, by reason', dropKeys.length ? series(pts, dropKeys, rate) : [{ name: 'none', points: pts.map((p) => [Date.parse(p.t), 0]) }], '/s')),
        h('div.card', lineChart('Bridge throughput', series(pts, [['bridge_sent', 'sent'], ['bridge_failed', 'failed'], ['bridge_received', 'received']], rate), '/s')));
      fill(nodeBox, h('dl.props',
        h('dt', 'Name'), h('dd', node.name), h('dt', 'Version'), h('dd', `${node.version} (${node.go_version})`),
        h('dt', 'Started'), h('dd', new Date(node.started_at).toLocaleString()),
        h('dt', 'Uptime'), h('dd', `${Math.floor(node.uptime_seconds / 3600)}h ${Math.floor(node.uptime_seconds / 60) % 60}m`),
        h('dt', 'Parked connections'), h('dd', fmt(st.parked_connections)),
        h('dt', 'Bytes in / out'), h('dd', `${fmt(st.bytes_in)} / ${fmt(st.bytes_out)}`),
        h('dt', 'Cluster'), h('dd', !cluster || !cluster.enabled ? 'single node'
          : h('a', { href: '#/cluster' }, `${(cluster.nodes || []).length} nodes, ${(cluster.nodes || []).filter((n) => n.state === 'up').length} up`))));
    });
  },
};
