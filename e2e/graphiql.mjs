// Browser test of GraphiQL, in Debian's headless Chromium driven by playwright-core.
//
// Starts the server (see server.mjs), opens GraphiQL at `/`, runs `signup`, puts
// `Authorization: Bearer <token>` in the header editor, runs `{ me { username } }` and
// checks the answer on screen, then runs an `itemEvents` subscription over the WebSocket
// (the token from the Headers tab in `connection_init`) and sees an item created over
// HTTP appear in the result pane; then one run right after typing, and one in a page where
// WebSockets are blocked (it streams over HTTP as SSE). Every request to another origin is blocked and fails the
// test, so GraphiQL is shown to work offline (no CDN). Any script error or
// Content-Security-Policy violation in the page fails it too.
//
// Usage: node graphiql.mjs   (CHROMIUM=/path/to/chromium, AUTHQL_BIN=/path/to/authql)
// Writes a screenshot to e2e/artifacts/graphiql.png.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';
import { binary, startServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const screenshot = join(artifacts, 'graphiql.png');
const failureShot = join(artifacts, 'graphiql-failure.png');

const USERNAME = 'browser_user';
const PASSWORD = 'browser password 1';
const STEP_TIMEOUT = 20_000;

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const RESPONSE = '.graphiql-response .CodeMirror';
// The visible one of the variables/headers editors under the query editor.
const TOOL_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';

class TestFailure extends Error {}

/** What must be undone however the test ends (browser, then server), newest first. */
const cleanups = [];

async function cleanUp() {
  while (cleanups.length > 0) {
    await cleanups.pop()().catch((error) => console.error('cleanup:', error.message));
  }
}

function fail(message) {
  throw new TestFailure(message);
}

/** Clicks into a CodeMirror editor and replaces its whole text (no auto-closed brackets). */
async function replaceEditorText(page, selector, text) {
  const editor = page.locator(selector).first();
  await editor.waitFor({ state: 'visible', timeout: STEP_TIMEOUT });
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
  // The editor's own model must hold exactly what was typed.
  const value = await editor.evaluate((el) => el.CodeMirror?.getValue());
  if (value !== undefined && value.trim() !== text.trim()) {
    fail(`editor ${selector} holds ${JSON.stringify(value)} instead of ${JSON.stringify(text)}`);
  }
}

/**
 * Runs the operation in the query editor, waits until the result pane shows `expectText`
 * on screen, and returns the pane's whole text (from the editor's model: a long line may
 * be scrolled out of view).
 */
async function run(page, expectText) {
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator(RESPONSE).first();
  try {
    await response.locator('.CodeMirror-code').filter({ hasText: expectText }).waitFor({
      timeout: STEP_TIMEOUT,
    });
  } catch {
    const shown = await response.innerText().catch(() => '(no result pane)');
    fail(`result pane never showed ${JSON.stringify(expectText)}; it shows:\n${shown}`);
  }
  return response.evaluate((el) => el.CodeMirror?.getValue() ?? el.innerText);
}

/** POSTs one GraphQL operation to the server (outside the page) and returns `data`. */
async function gql(url, token, query, variables = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) fail(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function createItem(url, token, storeId, name) {
  await gql(
    url,
    token,
    'mutation($input: CreateItemInput!) { createItem(input: $input) { id } }',
    { input: { storeId, name, price: '1.00' } },
  );
}

/**
 * Creates items named `label N` over HTTP until one is shown in `page`'s result pane (the
 * server may take a subscription a moment after it was sent).
 */
async function untilShown(page, url, token, storeId, label) {
  const response = page.locator(RESPONSE).first().locator('.CodeMirror-code');
  const shown = response.filter({ hasText: label });
  for (let attempt = 1; ; attempt += 1) {
    await createItem(url, token, storeId, `${label} ${attempt}`);
    try {
      await shown.waitFor({ timeout: 1_000 });
      return;
    } catch {
      if (attempt >= 10) fail(`no itemEvents result "${label}" shown:\n${await response.innerText()}`);
    }
  }
}

/** A store to put items in: made by an admin created with the CLI on the same database. */
async function makeStore(url, databaseUrl) {
  const created = spawnSync(binary, ['create-user', '--username', 'root', '--admin'], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    input: `${PASSWORD}\n`,
    encoding: 'utf8',
  });
  if (created.status !== 0) fail(`create-user failed: ${created.stderr}`);
  const login = await gql(
    url,
    null,
    'mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { accessToken } }',
    { u: 'root', p: PASSWORD },
  );
  const store = await gql(
    url,
    login.login.accessToken,
    'mutation { createStore(input: {name: "GraphiQL store"}) { id } }',
  );
  return store.createStore.id;
}

/** GraphiQL against a server in cookie mode: login, then an admin-only mutation. */
async function cookieMode(browser, problems) {
  const dataDir = mkdtempSync(join(tmpdir(), 'authql-graphiql-cookies-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = `sqlite://${join(dataDir, 'cookies.db')}?mode=rwc`;
  const { url, stop } = await startServer({
    DATABASE_URL: databaseUrl,
    JWT_TOKEN_LOCATION: 'cookies',
  });
  cleanups.push(stop);
  const created = spawnSync(binary, ['create-user', '--username', 'root', '--admin'], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    input: `${PASSWORD}\n`,
    encoding: 'utf8',
  });
  if (created.status !== 0) fail(`create-user failed: ${created.stderr}`);
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error (cookie mode): ${error.message}`));
  await page.goto(`${url}/`, { waitUntil: 'load' });
  await page.locator(QUERY_EDITOR).first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT });
  await replaceEditorText(
    page,
    QUERY_EDITOR,
    `mutation { login(input: {username: "root", password: "${PASSWORD}"}) { csrfToken user { role } } }`,
  );
  await run(page, '"csrfToken"');
  const cookies = await context.cookies(url);
  if (!cookies.some((c) => c.name === 'access_token_cookie')) {
    fail(`no session cookies after login: ${cookies.map((c) => c.name)}`);
  }
  await replaceEditorText(page, QUERY_EDITOR, 'mutation { createStore(input: {name: "Cookie store"}) { name } }');
  const created2 = page.waitForRequest(
    (r) => r.method() === 'POST' && /createStore/.test(r.postData() ?? ''),
    { timeout: STEP_TIMEOUT },
  );
  const text = await run(page, '"createStore"');
  const csrf = (await created2).headers()['x-csrf-token'];
  const expected = cookies.find((c) => c.name === 'csrf_access_token')?.value;
  if (!csrf || csrf !== expected) fail(`createStore sent X-CSRF-TOKEN ${JSON.stringify(csrf)}`);
  if (!text.includes('"Cookie store"')) fail(`createStore in cookie mode failed:\n${text}`);
  console.log('cookie mode ok: GraphiQL sent X-CSRF-TOKEN from the csrf_access_token cookie');
  await context.close();
}

async function main() {
  rmSync(failureShot, { force: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'authql-graphiql-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const databaseUrl = `sqlite://${join(dataDir, 'graphiql.db')}?mode=rwc`;
  const { url, stop } = await startServer({ DATABASE_URL: databaseUrl });
  cleanups.push(stop);
  const storeId = await makeStore(url, databaseUrl);
  const origin = new URL(url).origin;
  const offsite = [];
  const problems = [];
  let page;
  try {
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // Only this server's origin may be reached: anything else is recorded and aborted.
    await context.route('**/*', (route) => {
      const requested = route.request().url();
      if (new URL(requested).origin === origin) return route.continue();
      offsite.push(requested);
      return route.abort('blockedbyclient');
    });
    // CSP violations are reported to the page as events; collect them.
    await context.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
      });
    });
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
    });

    const landing = await page.goto(`${url}/`, { waitUntil: 'load' });
    if (landing?.status() !== 200) fail(`GET / answered ${landing?.status()}`);
    const csp = landing.headers()['content-security-policy'] ?? '';
    if (!csp.includes("script-src 'self'")) fail(`GET / has no strict CSP: ${JSON.stringify(csp)}`);
    await page.locator(QUERY_EDITOR).first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT });

    // 1. Sign up and read the access token from the result pane.
    await replaceEditorText(
      page,
      QUERY_EDITOR,
      `mutation { signup(input: {username: "${USERNAME}", password: "${PASSWORD}"}) { accessToken } }`,
    );
    const signupText = await run(page, '"accessToken"');
    let token;
    try {
      token = JSON.parse(signupText).data.signup.accessToken;
    } catch {
      fail(`signup result has no data.signup.accessToken:\n${signupText}`);
    }
    if (typeof token !== 'string' || token.length < 20) fail(`odd access token: ${token}`);
    console.log(`signup ok: access token of ${token.length} characters`);

    // 2. Put the bearer token in the header editor.
    const headersTab = page.locator('.graphiql-editor-tools').getByRole('button', {
      name: 'Headers',
      exact: true,
    });
    await headersTab.click({ timeout: STEP_TIMEOUT });
    await replaceEditorText(page, TOOL_EDITOR, JSON.stringify({ Authorization: `Bearer ${token}` }));
    console.log('headers set');

    // 3. Ask who we are, and check the answer on screen.
    await replaceEditorText(page, QUERY_EDITOR, '{ me { username } }');
    const meRequest = page.waitForRequest(
      (r) => r.method() === 'POST' && r.url() === `${url}/graphql` && /\bme\b/.test(r.postData() ?? ''),
      { timeout: STEP_TIMEOUT },
    );
    const meText = await run(page, `"username": "${USERNAME}"`);
    const authorization = (await meRequest).headers()['authorization'];
    if (authorization !== `Bearer ${token}`) {
      fail(`the me request carried Authorization ${JSON.stringify(authorization)}`);
    }
    const me = JSON.parse(meText);
    if (me.errors || me.data?.me?.username !== USERNAME) fail(`unexpected me result:\n${meText}`);
    console.log(`me ok: ${JSON.stringify(me.data)}`);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: screenshot });
    console.log(`screenshot: ${screenshot}`);

    // 4. GET /graphql from a browser is GraphiQL too, with the headers kept (persisted).
    // GraphiQL writes its localStorage after a debounce: wait for it before reloading.
    await page.waitForFunction(
      (bearer) =>
        ['graphiql:headers', 'graphiql:tabState'].every((key) =>
          (localStorage.getItem(key) ?? '').includes(bearer),
        ),
      `Bearer ${token}`,
      { timeout: STEP_TIMEOUT },
    );
    const again = await page.goto(`${url}/graphql`, { waitUntil: 'load' });
    if (again?.status() !== 200) fail(`GET /graphql (text/html) answered ${again?.status()}`);
    await page.locator(QUERY_EDITOR).first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT });
    await headersTab.click({ timeout: STEP_TIMEOUT });
    const kept = await page
      .locator(TOOL_EDITOR)
      .first()
      .evaluate((el) => el.CodeMirror?.getValue() ?? el.innerText);
    if (!kept.includes(`Bearer ${token}`)) fail(`headers were not persisted: ${kept}`);
    console.log('GET /graphql serves GraphiQL, headers persisted');

    // 5. A subscription runs over the WebSocket, with the Headers tab's token in
    //    connection_init, and shows an event caused elsewhere.
    const sockets = [];
    const sent = [];
    page.on('websocket', (socket) => {
      sockets.push(socket.url());
      socket.on('framesent', (frame) => sent.push(String(frame.payload)));
    });
    await replaceEditorText(page, QUERY_EDITOR, 'subscription { itemEvents { kind item { name } } }');
    // GraphiQL picks the transport from the document it parsed, which it does a moment
    // after typing stops (a person never runs faster than that).
    await page.waitForTimeout(1_000);
    await page.locator('.graphiql-execute-button').click();
    const waitUntil = async (what, test) => {
      const deadline = Date.now() + STEP_TIMEOUT;
      while (!test()) {
        if (Date.now() > deadline) fail(`${what}; sockets ${sockets}, frames sent ${sent}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await waitUntil('no subscribe over /graphql/ws', () =>
      sent.some((frame) => frame.includes('"subscribe"')),
    );
    if (!sockets.every((socket) => socket.endsWith('/graphql/ws'))) {
      fail(`the subscription went to ${sockets}`);
    }
    const init = sent.find((frame) => frame.includes('"connection_init"')) ?? '';
    if (!init.includes(`Bearer ${token}`)) fail(`connection_init without the token: ${init}`);
    await untilShown(page, url, token, storeId, 'live from elsewhere');
    await page.screenshot({ path: join(artifacts, 'graphiql-subscription.png') });
    console.log('subscription ok: an item created over HTTP appeared in GraphiQL');

    // 5b. Typed and run at once, before GraphiQL has parsed it: it runs (as a stream over
    //     HTTP, SSE), never "not supported on this transport".
    await page.locator('.graphiql-execute-button').click(); // stops the running one
    await replaceEditorText(page, QUERY_EDITOR, 'subscription Quick { itemEvents { kind item { name } } }');
    await page.locator('.graphiql-execute-button').click();
    await untilShown(page, url, token, storeId, 'typed and run at once');
    await page.locator('.graphiql-execute-button').click();
    console.log('subscription run right after typing ok');

    // 5c. Where WebSockets are blocked, a subscription streams over HTTP as SSE.
    const blocked = await context.newPage();
    blocked.on('pageerror', (error) => problems.push(`page error (no sockets): ${error.message}`));
    await blocked.addInitScript(() => {
      window.WebSocket = function () {
        throw new Error('WebSockets are blocked on this network');
      };
    });
    await blocked.goto(`${url}/`, { waitUntil: 'load' });
    await blocked.locator('.graphiql-editor-tools').getByRole('button', { name: 'Headers', exact: true }).click({ timeout: STEP_TIMEOUT });
    await replaceEditorText(blocked, TOOL_EDITOR, JSON.stringify({ Authorization: `Bearer ${token}` }));
    await replaceEditorText(blocked, QUERY_EDITOR, 'subscription { itemEvents { kind item { name } } }');
    await blocked.waitForTimeout(1_000); // parsed: GraphiQL knows it is a subscription
    const streamed = blocked.waitForRequest(
      (r) => r.method() === 'POST' && (r.headers()['accept'] ?? '').includes('text/event-stream') && /itemEvents/.test(r.postData() ?? ''),
      { timeout: STEP_TIMEOUT },
    );
    await blocked.locator('.graphiql-execute-button').click();
    const authorized = (await streamed).headers()['authorization'];
    if (authorized !== `Bearer ${token}`) fail(`the stream carried Authorization ${JSON.stringify(authorized)}`);
    await untilShown(blocked, url, token, storeId, 'streamed without a socket');
    await blocked.screenshot({ path: join(artifacts, 'graphiql-sse.png') });
    await blocked.close();
    console.log('subscription without WebSockets ok: streamed over SSE');

    const violations = await page.evaluate(() => window.__cspViolations);
    problems.push(...violations.map((v) => `CSP violation: ${v}`));

    // 6. Cookie mode: after a `login` typed into GraphiQL, a mutation typed there works —
    //    GraphiQL repeats the CSRF cookie in X-CSRF-TOKEN itself (no CSRF_FAILED).
    await cookieMode(browser, problems);
  } catch (error) {
    if (page) {
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: failureShot }).then(
        () => console.error(`screenshot of the failure: ${failureShot}`),
        () => {},
      );
    }
    if (problems.length > 0) console.error(`problems in the page:\n  ${problems.join('\n  ')}`);
    throw error;
  } finally {
    await cleanUp();
  }
  if (offsite.length > 0) {
    fail(`the page tried to reach other origins (it must work offline):\n  ${offsite.join('\n  ')}`);
  }
  if (problems.length > 0) fail(`problems in the page:\n  ${problems.join('\n  ')}`);
}

const timer = setTimeout(async () => {
  console.error('FAIL: GraphiQL browser test timed out after 120 s');
  await cleanUp();
  process.exit(1);
}, 120_000);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    console.error(`FAIL: interrupted by ${signal}`);
    await cleanUp();
    process.exit(1);
  });
}

try {
  await main();
  clearTimeout(timer);
  console.log('PASS: GraphiQL browser test');
} catch (error) {
  clearTimeout(timer);
  if (error instanceof TestFailure) {
    console.error(`FAIL: ${error.message}`);
  } else {
    console.error('FAIL: GraphiQL browser test:', error);
  }
  process.exitCode = 1;
}
