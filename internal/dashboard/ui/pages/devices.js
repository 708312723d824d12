// Devices: the registry (GET /api/v1/devices, filtered and paged by the
// hub), a device's attributes, groups and connection, its shadows (classic
// and named) and its jobs; enable or disable a device.

import { h, fill, table, field, ago, every } from '../lib/dom.js';
import { pager } from '../lib/paging.js';

const PAGE = 50;

function json(v) {
  return h('pre', JSON.stringify(v, null, 2));
}

export default {
  id: 'devices',
  title: 'Devices',
  order: 25,
  requires: ['GET /api/v1/devices', 'GET /api/v1/devices/{clientid}/shadow'],
  async render(root, { api, params, navigate, toast }) {
    const f = {
      prefix: h('input#devices-prefix', { placeholder: 'id starts with…', value: params.get('prefix') || '' }),
      group: h('input#devices-group', { placeholder: 'group', value: params.get('group') || '' }),
      connected: h('select#devices-connected', [['', 'any'], ['true', 'connected'], ['false', 'offline']].map(([v, t]) => h('option', { value: v }, t))),
      enabled: h('select#devices-enabled', [['', 'any'], ['true', 'enabled'], ['false', 'disabled']].map(([v, t]) => h('option', { value: v }, t))),
    };
    f.connected.value = params.get('connected') || '';
    f.enabled.value = params.get('enabled') || '';
    const form = h('form.toolbar#devices-filter', field('Id', f.prefix), field('Group', f.group), field('State', f.connected),
      field('Enabled', f.enabled), h('button.primary#devices-apply', { type: 'submit' }, 'Search'));
    const list = h('div#devices-list');
    const pages = pager(() => load());
    const detail = h('div.card#device-detail', h('p.muted', 'Select a device to see its details, shadows and jobs.'));
    root.append(form, h('div.split', h('div', list, pages.el), detail));
    const query = () => Object.fromEntries(Object.entries(f).map(([k, el]) => [k, el.value.trim()]));
    let selected = params.get('id') || '';

    async function showDetail(id) {
      selected = id;
      for (const tr of list.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.device === id);
      const enc = api.enc(id);
      let d;
      try { d = await api.get(`/api/v1/devices/${enc}`); } catch (e) { fill(detail, h('p.error', e.message)); return; }
      const [shadow, named, jobs] = await Promise.all([
        api.get(`/api/v1/devices/${enc}/shadow`).catch(() => null),
        api.get(`/api/v1/devices/${enc}/shadows`).catch(() => ({ data: [] })),
        api.get(`/api/v1/devices/${enc}/jobs`).catch(() => null),
      ]);
      const names = named.data || named.results || [];
      fill(detail,
        h('h2', d.id),
        h('dl.props',
          h('dt', 'State'), h('dd', d.connected ? h('span.badge.ok', `connected${d.node ? ' on ' + d.node : ''}`) : h('span.badge', 'offline')),
          h('dt', 'Last seen'), h('dd', ago(d.last_seen)),
          h('dt', 'Enabled'), h('dd', d.enabled ? 'yes' : h('span.badge.bad', 'disabled')),
          h('dt', 'Groups'), h('dd', (d.groups || []).join(', ') || '–'),
          h('dt', 'Credentials'), h('dd', [d.has_password && 'password', d.cert_fingerprint && 'certificate'].filter(Boolean).join(', ') || '–'),
          h('dt', 'Created'), h('dd', d.created_at ? new Date(d.created_at).toLocaleString() : '–')),
        h('h2', 'Attributes'), Object.keys(d.attributes || {}).length ? json(d.attributes) : h('p.muted', 'None.'),
        h('h2', 'Shadow'), shadow ? json(shadow) : h('p.muted', 'No classic shadow.'),
        names.length ? [h('h2', 'Named shadows'), h('p', names.map((n) => (typeof n === 'string' ? n : n.name)).join(', '))] : null,
        h('h2', 'Jobs'), jobs && (jobs.data || []).length ? table([
          { title: 'Job', get: (j) => h('a', { href: `#/jobs?id=${encodeURIComponent(j.job_id)}` }, j.job_id) },
          { title: 'Status', get: (j) => j.status },
          { title: 'Updated', get: (j) => ago(j.last_updated_at) },
        ], jobs.data) : h('p.muted', 'No job.'),
        h('div.actions', h('button.change#device-toggle', {
          type: 'button',
          onclick: async () => {
            try {
              await api.call('PATCH', `/api/v1/devices/${enc}`, { enabled: !d.enabled });
              toast(`${d.id} ${d.enabled ? 'disabled' : 'enabled'}`);
            } catch (e) { toast(e.message, 'error'); }
            await load();
            await showDetail(d.id);
          },
        }, d.enabled ? 'Disable' : 'Enable')));
    }

    async function load() {
      const rows = await pages.load((cursor) => api.get('/api/v1/devices' + api.qs({ ...query(), limit: PAGE, cursor })));
      fill(list, table([
        { title: 'Device', get: (d) => h('span.mono', d.id) },
        { title: 'State', get: (d) => (d.connected ? h('span.badge.ok', 'connected') : h('span.badge', 'offline')) },
        { title: 'Enabled', get: (d) => (d.enabled ? 'yes' : h('span.badge.bad', 'no')) },
        { title: 'Groups', get: (d) => (d.groups || []).join(', ') || '–' },
        { title: 'Last seen', get: (d) => ago(d.last_seen) },
      ], rows, { rowData: (d) => ({ device: d.id }), onclick: (d) => showDetail(d.id), empty: 'No registered device matches.' }));
      for (const tr of list.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.device === selected);
    }

    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const before = location.hash;
      navigate('devices', query());
      if (location.hash === before) { pages.reset(); load(); }
    });
    if (selected) showDetail(selected);
    return every(10000, async () => {
      try { await load(); } catch (e) { fill(list, h('p.error', e.message)); }
    });
  },
};
