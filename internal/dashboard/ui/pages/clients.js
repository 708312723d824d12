// Clients: server-side search, filters and paging (GET /api/v1/clients),
// details, kick, and discarding an offline session.

import { h, fill, table, field, fmt, ago, every, confirmButton } from '../lib/dom.js';
import { pager } from '../lib/paging.js';

const PAGE = 50;

export default {
  id: 'clients',
  title: 'Clients',
  order: 20,
  requires: ['GET /api/v1/clients'],
  async render(root, { api, params, navigate, toast }) {
    const f = {
      search: h('input#clients-search', { placeholder: 'client id contains…', value: params.get('search') || '' }),
      username: h('input#clients-username', { placeholder: 'exact username', value: params.get('username') || '' }),
      address: h('input#clients-address', { placeholder: 'IP or its start', value: params.get('address') || '' }),
      protocol: h('select#clients-protocol', ['', '3.1.1', '5.0'].map((v) => h('option', { value: v }, v || 'any'))),
      connected: h('select#clients-connected', [['', 'any'], ['true', 'connected'], ['false', 'offline']].map(([v, t]) => h('option', { value: v }, t))),
      min_queued: h('input#clients-min-queued', { type: 'number', min: 0, placeholder: '0', value: params.get('min_queued') || '' }),
      min_dropped: h('input#clients-min-dropped', { type: 'number', min: 0, placeholder: '0', value: params.get('min_dropped') || '' }),
    };
    f.protocol.value = params.get('protocol') || '';
    f.connected.value = params.get('connected') || '';
    const form = h('form.toolbar#clients-filter',
      field('Client id', f.search), field('Username', f.username), field('Address', f.address),
      field('Protocol', f.protocol), field('State', f.connected), field('Backlog ≥', f.min_queued),
      field('Drops ≥', f.min_dropped), h('button.primary#clients-apply', { type: 'submit' }, 'Search'));
    const list = h('div#clients-list');
    const pages = pager();
    const detail = h('div.card#client-detail', h('p.muted', 'Select a client to see its details.'));
    root.append(form, h('div.split', h('div', list, pages.el), detail));

    let selected = params.get('id') || '';
    const query = () => Object.fromEntries(Object.entries(f).map(([k, el]) => [k, el.value.trim()]));

    async function showDetail(id) {
      selected = id;
      for (const tr of list.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.clientId === id);
      let c;
      try {
        c = await api.get(`/api/v1/clients/${api.enc(id)}`);
      } catch (e) {
        fill(detail, h('p.error', e.message));
        return;
      }
      const subs = c.subscriptions || [];
      fill(detail,
        h('h2', c.client_id),
        h('dl.props',
          h('dt', 'State'), h('dd', c.connected ? h('span.badge.ok', 'connected') : h('span.badge', 'offline')),
          h('dt', 'Username'), h('dd', c.username || '–'),
          h('dt', 'Protocol'), h('dd', `MQTT ${c.protocol_version}`),
          h('dt', 'Address'), h('dd', c.address || '–'), h('dt', 'Listener'), h('dd', c.listener || '–'),
          h('dt', c.connected ? 'Connected' : 'Disconnected'), h('dd', ago(c.connected ? c.connected_at : c.disconnected_at)),
          h('dt', 'Keep alive'), h('dd', `${c.keep_alive}s`),
          h('dt', 'Session expiry'), h('dd', c.session_expiry < 0 ? 'never' : `${c.session_expiry}s`),
          h('dt', 'Queued / in flight'), h('dd', `${c.queued} / ${c.inflight}`),
          h('dt', 'Messages in / out'), h('dd', `${fmt(c.messages_in)} / ${fmt(c.messages_out)}`),
          h('dt', 'Dropped'), h('dd', fmt(c.dropped))),
        h('h2', `Subscriptions (${subs.length})`),
        table([
          { title: 'Filter', get: (s) => h('code', s.filter) },
          { title: 'QoS', get: (s) => s.qos, cls: 'num' },
          { title: 'Options', get: (s) => [s.no_local && 'no local', s.retain_as_published && 'retain as published'].filter(Boolean).join(', ') || '–' },
        ], subs, { empty: 'No subscriptions.' }),
        h('div.actions',
          c.connected && confirmButton('Kick', 'Click again to kick', async () => {
            await act(() => api.del(`/api/v1/clients/${api.enc(c.client_id)}`), `${c.client_id} disconnected`);
          }, { id: 'client-kick' }),
          !c.connected && confirmButton('Clean session', 'Click again to discard', async () => {
            await act(() => api.del(`/api/v1/clients/${api.enc(c.client_id)}/session`), `${c.client_id}'s session discarded`);
          }, { id: 'client-clean' })));
    }

    async function act(fn, ok) {
      try {
        await fn();
        toast(ok);
      } catch (e) {
        toast(e.message, 'error');
      }
      await load();
      if (selected) await showDetail(selected);
    }

    async function load() {
      const rows = await pages.load((cursor) => api.get('/api/v1/clients' + api.qs({ ...query(), limit: PAGE, cursor })));
      fill(list, table([
        { title: 'Client id', get: (c) => h('span.mono', c.client_id) },
        { title: 'State', get: (c) => (c.connected ? h('span.badge.ok', 'connected') : h('span.badge', 'offline')) },
        { title: 'Username', get: (c) => c.username || '–' },
        { title: 'Address', get: (c) => c.address || '–' },
        { title: 'MQTT', get: (c) => c.protocol_version },
        { title: 'Subs', get: (c) => c.subscription_count, cls: 'num' },
        { title: 'Backlog', get: (c) => c.queued + c.inflight, cls: 'num' },
        { title: 'Drops', get: (c) => fmt(c.dropped), cls: 'num' },
      ], rows, { rowData: (c) => ({ clientId: c.client_id }), onclick: (c) => showDetail(c.client_id), empty: 'No client matches.' }));
      for (const tr of list.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.clientId === selected);
    }

    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const before = location.hash;
      navigate('clients', query()); // the filter is in the address: bookmarkable
      if (location.hash === before) { pages.reset(); load(); }
    });
    if (selected) showDetail(selected);
    return every(5000, async () => {
      try {
        await load();
      } catch (e) {
        fill(list, h('p.error', e.message));
      }
    });
  },
};
