// Load test of the release binary with autocannon: seeds an ADMIN (CLI), a store and 100
// items (GraphQL), then runs each scenario for LOAD_DURATION seconds (default 10) with
// LOAD_CONNECTIONS connections (default 32) and prints requests/s, p50/p99 latency and
// error counts. Exits 1 if any request failed, timed out, was not a 2xx, or answered a
// GraphQL error. Run through e2e/run-load.sh, which sets AUTHQL_BIN to the release build
// (server.mjs reads it when imported). `--markdown` also prints the docs table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { binary, startServer } from './server.mjs';

const DURATION = Number(process.env.LOAD_DURATION ?? 10);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 32);
const ITEMS = 100;
const USERNAME = 'root';
const PASSWORD = 'correct horse battery';
const markdown = process.argv.includes('--markdown');

const PAGE_20 = '{ items(first: 20) { nodes { id name price store { name } } } }';
const ME = '{ me { id username } }';
const PAGE_100 =
  '{ items(first: 100) { nodes { id name description price createdAt updatedAt ' +
  'store { id name } owner { id username } } } }';
const LOGIN =
  'mutation($input: LoginInput!) { login(input: $input) { accessToken } }';

/** One GraphQL request over HTTP; any transport or GraphQL error throws. */
async function gql(url, query, variables = {}, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`${query.slice(0, 60)}…: HTTP ${response.status} ${JSON.stringify(body)}`);
  }
  return body.data;
}

/** `authql create-user --admin` on the database the server will use. */
function createAdmin(databaseUrl) {
  const result = spawnSync(binary, ['create-user', '--username', USERNAME, '--admin'], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    input: `${PASSWORD}\n`,
    encoding: 'utf8',
  });
  if (result.error) throw new Error(`cannot run ${binary}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`create-user exited with ${result.status}: ${result.stderr}`);
  }
}

async function seed(url) {
  const { login } = await gql(url, LOGIN, { input: { username: USERNAME, password: PASSWORD } });
  const token = login.accessToken;
  const { createStore } = await gql(
    url,
    'mutation($input: CreateStoreInput!) { createStore(input: $input) { id } }',
    { input: { name: 'Load store' } },
    token,
  );
  for (let i = 0; i < ITEMS; i++) {
    await gql(
      url,
      'mutation($input: CreateItemInput!) { createItem(input: $input) { id } }',
      {
        input: {
          storeId: createStore.id,
          name: `Item ${String(i).padStart(3, '0')}`,
          description: `Description of item number ${i}`,
          price: `${1 + i}.${String(i % 100).padStart(2, '0')}`,
        },
      },
      token,
    );
  }
  // Checked once, outside the measured runs: the big page is complete.
  const page = await gql(url, PAGE_100, {}, token);
  if (page.items.nodes.length !== ITEMS || page.items.nodes.some((n) => !n.owner || !n.store)) {
    throw new Error(`seeded page is incomplete: ${JSON.stringify(page).slice(0, 300)}`);
  }
  return token;
}

/**
 * A body is good when it is a GraphQL result without errors that contains `marker`. A
 * substring check rather than JSON.parse keeps the load generator (on the same cores as
 * the server) cheap; the shapes were checked once in seed().
 */
function verifier(scenario) {
  return (body) => {
    const ok =
      typeof body === 'string' && body.startsWith('{"data":') && !body.includes('"errors"') &&
      body.includes(scenario.marker);
    if (!ok && scenario.firstBad === undefined) scenario.firstBad = String(body).slice(0, 300);
    return ok;
  };
}

function run(url, scenario, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return autocannon({
    url: `${url}/graphql`,
    title: scenario.name,
    method: 'POST',
    headers,
    body: JSON.stringify({ query: scenario.query, variables: scenario.variables ?? {} }),
    connections: CONNECTIONS,
    duration: DURATION,
    verifyBody: verifier(scenario),
  });
}

const ms = (value) => `${value} ms`;

function summary(name, result) {
  const total = result.requests.total ?? 0;
  const failures = {
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    graphqlErrors: result.mismatches,
  };
  return {
    name,
    requests: total,
    rps: total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ...failures,
    failed: Object.values(failures).some((n) => n > 0) || total === 0,
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'authql-load-'));
  const databaseUrl = `sqlite://${join(dir, 'load.db')}?mode=rwc`;
  let server;
  const rows = [];
  try {
    createAdmin(databaseUrl);
    server = await startServer({
      DATABASE_URL: databaseUrl,
      // The default filter, so one log line per request is part of the cost measured.
      RUST_LOG: process.env.LOAD_RUST_LOG ?? 'info',
    });
    const token = await seed(server.url);
    const scenarios = [
      { name: 'anonymous items(first: 20)', query: PAGE_20, marker: '"nodes":[{' },
      { name: 'authenticated me', query: ME, marker: `"username":"${USERNAME}"`, token },
      {
        name: 'authenticated items(first: 100) + store + owner',
        query: PAGE_100,
        marker: `"owner":{"id":`,
        token,
      },
      {
        name: 'login (Argon2id)',
        query: LOGIN,
        variables: { input: { username: USERNAME, password: PASSWORD } },
        marker: '"accessToken":"',
      },
    ];
    console.error(
      `load: ${binary}, ${CONNECTIONS} connections, ${DURATION} s per scenario, ` +
        `${cpus().length} CPUs shared by server and load generator`,
    );
    for (const scenario of scenarios) {
      const row = summary(scenario.name, await run(server.url, scenario, scenario.token));
      rows.push(row);
      if (scenario.firstBad !== undefined) console.error(`  first bad body: ${scenario.firstBad}`);
      console.log(
        `${row.failed ? 'FAIL' : 'ok  '} ${row.name.padEnd(50)} ` +
          `${row.rps.toFixed(0).padStart(6)} req/s  p50 ${ms(row.p50).padStart(9)}  ` +
          `p99 ${ms(row.p99).padStart(9)}  requests ${row.requests}  errors ${row.errors}  ` +
          `timeouts ${row.timeouts}  non-2xx ${row.non2xx}  graphql errors ${row.graphqlErrors}`,
      );
    }
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  if (markdown) {
    console.log('\n| Scenario | req/s | p50 | p99 | requests | failed |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      const failed = row.errors + row.timeouts + row.non2xx + row.graphqlErrors;
      console.log(
        `| ${row.name} | ${row.rps.toFixed(0)} | ${ms(row.p50)} | ${ms(row.p99)} | ` +
          `${row.requests} | ${failed} |`,
      );
    }
  }
  const failed = rows.filter((row) => row.failed);
  if (failed.length > 0) {
    console.error(`load: ${failed.map((row) => row.name).join(', ')} had failed requests`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(`load: ${error.stack ?? error}`);
  process.exit(1);
});
