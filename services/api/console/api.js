// The management API client and the small DOM helpers every screen uses.
// Everything from the server is put in the page as text, never as HTML.

export const API = '/api/v1';

/** A failed call: HTTP status, the server's message and per-field problems. */
export class ApiFailure extends Error {
  constructor(status, message, fields) {
    super(message);
    this.status = status;
    this.fields = fields || [];
  }
}

const STATUS_HINTS = {
  401: 'Your session has ended: log in again.',
  403: 'You are not allowed to do this.',
  404: 'Not found (deleted meanwhile?).',
  409: 'Conflict: the name or key is taken, or the object is still in use.',
  429: 'Too many attempts: wait a minute.',
};

/** Calls the API with the session cookie; resolves to the JSON body (null for 204). */
export async function api(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (error) {
    throw new ApiFailure(0, 'The server cannot be reached.', []);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      data = null;
    }
  }
  if (!response.ok) {
    const message = (data && data.error) || STATUS_HINTS[response.status] || `HTTP ${response.status}`;
    const failure = new ApiFailure(response.status, message, data && data.fields);
    if (response.status === 401 && path !== '/auth/login') {
      document.dispatchEvent(new CustomEvent('session-ended'));
    }
    throw failure;
  }
  return data;
}

/** Builds an element: `h('a', {href: '#x', class: 'c'}, 'text', child)`. */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Shows what went wrong inside `form`'s `.errors` box and marks the named fields. */
export function showError(form, error) {
  const box = errorBox(form);
  clearError(form);
  const status = error instanceof ApiFailure && error.status ? ` (${error.status})` : '';
  box.append(h('p', {}, `${error.message}${status}`));
  const fields = error instanceof ApiFailure ? error.fields : [];
  if (fields.length) {
    box.append(h('ul', {}, fields.map((item) => h('li', { 'data-field': item.field }, `${item.field}: ${item.message}`))));
    for (const item of fields) {
      // `allow[1]` is about the `allow` input.
      const name = item.field.replace(/\[\d+\]$/, '');
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
  }
  box.hidden = false;
}

export function clearError(form) {
  const box = errorBox(form);
  box.replaceChildren();
  box.hidden = true;
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

function errorBox(form) {
  let box = form.querySelector(':scope > .errors');
  if (!box) {
    box = h('div', { class: 'errors', role: 'alert', hidden: true });
    form.append(box);
  }
  return box;
}

/**
 * Runs `handler(values, form)` on submit, with the button disabled while it
 * runs and any failure shown next to the form.
 */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    clearError(form);
    try {
      await handler(formValues(form), form);
    } catch (error) {
      showError(form, error);
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}

/** Text inputs by name (trimmed; empty ones left out), checkbox groups as arrays. */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    if (element.type === 'checkbox') {
      values[element.name] = values[element.name] || [];
      if (element.checked) values[element.name].push(element.value);
    } else {
      // Passwords are taken as typed; other fields lose stray spaces.
      const value = element.type === 'password' ? element.value : element.value.trim();
      if (value !== '') values[element.name] = value;
    }
  }
  return values;
}

/** A button that runs `action`, reporting failures in `errorTarget` (a form or container). */
export function actionButton(label, errorTarget, action, props) {
  const button = h('button', { type: 'button', ...props }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    clearError(errorTarget);
    try {
      await action();
    } catch (error) {
      showError(errorTarget, error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A secret shown once, with a copy button. */
export function secretBox(label, value, note) {
  const field = h('input', { class: 'secret', readonly: true, value, 'aria-label': label, size: 48 });
  const copy = h('button', { type: 'button', class: 'copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(value);
      copy.textContent = 'Copied';
    } catch (error) {
      copy.textContent = 'Press Ctrl+C';
    }
  });
  return h('div', { class: 'once' }, h('strong', {}, label), field, copy,
    h('p', { class: 'hint' }, note || 'Shown only now: store it somewhere safe.'));
}

export function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'empty' }, empty || 'Nothing yet.');
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((title) => h('th', {}, title)))),
    h('tbody', {}, rows));
}

export function when(millis) {
  return millis ? new Date(millis).toLocaleString() : '—';
}

/** A panel with a heading, for one part of a screen. */
export function panel(title, ...children) {
  return h('section', { class: 'panel' }, h('h3', {}, title), ...children);
}

export const ROLES = ['viewer', 'operator', 'admin'];
export const RIGHTS = ['view_live', 'view_recordings', 'export', 'manage'];
export const EVENTS = ['on_publish', 'on_unpublish', 'on_play'];

/** True when the signed-in user's role is `role` or higher. */
export function atLeast(me, role) {
  return ROLES.indexOf(me.user.role) >= ROLES.indexOf(role);
}
