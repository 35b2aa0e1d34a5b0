// Entry point: the session (login, logout, who am I) and the hash router
// that picks a screen. Secrets live only in the HttpOnly session cookie.

import { api, atLeast, h, onSubmit, showError } from './api.js';
import { streamsView } from './streams.js';
import { hierarchyView } from './hierarchy.js';
import { usersView, keysView } from './people.js';
import { auditView, webhooksView } from './admin.js';

const VIEWS = {
  streams: { render: streamsView, role: 'viewer' },
  hierarchy: { render: hierarchyView, role: 'operator' },
  users: { render: usersView, role: 'admin' },
  keys: { render: keysView, role: 'viewer' },
  audit: { render: auditView, role: 'operator' },
  webhooks: { render: webhooksView, role: 'admin' },
};

const $ = (id) => document.getElementById(id);
let me = null;

function showLogin() {
  me = null;
  $('nav').hidden = true;
  $('who').hidden = true;
  $('view').hidden = true;
  $('view').replaceChildren();
  $('login-view').hidden = false;
  $('login-form').querySelector('input[name="username"]').focus();
}

function showApp(current) {
  me = current;
  $('login-view').hidden = true;
  $('who-name').textContent = `${me.user.username} (${me.user.role})`;
  $('who').hidden = false;
  for (const link of $('nav').querySelectorAll('a')) {
    link.hidden = Boolean(link.dataset.role) && !atLeast(me, link.dataset.role);
  }
  $('nav').hidden = false;
  $('view').hidden = false;
  route();
}

async function route() {
  if (!me) return;
  let name = location.hash.replace(/^#/, '') || 'streams';
  if (!VIEWS[name] || !atLeast(me, VIEWS[name].role)) name = 'streams';
  for (const link of $('nav').querySelectorAll('a')) {
    link.classList.toggle('active', link.dataset.view === name);
  }
  const view = $('view');
  view.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  view.dataset.view = name;
  try {
    const content = await VIEWS[name].render(me);
    if (view.dataset.view === name) view.replaceChildren(content);
  } catch (error) {
    const box = h('div', {});
    view.replaceChildren(box);
    showError(box, error);
  }
}

async function start() {
  onSubmit($('login-form'), async (values, form) => {
    await api('POST', '/auth/login', { username: values.username || '', password: values.password || '' });
    form.password.value = '';
    showApp(await api('GET', '/auth/me'));
  });
  $('logout').addEventListener('click', async () => {
    try {
      await api('POST', '/auth/logout');
    } catch (error) {
      // Already signed out on the server: nothing left to end.
    }
    showLogin();
  });
  document.addEventListener('session-ended', showLogin);
  window.addEventListener('hashchange', route);
  try {
    showApp(await api('GET', '/auth/me'));
  } catch (error) {
    showLogin();
  }
}

start();
