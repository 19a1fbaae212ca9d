// The load harness (issue 9): authql against the stack's limit, side by side in one run.
//
// Servers are pinned to CPU 0, wrk to CPU 1 (-t1 -c64; -c8 for logins), each scenario gets
// a 2 s warm-up and ROUNDS measured runs of SECONDS (defaults 2 and 10), and every answer
// is checked (status 200, the expected data, no "errors"). Scenarios:
//
//   limit        bare axum + HS256 verify + precomputed body (benches/load/limit.rs)
//   read         authql, `{ items(first: 20) { nodes { id name price owner { username } } } }`
//                with a bearer token (the response cache on, as shipped)
//   read-missed  the same with RESPONSE_CACHE=false, rotating over 50 users' tokens and 80
//                `after` cursors, so no answer is ever reused
//   anonymous    authql, the page without `owner`, no token
//   anonymous-owners  the page with `owner`, no token: a partial result, one
//                AUTHORIZATION_REQUIRED per owner (what a shop's public page asks)
//   login        authql `login` vs the limit's bare Argon2id handler, 8 connections
//   storm        `read` while a login storm runs (c8): its p99 against the idle one
//
// and authql's RSS at the end. Run by benches/load/run.sh; the table it prints is the one
// in docs/benchmarks.md.
//
// PROFILE=read (or read-missed, anonymous, login) records authql with `perf record -g`
// during that scenario's first measured round, into PROFILE_OUT (default perf.data).
// ONLY=missed runs the cache-missed read alone; ONLY=login the two logins, with their
// ratio; ONLY=documents the limit and the cache-missed read by text and by `documentId`
// (trusted documents, validated once at load); ONLY=samework the cache-missed read against
// the same-work limit on SQLite (issue 23 §2). Each round also reports how busy the
// server's CPU was (from /proc): below 100 % it waited rather than computed.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const AUTHQL = process.env.AUTHQL_BIN ?? join(root, 'target', 'release', 'authql');
const LIMIT = process.env.LIMIT_BIN ?? join(root, 'target', 'release', 'examples', 'limit');
const SECONDS = Number(process.env.SECONDS_PER_RUN ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const SECRET = 'harness-secret-harness-secret-harness-secret!';
const PASSWORD = 'correct horse battery';
const PAGE = '{ items(first: 20) { nodes { id name price owner { username } } } }';
const PAGE_AFTER =
  'query($a: String) { items(first: 20, after: $a) { nodes { id name price owner { username } } } }';
const PUBLIC_PAGE = '{ items(first: 20) { nodes { id name price } } }';
const pinned = cpus().length >= 2;
if (!pinned) console.error('harness: fewer than 2 CPUs: servers and wrk are not pinned apart');

const cleanups = [];
async function cleanUp() {
  while (cleanups.length > 0) await cleanups.pop()().catch(() => {});
}

/** Spawns `command` pinned to `cpu` (when there are two CPUs). */
function pinnedSpawn(cpu, command, args, options) {
  return pinned
    ? spawn('taskset', ['-c', String(cpu), command, ...args], options)
    : spawn(command, args, options);
}

/** Starts a server that logs `listening on http://ADDR`; resolves `{ url, pid, stop }`. */
async function startServer(name, command, args, env) {
  const child = pinnedSpawn(0, command, args, {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    // Every line is read (and dropped) so the server never blocks on a full pipe.
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  };
  cleanups.push(stop);
  return { url, pid: child.pid, stop };
}

async function gql(url, query, variables = {}, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  const body = JSON.parse(text);
  if (!response.ok || body.errors) throw new Error(`${query.slice(0, 50)}…: ${text}`);
  return { data: body.data, text };
}

/** The memory of a process, from /proc. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))[1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** One wrk run: requests/s, latency percentiles (ms) and the body check. */
function parseWrk(output) {
  const rps = Number(output.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const ms = (label) => {
    const m = output.match(new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`));
    if (!m) return NaN;
    const value = Number(m[1]);
    return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
  };
  const checked = output.match(/checked: (\d+) ok, (\d+) bad/);
  const errors = output.match(/Socket errors: .*|Non-2xx or 3xx responses: \d+/g) ?? [];
  return {
    rps,
    p50: ms('50'),
    p99: ms('99'),
    ok: Number(checked?.[1] ?? 0),
    bad: Number(checked?.[2] ?? 0) + (errors.length > 0 ? 1 : 0),
    errors,
  };
}

function wrkArgs(url, connections, seconds) {
  return [
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    '-s',
    join(here, 'check.lua'),
    url,
  ];
}

/** wrk on CPU 1; resolves the parsed result. */
function wrk(url, { connections = 64, seconds = SECONDS, env }) {
  return new Promise((resolve, reject) => {
    const child = pinnedSpawn(1, 'wrk', wrkArgs(url, connections, seconds), {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) =>
      code === 0 ? resolve(parseWrk(output)) : reject(new Error(`wrk exited ${code}: ${output}`)),
    );
  });
}

/** `perf record` of `pid` for `seconds`, when PROFILE names this scenario. */
function profile(key, pid, seconds) {
  if (!process.env.PROFILE || process.env.PROFILE !== key || !pid) return Promise.resolve();
  const out = process.env.PROFILE_OUT ?? 'perf.data';
  // Frame pointers (the `profiling` build) by default; PERF_CALLGRAPH=dwarf unwinds a plain
  // release build from its unwind tables instead.
  const callGraph = process.env.PERF_CALLGRAPH ?? 'fp';
  const args = ['record', '-F', '499', '--call-graph', callGraph, '-p', String(pid), '-o', out, '--', 'sleep', String(seconds)];
  const child = spawn('perf', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.once('exit', resolve));
}

/** CPU seconds `pid` has used so far (user + system), from /proc. */
function cpuSeconds(pid) {
  if (!pid) return NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of `pid`'s threads so far, split into Argon2 hashing and everything else. */
function threadCpu(pid) {
  const split = { hashing: 0, other: 0 };
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const fields = stat.split(') ')[1].split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
      split[stat.includes('(authql-argon2') ? 'hashing' : 'other'] += seconds;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return split;
}

/** A warm-up, then ROUNDS measured runs. */
async function scenario(name, url, options) {
  await wrk(url, { ...options, seconds: 2 });
  const rounds = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const recording = i === 0 ? profile(options.key, options.pid, SECONDS - 1) : null;
    const cpuBefore = cpuSeconds(options.pid);
    const result = await wrk(url, options);
    // How busy the server's CPU was: under 100 % it was waiting, not computing.
    result.cpu = (100 * (cpuSeconds(options.pid) - cpuBefore)) / SECONDS;
    await recording;
    if (result.bad > 0 || result.ok === 0) {
      throw new Error(`${name}: ${result.bad} bad answers ${result.errors.join('; ')}`);
    }
    rounds.push(result);
    console.error(
      `${name} round ${i + 1}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ` +
        `${result.ok} checked` +
        (Number.isNaN(result.cpu) ? '' : `, server CPU ${result.cpu.toFixed(0)} %`),
    );
  }
  return rounds;
}

const body = (query, variables) => JSON.stringify({ query, variables });
const best = (runs, key = 'rps') => Math.max(...runs.map((r) => r[key]));
const pct = (a, b) => `${((100 * a) / b).toFixed(1)} %`;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'authql-load-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const databaseUrl = `sqlite://${join(dir, 'load.db')}?mode=rwc`;
  const env = {
    DATABASE_URL: databaseUrl,
    LISTEN_ADDR: '127.0.0.1:0',
    JWT_SECRET_KEY: SECRET,
    JWT_ACCESS_TOKEN_EXPIRES: '2h',
    LOGIN_MAX_FAILURES: '1000000',
    RUST_LOG: process.env.LOAD_RUST_LOG ?? 'info',
  };

  // Seed through authql's own API: an ADMIN (CLI), a store, 50 users, 100 items of 5.
  const created = spawnSync(AUTHQL, ['create-user', '--username', 'root', '--admin'], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    input: `${PASSWORD}\n`,
  });
  if (created.status !== 0) throw new Error(`create-user: ${created.stderr}`);
  let authql = await startServer('authql', AUTHQL, ['serve'], env);
  const login = (username) =>
    gql(authql.url, 'mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { accessToken } }', {
      u: username,
      p: PASSWORD,
    });
  const admin = (await login('root')).data.login.accessToken;
  const store = (await gql(authql.url, 'mutation { createStore(input: {name: "Shop"}) { id } }', {}, admin))
    .data.createStore.id;
  const tokens = [];
  for (let i = 0; i < 50; i += 1) {
    const signup = await gql(
      authql.url,
      'mutation($u: String!, $p: String!) { signup(input: {username: $u, password: $p}) { accessToken } }',
      { u: `user${i}`, p: PASSWORD },
    );
    tokens.push(signup.data.signup.accessToken);
  }
  for (let i = 0; i < 100; i += 1) {
    await gql(
      authql.url,
      'mutation($s: ID!, $n: String!, $p: Decimal!) { createItem(input: {storeId: $s, name: $n, price: $p}) { id } }',
      { s: store, n: `item ${i}`, p: `${i}.50` },
      tokens[i % 5],
    );
  }
  const cursors = (await gql(authql.url, '{ items(first: 100) { edges { cursor } } }')).data.items.edges
    .map((edge) => edge.cursor)
    .slice(0, 80);
  const token = tokens[0];
  const page = await gql(authql.url, PAGE, {}, token);
  const bodyFile = join(dir, 'page.json');
  writeFileSync(bodyFile, page.text);
  const expectPage = '"owner":{"username":"user';

  // Every cache missed: a server without the response cache, each request another user's
  // token and another page. Returns the rounds and the server's memory after them.
  const runMissed = async () => {
    await authql.stop();
    authql = await startServer('authql', AUTHQL, ['serve'], { ...env, RESPONSE_CACHE: 'false' });
    const rounds = await scenario('authql read, every cache missed', authql.url, {
      key: 'read-missed',
      pid: authql.pid,
      env: {
        BODY: JSON.stringify({ query: PAGE_AFTER, variables: { a: '%s' } }),
        TOKENS: tokens.join(','),
        CURSORS: cursors.join(','),
        EXPECT: expectPage,
      },
    });
    const after = memory(authql.pid);
    await authql.stop();
    return [rounds, after];
  };
  if (process.env.ONLY === 'samework') {
    // Issue 23 §2: the cache-missed read against a limit that does the same work on the
    // same SQLite file (rusqlite, a prepared statement, the owners joined, JSON by hand),
    // and the precomputed-body limit, side by side.
    const ids = (await gql(authql.url, '{ items(first: 100) { nodes { id } } }')).data.items.nodes
      .map((node) => node.id)
      .slice(0, 80);
    const [missed] = await runMissed();
    const limit = await startServer('limit', LIMIT, ['127.0.0.1:0', SECRET, bodyFile, join(dir, 'load.db')], {});
    const limitRead = await scenario('limit read', limit.url, {
      env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage },
    });
    const sameWork = await scenario('limit, the same work on SQLite', limit.url, {
      pid: limit.pid,
      env: {
        BODY: JSON.stringify({ variables: { a: '%s' } }),
        TOKENS: tokens.join(','),
        CURSORS: ids.join(','),
        EXPECT: expectPage,
        PATHNAME: '/sqlite',
      },
    });
    await limit.stop();
    const row = (name, runs, base) =>
      `| ${name} | ${runs.map((r) => r.rps.toFixed(0)).join(' / ')} | ${runs.map((r) => r.p99.toFixed(2)).join(' / ')} | ${base ? pct(best(runs), best(base)) : '100 %'} |`;
    console.log(
      [
        `| scenario | req/s (${ROUNDS} rounds) | p99 ms | vs. the same-work limit |`,
        '|---|---:|---:|---:|',
        row('limit: bare axum + HS256 verify + precomputed body', limitRead, sameWork),
        row('same-work limit: HS256 + the page query on rusqlite + JSON by hand', sameWork),
        row('authql read, every cache missed (SQLite)', missed, sameWork),
      ].join('\n'),
    );
    return;
  }
  if (process.env.ONLY === 'documents') {
    // Trusted documents (issue 22): the cache-missed read sent as text and by documentId
    // (validated once at load), side by side with the limit.
    const limit = await startServer('limit', LIMIT, ['127.0.0.1:0', SECRET, bodyFile], {});
    const limitRead = await scenario('limit read', limit.url, {
      env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage },
    });
    await limit.stop();
    await authql.stop();
    const hash = createHash('sha256').update(PAGE_AFTER).digest('hex');
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ [`sha256:${hash}`]: PAGE_AFTER }));
    authql = await startServer('authql', AUTHQL, ['serve'], {
      ...env,
      RESPONSE_CACHE: 'false',
      PERSISTED_DOCUMENTS_FILES: manifest,
    });
    const missed = { TOKENS: tokens.join(','), CURSORS: cursors.join(','), EXPECT: expectPage };
    // Alternating, one round of each at a time: this VM drifts more than the difference.
    const textEnv = { ...missed, BODY: JSON.stringify({ query: PAGE_AFTER, variables: { a: '%s' } }) };
    const idEnv = { ...missed, BODY: JSON.stringify({ documentId: `sha256:${hash}`, variables: { a: '%s' } }) };
    await wrk(authql.url, { env: textEnv, seconds: 2 });
    await wrk(authql.url, { env: idEnv, seconds: 2 });
    const byText = [];
    const byId = [];
    for (let i = 0; i < ROUNDS; i += 1) {
      for (const [runs, env, name] of [
        [byText, textEnv, 'by text'],
        [byId, idEnv, 'by documentId'],
      ]) {
        const result = await wrk(authql.url, { env });
        if (result.bad > 0 || result.ok === 0) throw new Error(`${name}: bad answers ${result.errors.join('; ')}`);
        console.error(`authql read, every cache missed, ${name} round ${i + 1}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99} ms`);
        runs.push(result);
      }
    }
    await authql.stop();
    const row = (name, runs) =>
      `| ${name} | ${runs.map((r) => r.rps.toFixed(0)).join(' / ')} | ${runs.map((r) => r.p99.toFixed(2)).join(' / ')} | ${pct(best(runs), best(limitRead))} |`;
    console.log(
      [
        `| scenario | req/s (${ROUNDS} rounds) | p99 ms | vs. the limit |`,
        '|---|---:|---:|---:|',
        row('limit: bare axum + HS256 verify + precomputed body', limitRead),
        row('authql read, every cache missed, the document as text', byText),
        row('authql read, every cache missed, by `documentId` (validated at load)', byId),
      ].join('\n'),
    );
    return;
  }
  if (process.env.ONLY === 'missed') {
    // Iterating on the cache-missed read alone (no table).
    await runMissed();
    return;
  }

  // The limit.
  const limit = await startServer('limit', LIMIT, ['127.0.0.1:0', SECRET, bodyFile], {});
  const limitRead = await scenario('limit read', `${limit.url}`, {
    env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage },
  });
  const loginBody = body(
    'mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { accessToken } }',
    { u: 'root', p: PASSWORD },
  );
  const limitLogin = await scenario('limit login', limit.url, {
    connections: 8,
    env: { BODY: loginBody, EXPECT: 'accessToken', PATHNAME: '/login' },
  });
  await limit.stop();
  if (process.env.ONLY === 'login') {
    const logins = await scenario('authql login', authql.url, {
      key: 'login',
      pid: authql.pid,
      connections: 8,
      env: { BODY: loginBody, EXPECT: 'accessToken' },
    });
    console.log(`authql login vs the limit: ${pct(best(logins), best(limitLogin))}`);
    // Less noisy than the ratio on a VM whose speed drifts: the CPU a login costs besides
    // its hash.
    const before = threadCpu(authql.pid);
    const run = await wrk(authql.url, { connections: 8, env: { BODY: loginBody, EXPECT: 'accessToken' } });
    const after = threadCpu(authql.pid);
    const per = (key) => ((1000 * (after[key] - before[key])) / run.ok).toFixed(2);
    console.log(`authql CPU per login: hashing ${per('hashing')} ms, everything else ${per('other')} ms`);
    await authql.stop();
    return;
  }

  // authql as shipped.
  const read = await scenario('authql read', authql.url, {
    key: 'read',
    pid: authql.pid,
    env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage },
  });
  const anonymous = await scenario('authql anonymous', authql.url, {
    key: 'anonymous',
    pid: authql.pid,
    env: { BODY: body(PUBLIC_PAGE), EXPECT: '"nodes":[{"id"' },
  });
  // What a shop's public page asks: the owners too, one AUTHORIZATION_REQUIRED each.
  const anonymousOwners = await scenario('authql anonymous, with owners', authql.url, {
    key: 'anonymous-owners',
    pid: authql.pid,
    env: { BODY: body(PAGE), EXPECT: '"owner":null', ALLOW_ERRORS: 'AUTHORIZATION_REQUIRED' },
  });
  const logins = await scenario('authql login', authql.url, {
    key: 'login',
    pid: authql.pid,
    connections: 8,
    env: { BODY: loginBody, EXPECT: 'accessToken' },
  });
  // The read while logins storm.
  const [storm] = await Promise.all([
    wrk(authql.url, { env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage } }),
    wrk(authql.url, { connections: 8, env: { BODY: loginBody, EXPECT: 'accessToken' } }),
  ]);
  if (storm.bad > 0) throw new Error('storm: bad answers');
  console.error(`authql read during a login storm: ${storm.rps.toFixed(0)} req/s, p99 ${storm.p99} ms`);
  const shipped = memory(authql.pid);
  const [missed, missedMemory] = await runMissed();

  const figures = (runs) => runs.map((r) => r.rps.toFixed(0)).join(' / ');
  const p99s = (runs) => runs.map((r) => r.p99.toFixed(2)).join(' / ');
  const lines = [
    `| scenario | req/s (${ROUNDS} rounds) | p99 ms | vs. the limit |`,
    '|---|---:|---:|---:|',
    `| limit: bare axum + HS256 verify + precomputed body | ${figures(limitRead)} | ${p99s(limitRead)} | 100 % |`,
    `| authql authenticated read (response cache on) | ${figures(read)} | ${p99s(read)} | ${pct(best(read), best(limitRead))} |`,
    `| authql authenticated read, every cache missed | ${figures(missed)} | ${p99s(missed)} | ${pct(best(missed), best(limitRead))} |`,
    `| authql anonymous read (no owner) | ${figures(anonymous)} | ${p99s(anonymous)} | ${pct(best(anonymous), best(limitRead))} |`,
    `| authql anonymous read with owners (a partial result) | ${figures(anonymousOwners)} | ${p99s(anonymousOwners)} | ${pct(best(anonymousOwners), best(limitRead))} |`,
    `| limit: bare Argon2id login (8 connections) | ${figures(limitLogin)} | ${p99s(limitLogin)} | 100 % |`,
    `| authql login (8 connections) | ${figures(logins)} | ${p99s(logins)} | ${pct(best(logins), best(limitLogin))} |`,
    `| authql read during the login storm | ${storm.rps.toFixed(0)} | ${storm.p99.toFixed(2)} | p99 ${(storm.p99 / Math.min(...read.map((r) => r.p99))).toFixed(2)} × idle |`,
    '',
    `authql RSS after the shipped run (reads, logins, storm): ${shipped.rss.toFixed(1)} MiB (peak ${shipped.peak.toFixed(1)} MiB); ` +
      `after the cache-missed run: ${missedMemory.rss.toFixed(1)} MiB (peak ${missedMemory.peak.toFixed(1)} MiB).`,
  ];
  console.log(lines.join('\n'));
}

const timer = setTimeout(async () => {
  console.error('harness: timed out');
  await cleanUp();
  process.exit(1);
}, 15 * 60_000);
try {
  await main();
} catch (error) {
  console.error(`harness: ${error.message}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await cleanUp();
}
