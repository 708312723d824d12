// Rules: the list with metrics, enable/disable, and the editor with the
// SQL tester (POST /api/v1/rules/test): a sample in, the outputs shown,
// a statement's error marked at its position.

import { h, fill, table, field, fmt, every, confirmButton } from '../lib/dom.js';

const EXAMPLE = {
  id: 'low_battery',
  description: 'door locks whose battery runs low',
  sql: "SELECT clientid, payload.battery AS battery FROM \"devices/+/state\" WHERE payload.battery < 20",
  actions: '[{"type": "republish", "topic": "alarms/${clientid}", "qos": 1}]',
  topic: 'devices/10083618796833171/state',
  payload: '{"action":"unlock","battery":12.5,"lock_state":1}',
};

/** sqlWithMark shows the statement with the character at line:col marked. */
function sqlWithMark(sql, line, col) {
  const lines = sql.split('\n');
  const out = h('pre.sql-view#rule-sql-error');
  lines.forEach((l, i) => {
    if (i + 1 !== line) { out.append(l + '\n'); return; }
    const at = Math.max(0, Math.min(col - 1, l.length));
    out.append(l.slice(0, at), h('mark', l.slice(at, at + 1) || ' '), l.slice(at + 1) + '\n');
  });
  return out;
}

export default {
  id: 'rules',
  title: 'Rules',
  order: 50,
  requires: ['GET /api/v1/rules', 'POST /api/v1/rules/test'],
  async render(root, { api, params, navigate, toast }) {
    const list = h('div#rules-list');
    const editor = h('div.card#rule-editor');
    root.append(h('div.toolbar', h('button.primary.change#rule-new', { type: 'button', onclick: () => navigate('rules', { edit: '_new' }) }, 'New rule')),
      list, h('div', { class: 'spacer' }), editor);
    editor.hidden = !params.get('edit');

    async function loadList() {
      const data = await api.get('/api/v1/rules');
      fill(list, table([
        { title: 'Rule', get: (r) => h('a', { href: `#/rules?edit=${encodeURIComponent(r.id)}` }, r.id) },
        { title: 'State', get: (r) => (r.enabled ? h('span.badge.ok', 'enabled') : h('span.badge', 'disabled')) },
        { title: 'SQL', get: (r) => h('code', r.sql.length > 80 ? r.sql.slice(0, 80) + '…' : r.sql) },
        { title: 'Matched', get: (r) => h('span', { dataset: { metric: 'matched' } }, fmt(r.metrics.matched)), cls: 'num' },
        { title: 'Passed', get: (r) => fmt(r.metrics.passed), cls: 'num' },
        { title: 'Failed', get: (r) => fmt(r.metrics.failed), cls: 'num' },
        { title: 'Rate', get: (r) => `${r.metrics.rate.toFixed(1)}/s`, cls: 'num' },
        { title: 'Actions ok / failed', get: (r) => `${fmt(r.metrics.actions_success)} / ${fmt(r.metrics.actions_failed)}`, cls: 'num' },
        { title: '', get: (r) => h('div.actions',
          h('button.change', { type: 'button', dataset: { action: r.enabled ? 'disable' : 'enable' }, onclick: () => toggle(r) }, r.enabled ? 'Disable' : 'Enable'),
          r.source !== 'config' && confirmButton('Delete', 'Click again', async () => {
            try { await api.del(`/api/v1/rules/${api.enc(r.id)}`); toast(`rule ${r.id} deleted`); } catch (e) { toast(e.message, 'error'); }
            await loadList();
          })) },
      ], data.data, { rowData: (r) => ({ rule: r.id }), empty: 'No rule yet: create one.' }));
    }

    async function toggle(r) {
      try {
        await api.post(`/api/v1/rules/${api.enc(r.id)}/${r.enabled ? 'disable' : 'enable'}`);
        toast(`rule ${r.id} ${r.enabled ? 'disabled' : 'enabled'}`);
      } catch (e) { toast(e.message, 'error'); }
      await loadList();
    }

    async function showEditor(id) {
      let rule = null;
      if (id !== '_new') {
        try { rule = await api.get(`/api/v1/rules/${api.enc(id)}`); } catch (e) { fill(editor, h('p.error', e.message)); return; }
      }
      const f = {
        id: h('input#rule-id', { value: rule ? rule.id : EXAMPLE.id, disabled: !!rule }),
        description: h('input#rule-description', { value: rule ? rule.description || '' : EXAMPLE.description, size: 50 }),
        sql: h('textarea#rule-sql', { rows: 4 }, rule ? rule.sql : EXAMPLE.sql),
        actions: h('textarea#rule-actions', { rows: 3 }, rule ? JSON.stringify(rule.actions || [], null, 1) : EXAMPLE.actions),
        enabled: h('input#rule-enabled', { type: 'checkbox', checked: rule ? rule.enabled : true }),
        topic: h('input#sample-topic', { value: EXAMPLE.topic, size: 40 }),
        clientid: h('input#sample-clientid', { value: '10083618796833171' }),
        payload: h('textarea#sample-payload', { rows: 3 }, EXAMPLE.payload),
      };
      const result = h('div#rule-test-result');
      const showError = (e) => {
        const m = /at (\d+):(\d+)$/.exec(e.message);
        fill(result, h('p.error#rule-error', e.message), e.code === 'invalid_sql' && m ? sqlWithMark(f.sql.value, +m[1], +m[2]) : null);
      };
      const body = () => {
        let actions;
        try { actions = JSON.parse(f.actions.value || '[]'); } catch (e) { throw new Error(`actions: not JSON: ${e.message}`); }
        return { id: f.id.value.trim(), description: f.description.value, sql: f.sql.value, enabled: f.enabled.checked, actions };
      };
      const test = async () => {
        try {
          const r = await api.post('/api/v1/rules/test', {
            sql: f.sql.value,
            sample: { topic: f.topic.value, clientid: f.clientid.value, payload: f.payload.value },
          });
          fill(result, h('h2', `${r.outputs.length} output${r.outputs.length === 1 ? '' : 's'}`),
            r.outputs.length ? h('pre#rule-outputs', JSON.stringify(r.outputs, null, 2)) : h('p.muted', 'The sample matched, but WHERE was false.'));
        } catch (e) { showError(e); }
      };
      const save = async () => {
        try {
          const b = body();
          if (rule) await api.put(`/api/v1/rules/${api.enc(rule.id)}`, b);
          else await api.post('/api/v1/rules', b);
          toast(`rule ${b.id} saved`);
          // Only while the editor is still shown: an operator who went to
          // another page while the save was on its way stays there.
          if (editor.isConnected) navigate('rules', { edit: b.id });
        } catch (e) { showError(e); }
      };
      fill(editor,
        h('h2', rule ? `Edit rule ${rule.id}` : 'New rule'),
        h('div.toolbar', field('Id', f.id), field('Description', f.description), h('label.field', h('span', 'Enabled'), f.enabled)),
        field('SQL', f.sql), field('Actions (JSON)', f.actions),
        h('h2', 'Test with a sample message'),
        h('div.toolbar', field('Topic', f.topic), field('Client id', f.clientid)), field('Payload', f.payload),
        h('div.actions', h('button#rule-test', { type: 'button', onclick: test }, 'Test'),
          h('button.primary.change#rule-save', { type: 'button', onclick: save }, rule ? 'Save' : 'Create'),
          h('button', { type: 'button', onclick: () => navigate('rules') }, 'Close')),
        result);
    }

    if (params.get('edit')) await showEditor(params.get('edit'));
    return every(3000, loadList);
  },
};
