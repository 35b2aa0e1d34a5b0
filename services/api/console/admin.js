// The audit log with its filters, and webhook receivers (admins).

import { EVENTS, actionButton, api, h, onSubmit, panel, secretBox, table, when } from './api.js';

export async function auditView() {
  const results = h('div', { id: 'audit-results' });
  const form = h('form', { id: 'audit-filter' },
    h('label', {}, 'User ', h('input', { name: 'user', placeholder: 'username' })),
    h('label', {}, 'Object ', h('input', { name: 'object', placeholder: 'stream or stream:<id>' })),
    h('label', {}, 'From ', h('input', { name: 'from', type: 'datetime-local' })),
    h('label', {}, 'To ', h('input', { name: 'to', type: 'datetime-local' })),
    h('label', {}, 'At most ', h('input', { name: 'limit', type: 'number', min: 1, max: 1000, value: 100 })),
    h('button', { type: 'submit' }, 'Search'));

  async function search(values) {
    const query = new URLSearchParams();
    for (const name of ['user', 'object', 'limit']) {
      if (values[name]) query.set(name, values[name]);
    }
    // datetime-local is the browser's local time; the API takes unix milliseconds.
    for (const name of ['from', 'to']) {
      if (values[name]) query.set(name, String(new Date(values[name]).getTime()));
    }
    const entries = await api('GET', `/audit?${query}`);
    results.replaceChildren(table(['When', 'Who', 'From', 'Action', 'Object'], entries.map((entry) => h('tr', {
      'data-action': entry.action,
      'data-object': `${entry.object_type}:${entry.object_id}`,
    },
    h('td', {}, when(entry.at)),
    h('td', {}, entry.actor_name),
    h('td', {}, entry.address),
    h('td', {}, entry.action),
    h('td', {}, `${entry.object_type} ${entry.object_id}`))), 'No matching entries.'));
  }

  onSubmit(form, search);
  await search({ limit: '100' });
  return h('div', {}, h('h2', {}, 'Audit log'), panel('Filter', form), results);
}

export async function webhooksView() {
  const notice = h('div', {});
  const list = h('div', {});

  async function refresh() {
    const hooks = await api('GET', '/webhooks');
    list.replaceChildren(table(['URL', 'Events', 'Enabled', 'Created', ''], hooks.map((hook) => {
      const cell = h('td', {});
      cell.append(actionButton('Delete', cell, async () => {
        if (!window.confirm(`Delete the webhook to ${hook.url}?`)) return;
        await api('DELETE', `/webhooks/${hook.id}`);
        await refresh();
      }, { class: 'danger' }));
      return h('tr', {}, h('td', {}, hook.url), h('td', {}, hook.events.join(', ')),
        h('td', {}, hook.enabled ? 'yes' : 'no'), h('td', {}, when(hook.created_at)), cell);
    }), 'No webhooks.'));
  }

  const form = h('form', { id: 'create-webhook' },
    h('label', {}, 'URL ', h('input', { name: 'url', required: true, placeholder: 'http://receiver:8080/hook', size: 40 })),
    h('fieldset', {}, h('legend', {}, 'Events'),
      EVENTS.map((event) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'events', value: event }), ` ${event}`))),
    h('label', {}, 'Secret ', h('input', { name: 'secret', type: 'password', placeholder: 'generated when empty', autocomplete: 'off' })),
    h('button', { type: 'submit' }, 'Create webhook'));
  onSubmit(form, async (values) => {
    const created = await api('POST', '/webhooks', values);
    form.reset();
    notice.replaceChildren(secretBox('Webhook signing secret', created.secret,
      'Shown only now: the receiver checks X-Relay-Signature with it.'));
    await refresh();
  });
  await refresh();
  return h('div', {}, h('h2', {}, 'Webhooks'), panel('New webhook', form), notice, list);
}
