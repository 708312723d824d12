// Cluster: the nodes as this node sees them (GET /api/v1/cluster), their
// routes, the embedded NATS routes, QoS 1/2 messages waiting for other
// nodes, and JetStream's health.

import { h, fill, table, fmt, every } from '../lib/dom.js';

export default {
  id: 'cluster',
  title: 'Cluster',
  order: 80,
  requires: ['GET /api/v1/cluster'],
  async render(root, { api }) {
    const box = h('div#cluster-view');
    root.append(box);
    return every(5000, async () => {
      const c = await api.get('/api/v1/cluster');
      if (!c.enabled) {
        fill(box, h('div.card', h('h2', 'Single node'),
          h('p.muted', `This hub (${c.name || 'this node'}) runs alone: no cluster is configured. See docs/cluster.md to join nodes.`)));
        return;
      }
      const js = c.jetstream || {};
      fill(box,
        h('div.cards',
          h('div.card.stat', h('div.value', fmt((c.nodes || []).length)), h('div.label', 'Nodes')),
          h('div.card.stat', h('div.value', fmt(c.nats_routes)), h('div.label', 'NATS routes')),
          h('div.card.stat', h('div.value', fmt(c.pending_forwards)), h('div.label', 'Pending forwards')),
          h('div.card.stat', h('div.value', js.enabled ? (js.healthy ? 'healthy' : 'unhealthy') : 'off'), h('div.label', 'JetStream'))),
        table([
          { title: 'Node', get: (n) => [h('strong', n.name), n.self ? ' (this node)' : ''] },
          { title: 'State', get: (n) => h('span.badge' + (n.state === 'up' ? '.ok' : '.bad'), n.state) },
          { title: 'Routes', get: (n) => fmt(n.routes), cls: 'num' },
        ], c.nodes || [], { rowData: (n) => ({ node: n.name }) }),
        js.enabled ? h('p.muted', `JetStream meta leader ${js.meta_leader || '–'}, ${js.peers ?? '–'} peers${js.error ? ' · ' + js.error : ''}`) : null);
    });
  },
};
