// Streams: the list with each stream's live status, creating push or camera streams
// (the key is shown once), rotating keys and deleting. The access screen of
// one stream (policy, tokens, rights) is in access.js.

import { actionButton, api, atLeast, h, onSubmit, panel, secretBox, showError, table, when } from './api.js';
import { loadRights, streamAccess } from './access.js';

export async function streamsView(me) {
  const root = h('div', { class: 'streams' });
  const notice = h('div', { id: 'stream-notice' });
  const list = h('div', {});
  let opened = null;

  async function refresh() {
    const [streams, devices] = await Promise.all([api('GET', '/streams'), api('GET', '/devices')]);
    const deviceNames = new Map(devices.map((device) => [device.id, device.name]));
    const rows = streams.map((stream) => streamRow(me, stream, deviceNames, {
      opened: opened === stream.id,
      toggle: () => {
        opened = opened === stream.id ? null : stream.id;
        refresh();
      },
      keyShown: (key, label) => notice.replaceChildren(secretBox(label, key)),
      refresh,
    }));
    list.replaceChildren(table(['Name', 'Kind', 'Device', 'Status', 'Created', ''], rows.flat(), 'No streams yet.'));
    if (atLeast(me, 'operator')) updateDeviceChoices(create, devices);
  }

  const create = createForm(async (stream) => {
    notice.replaceChildren(
      stream.stream_key
        ? secretBox(`Stream key of ${stream.name}`, stream.stream_key, 'Shown only now: put it in your encoder.')
        : h('p', { class: 'ok' }, `Camera stream ${stream.name} created.`),
    );
    opened = stream.id;
    await refresh();
  });
  await refresh();
  root.append(h('h2', {}, 'Streams'));
  if (atLeast(me, 'operator')) root.append(panel('New stream', create));
  root.append(notice, list);
  return root;
}

function streamRow(me, stream, deviceNames, ui) {
  const row = h('tr', { 'data-stream': stream.name },
    h('td', {}, h('a', { href: `/player.html?stream=${encodeURIComponent(stream.name)}`, target: '_blank', rel: 'noopener' }, stream.name)),
    h('td', {}, stream.kind),
    h('td', {}, deviceNames.get(stream.device_id) || '—'),
    statusCell(stream),
    h('td', {}, when(stream.created_at)),
    h('td', {}, h('button', { type: 'button', class: 'manage', onclick: ui.toggle }, ui.opened ? 'Close' : 'Manage')),
  );
  if (!ui.opened) return [row];
  const detail = h('td', { colspan: 6 }, h('p', { class: 'loading' }, 'Loading…'));
  streamDetail(me, stream, ui)
    .then((content) => detail.replaceChildren(content))
    .catch((error) => {
      detail.replaceChildren();
      showError(detail, error);
    });
  return [row, h('tr', { class: 'detail' }, detail)];
}

/** Filled in when the stream's status arrives; a failure leaves a dash, not an error. */
function statusCell(stream) {
  const cell = h('td', { class: 'status', 'data-status': 'loading' }, '…');
  api('GET', `/streams/${stream.id}/status`)
    .then((status) => {
      cell.dataset.status = status.state;
      cell.textContent = describeStatus(status);
      if (status.advice && status.advice.length) cell.title = status.advice.join('\n');
    })
    .catch(() => {
      cell.dataset.status = 'unknown';
      cell.textContent = '—';
    });
  return cell;
}

function describeStatus(status) {
  const parts = [status.state];
  if (status.state === 'live') {
    if (status.resolution) parts.push(`${status.resolution.width}x${status.resolution.height}`);
    if (status.bitrate_average_bps) parts.push(`${(status.bitrate_average_bps / 1e6).toFixed(1)} Mb/s`);
  }
  if (status.since_ms) parts.push(`since ${new Date(status.since_ms).toLocaleTimeString()}`);
  return parts.join(' · ');
}

async function streamDetail(me, stream, ui) {
  const rights = await loadRights(stream);
  // Without the manage right there is nothing to change, only tokens to issue.
  if (rights === null) return h('div', { class: 'stream-detail' }, await streamAccess(me, stream, rights));
  const actions = h('div', { class: 'actions' });
  if (stream.kind === 'push') {
    actions.append(actionButton('Rotate key', actions, async () => {
      if (!window.confirm(`New key for ${stream.name}? Encoders using the old key will be refused.`)) return;
      const rotated = await api('POST', `/streams/${stream.id}/rotate-key`);
      ui.keyShown(rotated.stream_key, `New stream key of ${stream.name}`);
    }, { class: 'rotate' }));
    actions.append(actionButton('Disconnect publisher', actions, async () => {
      if (!window.confirm(`Drop the publisher of ${stream.name} now? It may reconnect with a valid key.`)) return;
      await api('POST', `/streams/${stream.id}/disconnect`);
      actions.dataset.disconnected = 'yes';
    }, { class: 'disconnect' }));
  }
  actions.append(actionButton('Delete stream', actions, async () => {
    if (!window.confirm(`Delete stream ${stream.name}?`)) return;
    await api('DELETE', `/streams/${stream.id}`);
    await ui.refresh();
  }, { class: 'danger delete' }));
  return h('div', { class: 'stream-detail' }, actions, await streamAccess(me, stream, rights));
}

function createForm(created) {
  const camera = h('fieldset', { class: 'camera', hidden: true },
    h('legend', {}, 'Camera (RTSP; never shown again)'),
    h('label', {}, 'URL ', h('input', { name: 'camera.url', placeholder: 'rtsp://camera/stream' })),
    h('label', {}, 'Username ', h('input', { name: 'camera.username', autocomplete: 'off' })),
    h('label', {}, 'Password ', h('input', { name: 'camera.password', type: 'password', autocomplete: 'new-password' })),
  );
  const kind = h('select', { name: 'kind' }, h('option', { value: 'push' }, 'push (RTMP/RTSP publish)'), h('option', { value: 'camera' }, 'camera (pull)'));
  kind.addEventListener('change', () => {
    camera.hidden = kind.value !== 'camera';
  });
  const form = h('form', { id: 'create-stream' },
    h('label', {}, 'Name ', h('input', { name: 'name', required: true, pattern: '[a-z0-9_\\-]{1,64}', title: '1-64 of a-z, 0-9, - and _' })),
    h('label', {}, 'Kind ', kind),
    h('label', {}, 'Device ', h('select', { name: 'device_id' }, h('option', { value: '' }, '(none)'))),
    camera,
    h('button', { type: 'submit' }, 'Create'),
  );
  return onSubmit(form, async (values) => {
    const body = { name: values.name || '', kind: values.kind };
    if (values.device_id) body.device_id = values.device_id;
    if (values.kind === 'camera') {
      body.camera = { url: values['camera.url'] || '' };
      if (values['camera.username']) body.camera.username = values['camera.username'];
      if (values['camera.password']) body.camera.password = values['camera.password'];
    }
    const stream = await api('POST', '/streams', body);
    form.reset();
    camera.hidden = true;
    await created(stream);
  });
}

function updateDeviceChoices(form, devices) {
  const select = form.querySelector('select[name="device_id"]');
  const chosen = select.value;
  select.replaceChildren(h('option', { value: '' }, '(none)'),
    devices.map((device) => h('option', { value: device.id }, device.name)));
  select.value = devices.some((device) => device.id === chosen) ? chosen : '';
}
