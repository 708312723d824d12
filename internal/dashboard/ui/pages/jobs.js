// Jobs: the jobs by status (GET /api/v1/jobs), a job's document, rollout
// and executions by status, its executions by device; cancel a job.

import { h, fill, table, field, ago, every, confirmButton } from '../lib/dom.js';
import { pager } from '../lib/paging.js';

export default {
  id: 'jobs',
  title: 'Jobs',
  order: 27,
  requires: ['GET /api/v1/jobs', 'GET /api/v1/jobs/{jobid}/executions'],
  async render(root, { api, params, navigate, toast }) {
    const status = h('select#jobs-status', [['', 'any'], ['IN_PROGRESS', 'in progress'], ['COMPLETED', 'completed'], ['CANCELED', 'canceled']]
      .map(([v, t]) => h('option', { value: v }, t)));
    status.value = params.get('status') || '';
    const list = h('div#jobs-list');
    const pages = pager(() => load());
    const detail = h('div.card#job-detail', h('p.muted', 'Select a job to see its executions.'));
    root.append(h('div.toolbar', field('Status', status)), h('div.split', h('div', list, pages.el), detail));
    status.addEventListener('change', () => navigate('jobs', { status: status.value }));
    let selected = params.get('id') || '';

    async function showDetail(id) {
      selected = id;
      for (const tr of list.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.job === id);
      let j;
      try { j = await api.get(`/api/v1/jobs/${api.enc(id)}`); } catch (e) { fill(detail, h('p.error', e.message)); return; }
      const ex = await api.get(`/api/v1/jobs/${api.enc(id)}/executions` + api.qs({ limit: 100 })).catch(() => ({ data: [] }));
      fill(detail,
        h('h2', j.job_id),
        h('dl.props',
          h('dt', 'Status'), h('dd', j.status), h('dt', 'Description'), h('dd', j.description || '–'),
          h('dt', 'Targets'), h('dd', [...(j.targets || []), ...(j.groups || []).map((g) => `group ${g}`)].join(', ') || '–'),
          h('dt', 'Rolled out'), h('dd', String(j.rolled_out ?? '–')),
          h('dt', 'Executions'), h('dd', Object.entries(j.executions || {}).map(([k, v]) => `${k} ${v}`).join(' · ') || '–'),
          h('dt', 'Created'), h('dd', ago(j.created_at))),
        h('h2', 'Document'), h('pre', JSON.stringify(j.document, null, 2)),
        h('h2', 'Executions'), table([
          { title: 'Device', get: (e) => h('a', { href: `#/devices?id=${encodeURIComponent(e.thing_name)}` }, e.thing_name) },
          { title: 'Status', get: (e) => e.status },
          { title: 'Updated', get: (e) => ago(e.last_updated_at) },
        ], ex.data || [], { empty: 'No execution yet.' }),
        j.status === 'IN_PROGRESS' && h('div.actions', confirmButton('Cancel job', 'Click again to cancel', async () => {
          try { await api.post(`/api/v1/jobs/${api.enc(id)}/cancel`, {}); toast(`job ${id} canceled`); } catch (e) { toast(e.message, 'error'); }
          await load();
          await showDetail(id);
        }, { id: 'job-cancel' })));
    }

    async function load() {
      const rows = await pages.load((cursor) => api.get('/api/v1/jobs' + api.qs({ status: status.value, limit: 50, cursor })));
      fill(list, table([
        { title: 'Job', get: (j) => h('span.mono', j.job_id) },
        { title: 'Status', get: (j) => j.status },
        { title: 'Executions', get: (j) => Object.entries(j.executions || {}).map(([k, v]) => `${k.toLowerCase()} ${v}`).join(', ') || '–' },
        { title: 'Created', get: (j) => ago(j.created_at) },
      ], rows, { rowData: (j) => ({ job: j.job_id }), onclick: (j) => showDetail(j.job_id), empty: 'No job.' }));
      for (const tr of list.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.job === selected);
    }
    if (selected) showDetail(selected);
    return every(10000, async () => {
      try { await load(); } catch (e) { fill(list, h('p.error', e.message)); }
    });
  },
};
