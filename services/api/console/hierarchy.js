// Areas and their devices as a tree; operators create and delete both.
// Deleting something still in use is refused by the server (409), shown inline.

import { actionButton, api, h, onSubmit, panel } from './api.js';

export async function hierarchyView() {
  const tree = h('ul', { class: 'tree' });

  async function refresh() {
    const [areas, devices, streams] = await Promise.all([
      api('GET', '/areas'), api('GET', '/devices'), api('GET', '/streams'),
    ]);
    const items = areas.map((area) => areaItem(area, devices.filter((device) => device.area_id === area.id), streams, refresh));
    tree.replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, 'No areas yet.')]));
  }

  const form = h('form', { id: 'create-area' },
    h('label', {}, 'Name ', h('input', { name: 'name', required: true })),
    h('label', {}, 'Description ', h('input', { name: 'description' })),
    h('button', { type: 'submit' }, 'Create area'));
  onSubmit(form, async (values) => {
    await api('POST', '/areas', values);
    form.reset();
    await refresh();
  });
  await refresh();
  return h('div', {}, h('h2', {}, 'Areas & devices'), panel('New area', form), tree);
}

function areaItem(area, devices, streams, refresh) {
  const item = h('li', { class: 'area', 'data-area': area.name });
  const heading = h('div', { class: 'row' },
    h('strong', {}, area.name),
    area.description ? h('span', { class: 'hint' }, ` — ${area.description}`) : null,
    actionButton('Delete area', item, async () => {
      if (!window.confirm(`Delete area ${area.name}?`)) return;
      await api('DELETE', `/areas/${area.id}`);
      await refresh();
    }, { class: 'danger' }));
  const children = devices.map((device) => {
    const count = streams.filter((stream) => stream.device_id === device.id).length;
    const row = h('li', { class: 'device', 'data-device': device.name });
    row.append(h('div', { class: 'row' },
      h('span', {}, device.name),
      h('span', { class: 'hint' }, ` ${count} stream${count === 1 ? '' : 's'}`),
      actionButton('Delete device', row, async () => {
        if (!window.confirm(`Delete device ${device.name}?`)) return;
        await api('DELETE', `/devices/${device.id}`);
        await refresh();
      }, { class: 'danger' })));
    return row;
  });
  const form = h('form', { class: 'create-device' },
    h('label', {}, 'New device ', h('input', { name: 'name', required: true, placeholder: 'name' })),
    h('input', { name: 'description', placeholder: 'description', 'aria-label': 'Description' }),
    h('button', { type: 'submit' }, 'Add device'));
  onSubmit(form, async (values) => {
    await api('POST', '/devices', { ...values, area_id: area.id });
    await refresh();
  });
  item.append(heading, h('ul', {}, children, h('li', {}, form)));
  return item;
}
