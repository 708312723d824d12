// Topics: the topic tree with message rates (GET /api/v1/topics, counted
// while this page is open), retained messages under the selected level
// (view, delete), and the subscriptions matching a topic.

import { h, fill, table, field, fmt, ago, every, confirmButton } from '../lib/dom.js';

export default {
  id: 'topics',
  title: 'Topics',
  order: 30,
  requires: ['GET /api/v1/topics', 'GET /api/v1/retained'],
  async render(root, { api, params, navigate, toast }) {
    const parent = params.get('parent') || '';
    const crumbs = h('div.crumbs');
    const tree = h('div#topic-tree');
    const since = h('p.muted');
    const retained = h('div#retained-list');
    const subsOut = h('div#subscriptions-list');
    const subTopic = h('input#subs-topic', { placeholder: 'a topic name (empty: all)', size: 30 });
    const viewer = h('div');
    root.append(h('div.split',
      h('div.card', h('h2', 'Topic tree'), crumbs, tree, since),
      h('div.stack',
        h('div.card', h('h2', `Retained messages under ${parent || 'all topics'}`), retained, viewer),
        h('div.card', h('h2', 'Subscriptions'),
          h('form.toolbar', { onsubmit: (ev) => { ev.preventDefault(); loadSubs(); } }, field('Matching topic', subTopic), h('button', { type: 'submit' }, 'Show')),
          subsOut))));

    const levels = parent ? parent.split('/') : [];
    fill(crumbs, h('button', { type: 'button', onclick: () => navigate('topics') }, '(root)'),
      levels.map((name, i) => ['/', h('button', { type: 'button', onclick: () => navigate('topics', { parent: levels.slice(0, i + 1).join('/') }) }, name || '(empty)')]));

    async function loadRetained() {
      const filter = parent ? `${parent}/#` : '#';
      const data = await api.get('/api/v1/retained' + api.qs({ filter, limit: 100 }));
      const rows = data.data; // "a/#" matches "a" too
      fill(retained, table([
        { title: 'Topic', get: (m) => h('code', m.topic) },
        { title: 'QoS', get: (m) => m.qos, cls: 'num' },
        { title: 'Received', get: (m) => ago(m.received_at) },
        { title: '', get: (m) => h('div.actions',
          h('button', { type: 'button', onclick: () => fill(viewer, h('h2', m.topic), h('pre', m.payload_encoding === 'base64' ? `(base64) ${m.payload}` : m.payload)) }, 'View'),
          confirmButton('Delete', 'Click again', async () => {
            try {
              await api.del(`/api/v1/retained/${m.topic.split('/').map(api.enc).join('/')}`);
              toast(`retained message on ${m.topic} deleted`);
            } catch (e) { toast(e.message, 'error'); }
            await loadRetained();
          })) },
      ], rows, { empty: 'No retained message here.', rowData: (m) => ({ topic: m.topic }) }));
      if (data.meta.next_cursor) retained.append(h('p.muted', 'First 100 shown: choose a deeper level to see more.'));
    }

    async function loadSubs() {
      const data = await api.get('/api/v1/subscriptions' + api.qs({ topic: subTopic.value.trim(), limit: 100 }));
      fill(subsOut, table([
        { title: 'Client', get: (s) => h('a', { href: `#/clients?search=${encodeURIComponent(s.client_id)}&id=${encodeURIComponent(s.client_id)}` }, s.client_id) },
        { title: 'Filter', get: (s) => h('code', s.filter) },
        { title: 'QoS', get: (s) => s.qos, cls: 'num' },
      ], data.data, { empty: 'No subscription.' }));
    }

    await Promise.all([loadRetained(), loadSubs()]).catch((e) => toast(e.message, 'error'));
    return every(5000, async () => {
      const data = await api.get('/api/v1/topics' + api.qs({ parent }));
      fill(tree, table([
        { title: 'Level', get: (n) => h('code', n.name === '' ? '(empty)' : n.name) },
        { title: 'Messages', get: (n) => fmt(n.messages), cls: 'num' },
        { title: 'Rate', get: (n) => `${n.rate.toFixed(1)}/s`, cls: 'num' },
        { title: 'Sub-levels', get: (n) => (n.children ? fmt(n.children) : '–'), cls: 'num' },
      ], data.data, {
        rowData: (n) => ({ topic: n.topic }),
        onclick: (n) => navigate('topics', { parent: n.topic }),
        empty: 'No message seen here since the tree started counting.',
      }));
      fill(since, `Counting messages since ${new Date(data.since).toLocaleTimeString()} (the hub counts while this page is open).`,
        data.capped ? ' The tree is at its size limit: newer topics count at their parent level.' : '');
    });
  },
};
