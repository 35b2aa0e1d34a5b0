// Who may watch one stream: its playback policy (public, IP allow-list or
// token), playback tokens with a ready player link, and per-user rights.

import { ApiFailure, RIGHTS, actionButton, api, atLeast, h, onSubmit, panel, table } from './api.js';

/** The stream's rights, or null when the caller may not manage the stream. */
export async function loadRights(stream) {
  try {
    return await api('GET', `/streams/${stream.id}/rights`);
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 403) return null;
    throw error;
  }
}

/** `rights` from loadRights: null hides what only the manage right may change. */
export async function streamAccess(me, stream, rights) {
  return h('div', { class: 'access' },
    await policyPanel(stream, rights !== null),
    tokenPanel(stream),
    rights === null
      ? panel('Rights', h('p', { class: 'hint' }, 'You cannot manage this stream.'))
      : await rightsPanel(me, stream, rights));
}

async function policyPanel(stream, canManage) {
  const view = await api('GET', `/streams/${stream.id}/policy`);
  const state = h('p', { class: 'policy-state' });
  const show = (current) => {
    const allow = current.policy.allow ? ` (${current.policy.allow.length} networks)` : '';
    state.textContent = `Now: ${current.policy.kind}${allow}${current.default ? ' — the server default' : ''}`;
  };
  show(view);
  if (!canManage) return panel('Playback policy', state);
  const kind = h('select', { name: 'kind' },
    ['public', 'ip_allow_list', 'token'].map((value) => h('option', { value }, value)));
  kind.value = view.policy.kind;
  const allow = h('textarea', { name: 'allow', rows: 4, cols: 32, placeholder: '192.0.2.0/24\n2001:db8::/32' });
  allow.value = (view.policy.allow || []).join('\n');
  const allowLabel = h('label', { class: 'allow' }, 'Allowed networks (CIDR, one per line) ', allow);
  const sync = () => {
    allowLabel.hidden = kind.value !== 'ip_allow_list';
  };
  kind.addEventListener('change', sync);
  sync();
  const form = h('form', { class: 'policy-form' },
    h('label', {}, 'Playback ', kind), allowLabel, h('button', { type: 'submit' }, 'Save policy'));
  onSubmit(form, async () => {
    const body = { kind: kind.value };
    if (kind.value === 'ip_allow_list') {
      body.allow = allow.value.split(/[\s,]+/).filter(Boolean);
    }
    show(await api('PUT', `/streams/${stream.id}/policy`, body));
  });
  return panel('Playback policy', state, form);
}

function tokenPanel(stream) {
  const result = h('div', { class: 'token-result' });
  const form = h('form', { class: 'token-form' },
    h('label', {}, 'Valid for (seconds) ', h('input', { name: 'expires_in_secs', type: 'number', min: 1, value: 3600, required: true })),
    h('label', {}, 'Only for client IP ', h('input', { name: 'client_ip', placeholder: 'optional' })),
    h('button', { type: 'submit' }, 'Issue token'));
  onSubmit(form, async (values) => {
    const body = { expires_in_secs: Number(values.expires_in_secs) };
    if (values.client_ip) body.client_ip = values.client_ip;
    const issued = await api('POST', `/streams/${stream.id}/tokens`, body);
    const player = `/player.html?stream=${encodeURIComponent(stream.name)}&token=${encodeURIComponent(issued.token)}`;
    const playlist = new URL(issued.url_path, location.origin).href;
    result.replaceChildren(
      h('p', {}, `Valid until ${new Date(issued.expires_at * 1000).toLocaleString()}. `,
        h('a', { class: 'player-link', href: player, target: '_blank', rel: 'noopener noreferrer' }, 'Open in player')),
      h('label', { class: 'wide' }, 'Playlist URL ', h('input', { class: 'playlist-url', readonly: true, value: playlist })),
    );
  });
  return panel('Playback token', form, result);
}

async function rightsPanel(me, stream, rights) {
  const box = h('div', { class: 'rights' });
  const users = atLeast(me, 'admin') ? await api('GET', '/users') : [];
  const render = async () => {
    const current = await api('GET', `/streams/${stream.id}/rights`);
    box.replaceChildren(rightsTable(stream, current, box, render), rightsForm(stream, users, render));
  };
  box.replaceChildren(rightsTable(stream, rights, box, render), rightsForm(stream, users, render));
  return panel('Rights', box);
}

function rightsTable(stream, rights, box, render) {
  const rows = rights.map((entry) => h('tr', {},
    h('td', {}, entry.username),
    h('td', {}, entry.rights.join(', ') || '—'),
    h('td', {}, actionButton('Remove', box, async () => {
      await api('DELETE', `/streams/${stream.id}/rights/${entry.user_id}`);
      await render();
    }, { class: 'danger' }))));
  return table(['User', 'Rights', ''], rows, 'Only operators and admins see this stream.');
}

function rightsForm(stream, users, render) {
  // Operators and admins hold every right already; only viewers need grants.
  const viewers = users.filter((user) => user.role === 'viewer');
  if (users.length && !viewers.length) return h('p', { class: 'hint' }, 'No viewers to grant rights to yet.');
  const who = viewers.length
    ? h('select', { name: 'user_id', required: true }, viewers.map((user) => h('option', { value: user.id }, user.username)))
    : h('input', { name: 'user_id', required: true, placeholder: 'user id' });
  const form = h('form', { class: 'rights-form' },
    h('label', {}, 'User ', who),
    RIGHTS.map((right) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'rights', value: right }), ` ${right}`)),
    h('button', { type: 'submit' }, 'Set rights'));
  return onSubmit(form, async (values) => {
    await api('PUT', `/streams/${stream.id}/rights/${encodeURIComponent(values.user_id || '')}`, { rights: values.rights });
    await render();
  });
}
