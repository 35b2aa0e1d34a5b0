// Drives the web console in headless Chromium like an operator would: log
// in, read the streams' live status, create a push stream and read the key
// it shows once, switch the stream to token playback, issue a token, provoke
// a 422 and a 409, look the create up in the audit log, log out. Prints one
// JSON line of what the page showed.
//
// usage: node console.mjs BASE_URL ADMIN_PASSWORD STREAM_NAME
// Exit code 0 whenever a report was printed; 2 when the harness itself failed.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_TIMEOUT_MS = 15000;

const [, , baseUrl, password, streamName] = process.argv;
if (!baseUrl || !password || !streamName) {
  console.error('usage: node console.mjs BASE_URL ADMIN_PASSWORD STREAM_NAME');
  process.exit(2);
}

function fail(message) {
  console.log(JSON.stringify({ harness_error: String(message) }));
  process.exit(2);
}

// Hard stop: whatever happens in the browser, this process ends by itself.
const watchdog = setTimeout(() => fail('no report after 90s'), 90000);

async function textOf(page, selector) {
  await page.waitForSelector(selector, { state: 'visible' });
  return (await page.textContent(selector)).trim();
}

async function run(page, report) {
  await page.goto(`${baseUrl}/console`);
  await page.fill('#login-form input[name="username"]', 'admin');
  await page.fill('#login-form input[name="password"]', password);
  await page.click('#login-form button[type="submit"]');
  report.signed_in_as = await textOf(page, '#who-name');

  // Each stream's status arrives on its own; collect them once all have.
  await page.waitForSelector('td.status');
  await page.waitForFunction(() => !document.querySelector('td.status[data-status="loading"]'));
  report.statuses = await page.$$eval('tr[data-stream]', (rows) => Object.fromEntries(rows.map((row) => {
    const cell = row.querySelector('td.status');
    return [row.dataset.stream, { state: cell.dataset.status, text: cell.textContent }];
  })));

  // Create a push stream; its key is shown once.
  await page.fill('#create-stream input[name="name"]', streamName);
  await page.click('#create-stream button[type="submit"]');
  await page.waitForSelector('#stream-notice input.secret');
  report.stream_key = await page.inputValue('#stream-notice input.secret');
  report.key_label = await textOf(page, '#stream-notice strong');

  // The new stream's access panel opens by itself.
  const detail = `tr.detail`;
  await page.waitForSelector(`tr[data-stream="${streamName}"]`);
  await page.selectOption(`${detail} .policy-form select[name="kind"]`, 'token');
  await page.click(`${detail} .policy-form button[type="submit"]`);
  await page.waitForFunction(() => document.querySelector('.policy-state')?.textContent.includes('Now: token'));
  report.policy_state = await textOf(page, `${detail} .policy-state`);

  // An out-of-range lifetime: the 422's per-field message appears next to the form.
  await page.fill(`${detail} .token-form input[name="expires_in_secs"]`, '999999999');
  await page.click(`${detail} .token-form button[type="submit"]`);
  report.token_field_error = await textOf(page, `${detail} .token-form .errors li[data-field="expires_in_secs"]`);

  await page.fill(`${detail} .token-form input[name="expires_in_secs"]`, '600');
  await page.click(`${detail} .token-form button[type="submit"]`);
  await page.waitForSelector(`${detail} .token-result a.player-link`);
  report.player_link = await page.getAttribute(`${detail} .token-result a.player-link`, 'href');
  report.playlist_url = await page.inputValue(`${detail} .token-result .playlist-url`);
  report.token_form_errors_hidden = await page.isHidden(`${detail} .token-form .errors`);

  // The publisher can be dropped from the console (after a confirmation); the call is audited.
  page.once('dialog', (dialog) => dialog.accept());
  await page.click(`${detail} button.disconnect`);
  await page.waitForSelector(`${detail} .actions[data-disconnected="yes"]`);
  report.disconnected = true;

  // The same name again: the 409 is shown next to the create form.
  await page.fill('#create-stream input[name="name"]', streamName);
  await page.click('#create-stream button[type="submit"]');
  report.duplicate_error = await textOf(page, '#create-stream .errors');

  await page.click('nav a[data-view="audit"]');
  await page.waitForSelector('#audit-results tr[data-action="stream.create"]');
  report.audit = await page.$$eval('#audit-results tbody tr', (rows) =>
    rows.map((row) => ({ action: row.dataset.action, object: row.dataset.object })));

  report.browser_storage_items = await page.evaluate(() => localStorage.length + sessionStorage.length);
  report.session_cookie_visible_to_script = await page.evaluate(() => document.cookie.includes('relay_session'));

  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  report.logged_out = await page.isHidden('#nav');
}

async function main() {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (err) {
    fail(`dependencies missing (run npm ci in tests/browser): ${err.message}`);
  }
  const report = { page_errors: [], csp_violations: [] };
  // launch() gives the browser a fresh temporary profile and removes it on close.
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('pageerror', (err) => report.page_errors.push(err.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && message.text().includes('Content Security Policy')) {
        report.csp_violations.push(message.text());
      }
    });
    try {
      await run(page, report);
    } catch (err) {
      // Report how far the walk got instead of failing without a trace.
      report.step_error = String(err && err.message ? err.message : err).split('\n')[0];
    }
    console.log(JSON.stringify(report));
  } finally {
    await browser.close().catch(() => {});
  }
}

main()
  .then(() => {
    clearTimeout(watchdog);
    process.exit(0);
  })
  .catch((err) => fail(err && err.stack ? err.stack : err));
