// Bridges: state, last error, backlog in memory and on disk, throughput
// (from two readings of the counters), enable/disable.

import { h, fill, table, fmt, ago, every } from '../lib/dom.js';

export default {
  id: 'bridges',
  title: 'Bridges',
  order: 60,
  requires: ['GET /api/v1/bridges'],
  async render(root, { api, toast }) {
    const list = h('div#bridges-list');
    root.append(list);
    const prev = new Map(); // name → {t, sent}
    async function load() {
      const data = await api.get('/api/v1/bridges');
      const rows = await Promise.all(data.data.map(async (b) => {
        const m = await api.get(`/api/v1/bridges/${api.enc(b.name)}/metrics`).catch(() => null) || {};
        const done = m.sent ?? m.published ?? 0;
        const now = Date.now();
        const p = prev.get(b.name);
        prev.set(b.name, { t: now, done });
        return { b, m, rate: p && now > p.t ? ((done - p.done) * 1000) / (now - p.t) : null };
      }));
      fill(list, table([
        { title: 'Bridge', get: (r) => h('strong', r.b.name) },
        { title: 'Type', get: (r) => r.b.type },
        { title: 'State', get: (r) => {
          const st = r.b.status || {};
          const cls = st.state === 'connected' ? 'ok' : st.state === 'stopped' ? '' : 'bad';
          return h('span.badge' + (cls ? '.' + cls : ''), st.state || '–');
        } },
        { title: 'Last error', get: (r) => (r.b.status && r.b.status.last_error ? h('span.error', `${r.b.status.last_error} (${ago(r.b.status.last_error_at)})`) : '–') },
        { title: 'Backlog (disk)', get: (r) => (r.m.queued != null ? `${fmt(r.m.queued)} (${fmt(r.m.queued_disk)})` : '–'), cls: 'num' },
        { title: 'Sent / received', get: (r) => fmt(r.m.sent ?? r.m.published), cls: 'num' },
        { title: 'Failed', get: (r) => fmt(r.m.failed), cls: 'num' },
        { title: 'Dropped', get: (r) => fmt(typeof r.m.dropped === 'object' ? Object.values(r.m.dropped || {}).reduce((a, b) => a + b, 0) : r.m.dropped), cls: 'num' },
        { title: 'Throughput', get: (r) => (r.rate == null ? '…' : `${r.rate.toFixed(1)}/s`), cls: 'num' },
        { title: '', get: (r) => (r.b.source === 'config' ? h('span.muted', 'config file') : h('button.change', {
          type: 'button',
          onclick: async () => {
            const on = r.b.enabled === false;
            try { await api.post(`/api/v1/bridges/${api.enc(r.b.name)}/${on ? 'enable' : 'disable'}`); toast(`bridge ${r.b.name} ${on ? 'enabled' : 'disabled'}`); } catch (e) { toast(e.message, 'error'); }
            await load();
          },
        }, r.b.enabled === false ? 'Enable' : 'Disable')) },
      ], rows, { rowData: (r) => ({ bridge: r.b.name }), empty: 'No bridge: see docs/bridges.md to add one.' }));
    }
    return every(5000, load);
  },
};
