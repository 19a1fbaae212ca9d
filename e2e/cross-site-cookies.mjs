// Cookie mode from another origin, in headless Chromium (API.md Cookies): a page served
// from one origin calls the API on another with `credentials: 'include'`. It cannot read
// the API's cookies, so it takes the CSRF values from the payload (`csrfToken`,
// `refreshCsrfToken`) — and never sees a token. Two deployments:
//
// - same site, another host: app on http://app.example.test:PAGE, API on
//   http://api.example.test:API (both mapped to 127.0.0.1 in the browser), default cookies
//   (SameSite=Lax, host-only: the app cannot read them), a browser with default settings;
// - separate sites: app on http://127.0.0.1:PAGE, API on http://localhost:API, cookies
//   with SameSite=None and Secure (browsers accept Secure cookies from localhost), a
//   browser profile that allows third-party cookies (Chrome's default; a browser that
//   blocks them cannot use cookies across sites at all — see docs/api.md, "Cookie mode").
//
// Usage: node cross-site-cookies.mjs   (CHROMIUM=/path/to/chromium, AUTHQL_BIN=…)

import { createServer } from 'node:http';
import { launchChromium, launchProfile } from './browser.mjs';
import { startServer } from './server.mjs';

const cleanups = [];
async function cleanUp() {
  while (cleanups.length > 0) {
    await cleanups.pop()().catch((error) => console.error('cleanup:', error.message));
  }
}

/** The app's server: one empty page. Returns its port. */
async function startPage() {
  const server = createServer((_, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<!doctype html><title>app</title><p>app</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return server.address().port;
}

/** Runs in the page: the whole flow a browser app would go through. */
async function flow(api) {
  const log = [];
  const post = async (query, variables = {}, csrf) => {
    const headers = { 'content-type': 'application/json' };
    if (csrf) headers['x-csrf-token'] = csrf;
    const response = await fetch(`${api}/graphql`, {
      method: 'POST',
      credentials: 'include',
      headers,
      body: JSON.stringify({ query, variables }),
    });
    return response.json();
  };
  const fields = 'accessToken refreshToken csrfToken refreshCsrfToken user { username }';
  const signup = await post(
    `mutation($i: SignupInput!) { signup(input: $i) { ${fields} } }`,
    { i: { username: `user${Date.now()}`, password: 'cross site password' } },
  );
  log.push({ step: 'signup', body: signup });
  const payload = signup.data?.signup;
  if (!payload) return { log, error: 'signup failed' };
  if (payload.accessToken !== null || payload.refreshToken !== null) {
    return { log, error: 'a token reached the script' };
  }
  // The API's cookies are not this page's: the CSRF values come from the payload only.
  if (document.cookie.includes('csrf_access_token')) {
    return { log, error: 'the page can read the API cookies: not a cross-site setup' };
  }
  const me = await post('{ me { username } }');
  log.push({ step: 'me by cookie', body: me });
  if (me.data?.me?.username !== payload.user.username) {
    return { log, error: 'the access cookie was not sent' };
  }
  const noCsrf = await post('mutation { logout(scope: OTHERS) }');
  log.push({ step: 'mutation without X-CSRF-TOKEN', body: noCsrf });
  if (noCsrf.errors?.[0]?.extensions?.code !== 'CSRF_FAILED') {
    return { log, error: 'a cookie mutation passed without its CSRF value' };
  }
  const withCsrf = await post('mutation { logout(scope: OTHERS) }', {}, payload.csrfToken);
  log.push({ step: 'mutation with csrfToken', body: withCsrf });
  if (withCsrf.data?.logout !== true) return { log, error: 'the mutation with csrfToken failed' };
  const refreshed = await post(`mutation { refresh { ${fields} } }`, {}, payload.refreshCsrfToken);
  log.push({ step: 'refresh with refreshCsrfToken', body: refreshed });
  const renewed = refreshed.data?.refresh;
  if (!renewed?.csrfToken || renewed.csrfToken === payload.csrfToken) {
    return { log, error: 'refresh did not renew the CSRF value' };
  }
  const again = await post('mutation { logout(scope: OTHERS) }', {}, renewed.csrfToken);
  log.push({ step: 'mutation with the renewed csrfToken', body: again });
  if (again.data?.logout !== true) return { log, error: 'the renewed csrfToken was refused' };
  return { log };
}

/** Runs the flow from `pageOrigin` against the API at `apiOrigin` in `context`. */
async function run(name, context, pageOrigin, apiOrigin) {
  const page = await context.newPage();
  await page.goto(`${pageOrigin}/`);
  const result = await page.evaluate(flow, apiOrigin);
  for (const entry of result.log) console.log(`${name}: ${entry.step}: ${JSON.stringify(entry.body)}`);
  if (result.error) throw new Error(`${name}: ${result.error}`);
  await page.close();
}

async function main() {
  const port = await startPage();

  // Same site (example.test), another host.
  const sameSite = await startServer({
    JWT_TOKEN_LOCATION: 'cookies',
    CORS_ALLOWED_ORIGINS: `http://app.example.test:${port}`,
  });
  cleanups.push(sameSite.stop);
  const browser = await launchChromium({ hosts: ['*.example.test'] });
  cleanups.push(() => browser.close());
  const context = await browser.newContext();
  await run(
    'same site',
    context,
    `http://app.example.test:${port}`,
    sameSite.url.replace('127.0.0.1', 'api.example.test'),
  );

  // Separate sites.
  const crossSite = await startServer({
    JWT_TOKEN_LOCATION: 'cookies',
    JWT_COOKIE_SAMESITE: 'None',
    JWT_COOKIE_SECURE: 'true',
    CORS_ALLOWED_ORIGINS: `http://127.0.0.1:${port}`,
  });
  cleanups.push(crossSite.stop);
  const profile = await launchProfile({ thirdPartyCookies: true });
  cleanups.push(profile.close);
  await run(
    'separate sites',
    profile.context,
    `http://127.0.0.1:${port}`,
    crossSite.url.replace('127.0.0.1', 'localhost'),
  );
}

const timer = setTimeout(async () => {
  console.error('FAIL: cross-site cookie test timed out after 60 s');
  await cleanUp();
  process.exit(1);
}, 60_000);

try {
  await main();
  console.log('PASS: cookie mode from another origin and across sites');
} catch (error) {
  console.error(`FAIL: ${error.message}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await cleanUp();
}
