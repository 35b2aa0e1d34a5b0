// Users (admins create them, change roles, delete) and the signed-in
// user's own API keys (the key is shown once on creation).

import { ROLES, actionButton, api, h, onSubmit, panel, secretBox, showError, table, when } from './api.js';

export async function usersView(me) {
  const list = h('div', {});

  async function refresh() {
    const users = await api('GET', '/users');
    list.replaceChildren(table(['User', 'Role', 'Created', ''], users.map((user) => userRow(me, user, refresh))));
  }

  const form = h('form', { id: 'create-user' },
    h('label', {}, 'Username ', h('input', { name: 'username', required: true, autocomplete: 'off' })),
    h('label', {}, 'Password ', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' })),
    h('label', {}, 'Role ', roleSelect('viewer')),
    h('button', { type: 'submit' }, 'Create user'));
  onSubmit(form, async (values) => {
    await api('POST', '/users', values);
    form.reset();
    await refresh();
  });
  await refresh();
  return h('div', {}, h('h2', {}, 'Users'), panel('New user', form), list,
    h('p', { class: 'hint' }, 'Per-stream rights of viewers are set on each stream (Streams → Manage).'));
}

function roleSelect(current) {
  const select = h('select', { name: 'role' }, ROLES.map((role) => h('option', { value: role }, role)));
  select.value = current;
  return select;
}

function userRow(me, user, refresh) {
  const role = roleSelect(user.role);
  const roleCell = h('td', {}, role);
  role.addEventListener('change', async () => {
    role.disabled = true;
    try {
      await api('PATCH', `/users/${user.id}`, { role: role.value });
      await refresh();
    } catch (error) {
      role.value = user.role;
      role.disabled = false;
      showError(roleCell, error);
    }
  });
  const actions = h('td', {});
  if (user.id === me.user.id) {
    actions.append(h('span', { class: 'hint' }, 'you'));
  } else {
    actions.append(actionButton('Delete', actions, async () => {
      if (!window.confirm(`Delete user ${user.username}?`)) return;
      await api('DELETE', `/users/${user.id}`);
      await refresh();
    }, { class: 'danger' }));
  }
  return h('tr', { 'data-user': user.username },
    h('td', {}, user.username), roleCell, h('td', {}, when(user.created_at)), actions);
}

export async function keysView() {
  const notice = h('div', {});
  const list = h('div', {});

  async function refresh() {
    const keys = await api('GET', '/api-keys');
    list.replaceChildren(table(['Name', 'Created', 'Expires', ''], keys.map((key) => {
      const cell = h('td', {});
      cell.append(actionButton('Revoke', cell, async () => {
        if (!window.confirm(`Revoke API key ${key.name}? Programs using it will be refused.`)) return;
        await api('DELETE', `/api-keys/${key.id}`);
        await refresh();
      }, { class: 'danger' }));
      return h('tr', { 'data-key': key.name }, h('td', {}, key.name), h('td', {}, when(key.created_at)),
        h('td', {}, key.expires_at ? when(key.expires_at) : 'never'), cell);
    }), 'No API keys.'));
  }

  const form = h('form', { id: 'create-key' },
    h('label', {}, 'Name ', h('input', { name: 'name', required: true })),
    h('label', {}, 'Expires in (seconds) ', h('input', { name: 'expires_in_secs', type: 'number', min: 1, placeholder: 'never' })),
    h('button', { type: 'submit' }, 'Create API key'));
  onSubmit(form, async (values) => {
    const body = { name: values.name || '' };
    if (values.expires_in_secs) body.expires_in_secs = Number(values.expires_in_secs);
    const created = await api('POST', '/api-keys', body);
    form.reset();
    notice.replaceChildren(secretBox(`API key ${created.name}`, created.key,
      'Shown only now. Send it as "Authorization: Bearer <key>".'));
    await refresh();
  });
  await refresh();
  return h('div', {}, h('h2', {}, 'API keys'), panel('New API key', form), notice, list);
}
