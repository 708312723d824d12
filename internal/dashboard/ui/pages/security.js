// Security: MQTT users, dashboard users (administrators and viewers), API
// keys (a new key is shown once), bans, and the ACL tester ("may client X
// publish to topic Y?").

import { h, fill, table, field, every, confirmButton } from '../lib/dom.js';

export default {
  id: 'security',
  title: 'Security',
  order: 70,
  requires: ['GET /api/v1/bans', 'POST /api/v1/acl/check'],
  async render(root, { api, toast }) {
    const usersBox = h('div#users-list');
    const keysBox = h('div#keys-list');
    const opsBox = h('div#operators-list');
    const newKey = h('div');
    const bansBox = h('div#bans-list');
    const aclOut = h('div#acl-result');
    const i = (id, attrs = {}) => h('input#' + id, attrs);
    const acl = { client_id: i('acl-client', { placeholder: 'client id' }), username: i('acl-username', { placeholder: 'username' }),
      topic: i('acl-topic', { placeholder: 'devices/x/command', required: true }),
      action: h('select#acl-action', h('option', { value: 'publish' }, 'publish'), h('option', { value: 'subscribe' }, 'subscribe')) };
    const user = { username: i('user-name', { required: true }), password: i('user-password', { type: 'password', required: true }), superuser: i('user-superuser', { type: 'checkbox' }) };
    const ban = { kind: h('select#ban-kind', ['client_id', 'username', 'address'].map((k) => h('option', { value: k }, k))),
      value: i('ban-value', { required: true }), duration: i('ban-duration', { placeholder: '1h (empty: forever)' }), reason: i('ban-reason') };
    const keyName = i('key-name', { placeholder: 'a name for the key' });
    const keyViewer = i('key-viewer', { type: 'checkbox' });
    const op = { username: i('operator-name', { required: true }), password: i('operator-password', { type: 'password', required: true, autocomplete: 'new-password' }),
      viewer: i('operator-viewer', { type: 'checkbox' }) };

    root.append(
      h('div.card', h('h2', 'ACL test: may this client do this?'),
        h('form.toolbar#acl-form', { onsubmit: (ev) => { ev.preventDefault(); checkACL(); } },
          field('Client id', acl.client_id), field('Username', acl.username), field('Action', acl.action), field('Topic', acl.topic),
          h('button.primary#acl-check', { type: 'submit' }, 'Check')), aclOut),
      h('div.grid2',
        h('div.card', h('h2', 'MQTT users'), usersBox,
          h('form.toolbar.change', { onsubmit: (ev) => { ev.preventDefault(); addUser(); } },
            field('Username', user.username), field('Password', user.password), h('label.field', h('span', 'Superuser'), user.superuser),
            h('button', { type: 'submit' }, 'Add or replace'))),
        h('div.card', h('h2', 'API keys'), keysBox, newKey,
          h('form.toolbar.change', { onsubmit: (ev) => { ev.preventDefault(); createKey(); } }, field('Name', keyName), h('label.field', h('span', 'Read-only'), keyViewer), h('button#key-create', { type: 'submit' }, 'Create key')))),
      h('div.card', h('h2', 'Dashboard users'), opsBox,
        h('form.toolbar.change#operator-form', { onsubmit: (ev) => { ev.preventDefault(); addOperator(); } },
          field('Username', op.username), field('Password', op.password), h('label.field', h('span', 'Viewer (read-only)'), op.viewer),
          h('button#operator-save', { type: 'submit' }, 'Add or replace'))),
      h('div.card', h('h2', 'Bans'), bansBox,
        h('form.toolbar.change', { onsubmit: (ev) => { ev.preventDefault(); addBan(); } },
          field('Kind', ban.kind), field('Value', ban.value), field('Duration', ban.duration), field('Reason', ban.reason),
          h('button.danger', { type: 'submit' }, 'Ban'))));

    const run = async (fn, ok) => {
      try { await fn(); if (ok) toast(ok); } catch (e) { toast(e.message, 'error'); }
      await load();
    };
    async function checkACL() {
      try {
        const r = await api.post('/api/v1/acl/check', { client_id: acl.client_id.value, username: acl.username.value, action: acl.action.value, topic: acl.topic.value });
        fill(aclOut, h('p', r.allowed ? h('span.badge.ok', 'allowed') : h('span.badge.bad', 'denied'), ` decision: ${r.decision}`, r.reason ? ` (${r.reason})` : ''));
      } catch (e) { fill(aclOut, h('p.error', e.message)); }
    }
    const addUser = () => run(() => api.post('/api/v1/users', { username: user.username.value, password: user.password.value, superuser: user.superuser.checked }), `user ${user.username.value} saved`);
    const addOperator = () => run(() => api.post('/api/v1/dashboard/users', { username: op.username.value, password: op.password.value, role: op.viewer.checked ? 'viewer' : '' }),
      `dashboard user ${op.username.value} saved`);
    const addBan = () => run(() => api.post('/api/v1/bans', { kind: ban.kind.value, value: ban.value.value, duration: ban.duration.value, reason: ban.reason.value }), `${ban.kind.value} ${ban.value.value} banned`);
    async function createKey() {
      try {
        const k = await api.post('/api/v1/apikeys', { name: keyName.value, role: keyViewer.checked ? 'viewer' : '' });
        fill(newKey, h('div.secret#new-key', h('p', `Key ${k.id} created. It is shown only this once:`), h('pre', k.key)));
      } catch (e) { toast(e.message, 'error'); }
      await load();
    }

    async function load() {
      const [u, k, b, o] = await Promise.all([
        api.get('/api/v1/users').catch((e) => ({ error: e.message })),
        api.get('/api/v1/apikeys').catch((e) => ({ error: e.message })),
        api.get('/api/v1/bans').catch((e) => ({ error: e.message })),
        api.get('/api/v1/dashboard/users').catch((e) => ({ error: e.message })),
      ]);
      fill(opsBox, o.error ? h('p.muted', o.error) : table([
        { title: 'Username', get: (x) => x.username },
        { title: 'Role', get: (x) => (x.role === 'viewer' ? h('span.badge', 'viewer') : 'administrator') },
        { title: '', get: (x) => confirmButton('Remove', 'Click again', () => run(() => api.del(`/api/v1/dashboard/users/${api.enc(x.username)}`), `dashboard user ${x.username} removed`)) },
      ], o.data, { empty: 'No dashboard user.', rowData: (x) => ({ operator: x.username }) }));
      fill(usersBox, u.error ? h('p.muted', u.error) : table([
        { title: 'Username', get: (x) => x.username }, { title: 'Superuser', get: (x) => (x.superuser ? 'yes' : '') },
        { title: 'Source', get: (x) => x.source },
        { title: '', get: (x) => (x.source === 'config' ? '' : confirmButton('Remove', 'Click again', () => run(() => api.del(`/api/v1/users/${api.enc(x.username)}`), `user ${x.username} removed`))) },
      ], u.data, { empty: 'No MQTT user.' }));
      fill(keysBox, k.error ? h('p.muted', k.error) : table([
        { title: 'Id', get: (x) => h('code', x.id) }, { title: 'Name', get: (x) => x.name || '–' },
        { title: 'Created', get: (x) => new Date(x.created_at).toLocaleString() },
        { title: 'Role', get: (x) => (x.role === 'viewer' ? h('span.badge', 'read-only') : 'all') },
        { title: '', get: (x) => confirmButton('Revoke', 'Click again', () => run(() => api.del(`/api/v1/apikeys/${api.enc(x.id)}`), `key ${x.id} revoked`)) },
      ], k.data, { empty: 'No stored key.' }));
      fill(bansBox, b.error ? h('p.muted', b.error) : table([
        { title: 'Kind', get: (x) => x.kind }, { title: 'Value', get: (x) => h('code', x.value) }, { title: 'Reason', get: (x) => x.reason || '–' },
        { title: 'Until', get: (x) => (x.until ? new Date(x.until).toLocaleString() : 'forever') },
        { title: '', get: (x) => confirmButton('Lift', 'Click again', () => run(() => api.del(`/api/v1/bans/${api.enc(x.kind)}/${x.value.split('/').map(api.enc).join('/')}`), `ban on ${x.value} lifted`)) },
      ], b.data, { empty: 'No ban.' }));
    }
    return every(15000, load);
  },
};
