// Live messages: watch the messages matching a filter arrive
// (Server-Sent Events from GET /api/v1/messages/stream) and publish a test
// message (POST /api/v1/publish).

import { h, fill, field } from '../lib/dom.js';

const KEEP = 300;

export default {
  id: 'live',
  title: 'Live messages',
  order: 40,
  requires: ['GET /api/v1/messages/stream', 'POST /api/v1/publish'],
  async render(root, { api, params, toast }) {
    const filter = h('input#live-filter', { value: params.get('filter') || '#', size: 36 });
    const start = h('button.primary#live-start', { type: 'submit' }, 'Watch');
    const stop = h('button#live-stop', { type: 'button', disabled: true }, 'Stop');
    const state = h('span.muted#live-state', 'not watching');
    const feed = h('div.feed#live-feed');
    const pubTopic = h('input#pub-topic', { value: 'test/dashboard', size: 30 });
    const pubPayload = h('textarea#pub-payload', { rows: 4 }, '{"hello":"from the dashboard"}');
    const pubQoS = h('select#pub-qos', [0, 1, 2].map((q) => h('option', { value: q }, `QoS ${q}`)));
    const pubRetain = h('input#pub-retain', { type: 'checkbox' });
    const pubForm = h('form#pub-form.stack',
      field('Topic', pubTopic), field('Payload', pubPayload),
      h('div.toolbar', field('QoS', pubQoS), h('label.field', h('span', 'Retain'), pubRetain),
        h('button.primary#pub-send', { type: 'submit' }, 'Publish')));
    root.append(h('div.split',
      h('div.card', h('h2', 'Watch'),
        h('form.toolbar#live-form', field('Topic filter', filter), start, stop, state), feed),
      h('div.card.change', h('h2', 'Publish a test message'), pubForm)));

    let es = null;
    let count = 0;
    function close() {
      if (es) es.close();
      es = null;
      start.disabled = false;
      stop.disabled = true;
    }
    function watch() {
      close();
      count = 0;
      fill(feed);
      es = new EventSource('/api/v1/messages/stream' + api.qs({ filter: filter.value.trim() }));
      start.disabled = true;
      stop.disabled = false;
      state.textContent = `connecting…`;
      es.onopen = () => { state.textContent = `watching ${filter.value.trim()}`; };
      es.onerror = () => { state.textContent = 'connection lost; retrying…'; };
      es.addEventListener('message', (ev) => {
        const m = JSON.parse(ev.data);
        count++;
        feed.prepend(h('div.msg', { dataset: { topic: m.topic } },
          h('div.meta', h('code', m.topic), h('span', `QoS ${m.qos}`), m.retain && h('span', 'retained'),
            h('span', m.from ? `from ${m.from}` : `from ${m.origin || 'hub'}`), h('span', new Date(m.received_at).toLocaleTimeString())),
          h('pre', (m.payload_encoding === 'base64' ? '(base64) ' : '') + m.payload + (m.truncated ? ' …' : ''))));
        while (feed.childElementCount > KEEP) feed.lastElementChild.remove();
        state.textContent = `watching ${filter.value.trim()} · ${count} received`;
      });
      es.addEventListener('dropped', (ev) => {
        state.textContent = `watching · ${JSON.parse(ev.data).dropped} dropped (the browser fell behind)`;
      });
    }
    root.querySelector('#live-form').addEventListener('submit', (ev) => { ev.preventDefault(); watch(); });
    stop.addEventListener('click', () => { close(); state.textContent = 'stopped'; });
    pubForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const r = await api.post('/api/v1/publish', {
          topic: pubTopic.value.trim(), payload: pubPayload.value, qos: Number(pubQoS.value), retain: pubRetain.checked,
        });
        toast(`published (routed to ${r.routed} session${r.routed === 1 ? '' : 's'})`);
      } catch (e) {
        toast(e.message, 'error');
      }
    });
    if (params.get('filter')) watch();
    return close;
  },
};
