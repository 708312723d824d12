// The dashboard's shell: sign-in, the navigation built from the page
// modules in ui/pages/ (one file per page; see docs/dashboard.md), and a
// hash router (#/clients?search=lock).

import { h, fill, toast } from './lib/dom.js';
import * as api from './lib/api.js';

const $ = (id) => document.getElementById(id);
let pages = [];
let stopPage = null;
let openapiPaths = null;

/** available reports whether the hub serves every route a page requires. */
function available(page) {
  if (!page.requires || !openapiPaths) return true;
  return page.requires.every((r) => {
    const [method, path] = r.split(' ');
    return openapiPaths[path] && openapiPaths[path][method.toLowerCase()];
  });
}

async function loadPages() {
  const names = await (await fetch('/ui/pages.json')).json();
  const mods = await Promise.all(names.map((n) => import(`./pages/${n}.js`).then((m) => m.default)));
  try { openapiPaths = (await api.get('/api/v1/openapi.json')).paths; } catch { openapiPaths = null; }
  pages = mods.filter(available).sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
  fill($('nav'), pages.map((p) => h('li', h('a', { href: '#/' + p.id, dataset: { page: p.id } }, p.title))));
}

function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { id: path || (pages[0] && pages[0].id), params: new URLSearchParams(query || '') };
}

/** navigate changes the page (and its parameters) through the hash. */
export function navigate(id, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString();
  location.hash = '#/' + id + (q ? '?' + q : '');
}

async function route() {
  if ($('shell').hidden) return;
  const { id, params } = parseHash();
  const page = pages.find((p) => p.id === id) || pages[0];
  if (!page) return;
  if (stopPage) { try { stopPage(); } catch { /* page already gone */ } stopPage = null; }
  for (const a of $('nav').querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === page.id);
  $('page-title').textContent = page.title;
  document.title = `${page.title} · iothub`;
  const root = fill($('page'));
  root.dataset.page = page.id;
  try {
    stopPage = (await page.render(root, { api, params, navigate, toast })) || null;
  } catch (e) {
    fill(root, h('p.error', `This page failed: ${e.message}`));
  }
}

function showLogin(message) {
  if (stopPage) { try { stopPage(); } catch { /* ignore */ } stopPage = null; }
  $('shell').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-password').value = '';
  $('login-username').focus();
}

async function showShell(session) {
  api.setCSRF(session.csrf_token);
  $('who-name').textContent = session.username;
  // A viewer sees no control that changes something (the hub refuses
  // them anyway: 403 read_only_role).
  document.body.classList.toggle('viewer', session.role === 'viewer');
  $('who-role').hidden = session.role !== 'viewer';
  $('login').hidden = true;
  $('shell').hidden = false;
  await loadPages();
  api.get('/api/v1/node').then((n) => { $('node-name').textContent = `node ${n.name} · ${n.version}`; }).catch(() => {});
  await route();
}

async function signIn(ev) {
  ev.preventDefault();
  $('login-submit').disabled = true;
  try {
    const s = await api.post('/api/v1/auth/login', { username: $('login-username').value, password: $('login-password').value });
    await showShell(s);
  } catch (e) {
    $('login-error').textContent = e.message;
  } finally {
    $('login-submit').disabled = false;
  }
}

async function signOut() {
  try { await api.post('/api/v1/auth/logout'); } catch { /* signed out anyway */ }
  api.setCSRF('');
  showLogin('Signed out.');
}

async function boot() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  api.whenSignedOut(() => showLogin('Your session has ended: sign in again.'));
  try {
    await showShell(await api.get('/api/v1/auth/session'));
  } catch {
    showLogin('');
  }
}

boot();
