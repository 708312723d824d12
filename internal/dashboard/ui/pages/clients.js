// Clients: server-side search, filters and paging (GET /api/v1/clients),
// details (will, CONNECT properties, subscriptions paged), kick, and
// discarding an offline session.

import { h, fill, table, field, fmt, ago, every, confirmButton } from '../lib/dom.js';
import { pager } from '../lib/paging.js';

const PAGE = 50;
const SUB_PAGE = 50;

/** userProps lists MQTT 5 user properties (key = value, in order). */
function userProps(ups) {
  return (ups || []).map((u) => h('div.mono', `${u.key} = ${u.value}`));
}

/** willView shows a connected client's will (null: it has none). */
function willView(w) {
  if (!w) return h('p.muted#client-will', 'No will.');
  return h('div#client-will', h('h2', 'Will'), h('dl.props',
    h('dt', 'Topic'), h('dd', h('code', w.topic)),
    h('dt', 'QoS / retain'), h('dd', `${w.qos} / ${w.retain ? 'retained' : 'not retained'}`),
    h('dt', 'Delay'), h('dd', `${w.delay_seconds}s`),
    h('dt', 'Payload'), h('dd', `${fmt(w.payload_size)} bytes${w.payload_format === 1 ? ' (UTF-8)' : ''}`),
    w.message_expiry != null && [h('dt', 'Message expiry'), h('dd', `${w.message_expiry}s`)],
    w.content_type && [h('dt', 'Content type'), h('dd', w.content_type)],
    w.response_topic && [h('dt', 'Response topic'), h('dd', h('code', w.response_topic))],
    w.user_properties && [h('dt', 'User properties'), h('dd', userProps(w.user_properties))]));
}

/** propsView shows an MQTT 5 client's CONNECT properties as it sent them. */
function propsView(p) {
  if (!p) return h('p.muted#client-props', 'No CONNECT properties.');
  const row = (label, v) => v != null && v !== 0 && v !== false && [h('dt', label), h('dd', String(v))];
  return h('div#client-props', h('h2', 'CONNECT properties'), h('dl.props',
    row('Session expiry (asked)', p.session_expiry != null ? `${p.session_expiry}s` : null),
    row('Receive maximum', p.receive_maximum),
    row('Maximum packet size', p.maximum_packet_size),
    row('Topic alias maximum', p.topic_alias_maximum),
    row('Request response info', p.request_response_info && 'yes'),
    row('Request problem info', p.request_problem_info != null ? (p.request_problem_info ? 'yes' : 'no') : null),
    p.user_properties && [h('dt', 'User properties'), h('dd', userProps(p.user_properties))]));
}

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
    const pages = pager(() => load());
    const detail = h('div.card#client-detail', h('p.muted', 'Select a client to see its details.'));
    root.append(form, h('div.split', h('div', list, pages.el), detail));

    // In a cluster the list merges every node's clients: say which holds each.
    const cluster = await api.get('/api/v1/cluster').catch(() => null); // a hub without the cluster API
    const clustered = !!(cluster && cluster.enabled);
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
      const subsBox = h('div#client-subs');
      const subPages = pager(() => loadSubs());
      fill(detail,
        h('h2', c.client_id),
        h('dl.props',
          h('dt', 'State'), h('dd', c.connected ? h('span.badge.ok', 'connected') : h('span.badge', 'offline')),
          clustered && [h('dt', 'Node'), h('dd', c.node || '–')],
          h('dt', 'Username'), h('dd', c.username || '–'),
          h('dt', 'Session owner'), h('dd', c.owner || 'nobody (anonymous)'),
          h('dt', 'Protocol'), h('dd', `MQTT ${c.protocol_version}`),
          h('dt', 'Address'), h('dd', c.address || '–'), h('dt', 'Listener'), h('dd', c.listener || '–'),
          h('dt', c.connected ? 'Connected' : 'Disconnected'), h('dd', ago(c.connected ? c.connected_at : c.disconnected_at)),
          h('dt', 'Keep alive'), h('dd', `${c.keep_alive}s`),
          h('dt', 'Session expiry'), h('dd', c.session_expiry < 0 ? 'never' : `${c.session_expiry}s`),
          h('dt', 'Queued / in flight'), h('dd', `${c.queued} / ${c.inflight}`),
          h('dt', 'Queue peak'), h('dd', { dataset: { field: 'queued-peak' } }, fmt(c.queued_peak)),
          h('dt', 'Messages in / out'), h('dd', `${fmt(c.messages_in)} / ${fmt(c.messages_out)}`),
          h('dt', 'Dropped'), h('dd', fmt(c.dropped))),
        c.connected && willView(c.will),
        c.connected && c.protocol_version === '5.0' && propsView(c.connect_properties),
        h('h2', `Subscriptions (${fmt(c.subscription_count)})`),
        subsBox, subPages.el,
        h('div.actions',
          c.connected && confirmButton('Kick', 'Click again to kick', async () => {
            await act(() => api.del(`/api/v1/clients/${api.enc(c.client_id)}`), `${c.client_id} disconnected`);
          }, { id: 'client-kick' }),
          !c.connected && confirmButton('Clean session', 'Click again to discard', async () => {
            await act(() => api.del(`/api/v1/clients/${api.enc(c.client_id)}/session`), `${c.client_id}'s session discarded`);
          }, { id: 'client-clean' })));
      await loadSubs();
      async function loadSubs() {
        try {
          const subs = await subPages.load((cursor) => api.get(`/api/v1/clients/${api.enc(c.client_id)}/subscriptions` + api.qs({ limit: SUB_PAGE, cursor })));
          fill(subsBox, table([
            { title: 'Filter', get: (s) => h('code', s.filter) },
            { title: 'QoS', get: (s) => s.qos, cls: 'num' },
            { title: 'Options', get: (s) => [s.no_local && 'no local', s.retain_as_published && 'retain as published'].filter(Boolean).join(', ') || '–' },
          ], subs, { empty: 'No subscriptions.', rowData: (s) => ({ filter: s.filter }) }));
        } catch (e) {
          fill(subsBox, h('p.error', e.message));
        }
      }
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
        clustered && { title: 'Node', get: (c) => c.node || '–' },
        { title: 'Username', get: (c) => c.username || '–' },
        { title: 'Address', get: (c) => c.address || '–' },
        { title: 'MQTT', get: (c) => c.protocol_version },
        { title: 'Subs', get: (c) => c.subscription_count, cls: 'num' },
        { title: 'Backlog', get: (c) => c.queued + c.inflight, cls: 'num' },
        { title: 'Peak', get: (c) => fmt(c.queued_peak), cls: 'num' },
        { title: 'Drops', get: (c) => fmt(c.dropped), cls: 'num' },
      ].filter(Boolean), rows, { rowData: (c) => ({ clientId: c.client_id }), onclick: (c) => showDetail(c.client_id), empty: 'No client matches.' }));
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
