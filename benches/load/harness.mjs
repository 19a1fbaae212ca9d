// The load harness (issues 9 and 23): authql against the stack's limits, side by side in
// one run.
//
// Servers are pinned to CPU 0 (PostgreSQL too, for the run), wrk to CPU 1 (-t1 -c64; -c8
// for logins), each scenario gets a 2 s warm-up and ROUNDS measured runs of SECONDS
// (defaults 2 and 10), and every answer is checked (status 200, the expected data, no
// "errors"). What is compared with a limit runs in turns with it (a round of each, then
// the next round of each) and its ratio is the mean of the paired rounds' ratios: the
// VM's speed drifts by more within minutes than the differences measured. (The shipped
// rotations and the same-work limits are set against the precomputed limit's rounds of
// earlier in the run: for scale, not in turns.) authql is seeded through its own API, on a fresh SQLite file and on a fresh
// PostgreSQL database (`authql_load` on LOAD_POSTGRES, default
// postgres://postgres@127.0.0.1:5432; `off` skips PostgreSQL): an ADMIN, a store, 200 users
// (LOAD_USERS) and 5 who log in, 100 items of 5 owners. Scenarios:
//
//   limit        bare axum + HS256 verify + precomputed body (benches/load/limit.rs)
//   same work    the limit verifying the token, running the page query with the owners
//                joined (rusqlite; tokio-postgres with prepared statements and a small
//                pool) and writing the JSON by hand, over 200 users × 81 pages
//   read         authql, `{ items(first: 20) { nodes { id name price owner { username } } } }`
//                with one bearer token (the response cache on, as shipped)
//   anonymous    authql, the page without `owner`, no token
//   anonymous-owners  the page with `owner`, no token: a partial result, one
//                AUTHORIZATION_REQUIRED per owner (what a shop's public page asks)
//   rotation     the page `after` 81 cursors, each request another of the 200 users' tokens:
//                as shipped (every answer kept per user, the cache filling and emptying),
//                and with RESPONSE_CACHE=false (every request executes: against the
//                same-work limit), on SQLite and on PostgreSQL
//   login        authql `login` vs the limit's bare Argon2id handler, 8 connections, the
//                logins rotating over 5 users (on SQLite and on PostgreSQL)
//   storm        `read` while a login storm runs (c8): its p99 against the idle one
//
// and authql's RSS after each rotation. Run by benches/load/run.sh; the table it prints is
// the one in docs/benchmarks.md.
//
// PROFILE=read (or read-missed, read-missed-pg, rotation, anonymous, login, …) records
// authql with `perf record -g` during that scenario's first measured round, into
// PROFILE_OUT (default perf.data; a scenario on PostgreSQL records the whole of CPU 0, the
// database's backends included). ONLY=missed (or missed-pg) runs the cache-missed read
// alone; ONLY=rotation the shipped configuration's rotation and its RSS; ONLY=login the
// logins on SQLite and on PostgreSQL (unless LOAD_POSTGRES=off) in turns with the bare
// handler, then the CPU one login costs besides its hash; ONLY=documents the limit and
// the cache-missed read by text and by `documentId` (trusted documents, validated once at
// load); ONLY=samework the cache-missed reads against the same-work limits. Each round also
// reports how busy the server's CPU was (from /proc, PostgreSQL's included): below 100 %
// it waited rather than computed.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  // The server's log goes to a file, as in a deployment, not through a pipe read line by
  // line here (at 30k lines/s that cost this process a share of a CPU). At RUST_LOG=info,
  // one line per request: ~1 GB in the temporary directory over a full run, removed at
  // the end (LOAD_RUST_LOG=warn writes almost nothing).
  const logDir = mkdtempSync(join(tmpdir(), `authql-load-${name}-`));
  cleanups.push(async () => rmSync(logDir, { recursive: true, force: true }));
  const logFile = join(logDir, 'stdout.log');
  const log = openSync(logFile, 'w');
  const child = pinnedSpawn(0, command, args, {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', log, 'inherit'],
  });
  closeSync(log);
  const stop = async () => {
    // A process ended by the signal has no exit code: stopping it again must not wait.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  };
  // Stopped at the end even when it never says it listens.
  cleanups.push(stop);
  const started = Date.now();
  let url = null;
  while (!url) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}`);
    }
    if (Date.now() - started > 30_000) throw new Error(`${name} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    url = readFileSync(logFile, 'utf8').match(/listening on (http:\/\/\S+)/)?.[1] ?? null;
  }
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
function profile(key, pid, seconds, wholeCpu) {
  if (!process.env.PROFILE || process.env.PROFILE !== key || !pid) return Promise.resolve();
  const out = process.env.PROFILE_OUT ?? 'perf.data';
  // Frame pointers (the `profiling` build) by default; PERF_CALLGRAPH=dwarf unwinds a plain
  // release build from its unwind tables instead.
  const callGraph = process.env.PERF_CALLGRAPH ?? 'fp';
  // With PostgreSQL, everything on the server's CPU (authql and the database's backends).
  const target = wholeCpu ? ['-a', '-C', '0'] : ['-p', String(pid)];
  const args = ['record', '-F', '499', '--call-graph', callGraph, ...target, '-o', out, '--', 'sleep', String(seconds)];
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

/** One measured run of a scenario (round `i`), checked and reported. */
async function measure(name, url, options, i) {
  const recording = i === 0 ? profile(options.key, options.pid, SECONDS - 1, Boolean(options.extraCpu)) : null;
  const serverCpu = () => cpuSeconds(options.pid) + (options.extraCpu?.() ?? 0);
  const cpuBefore = serverCpu();
  const result = await wrk(url, options);
  // How busy the server's CPU was (with its PostgreSQL): under 100 % it was waiting.
  result.cpu = (100 * (serverCpu() - cpuBefore)) / SECONDS;
  await recording;
  if (result.bad > 0 || result.ok === 0) {
    throw new Error(`${name}: ${result.bad} bad answers ${result.errors.join('; ')}`);
  }
  console.error(
    `${name} round ${i + 1}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ` +
      `${result.ok} checked` +
      (Number.isNaN(result.cpu) ? '' : `, server CPU ${result.cpu.toFixed(0)} %`),
  );
  return result;
}

/**
 * Scenarios compared with one another, measured in turns: a warm-up of each, then round 1
 * of each, round 2 of each, … A VM's speed drifts by more within minutes than the
 * differences measured (docs/benchmarks.md), so a ratio is taken between rounds that ran
 * side by side in time. Each entry is `[name, url, options]`; returns their rounds.
 */
async function alternate(entries) {
  for (const [, url, options] of entries) await wrk(url, { ...options, seconds: 2 });
  const rounds = entries.map(() => []);
  for (let i = 0; i < ROUNDS; i += 1) {
    for (const [k, [name, url, options]] of entries.entries()) {
      rounds[k].push(await measure(name, url, options, i));
    }
  }
  return rounds;
}

/** A warm-up, then ROUNDS measured runs. */
async function scenario(name, url, options) {
  const [rounds] = await alternate([[name, url, options]]);
  return rounds;
}

const body = (query, variables) => JSON.stringify({ query, variables });
/** `runs` against `base` in percent: the mean of the ratios of rounds run side by side. */
const ratio = (runs, base) =>
  (100 * runs.reduce((sum, run, i) => sum + run.rps / base[Math.min(i, base.length - 1)].rps, 0)) / runs.length;
const pct = (runs, base) => `${ratio(runs, base).toFixed(1)} %`;

/** A fresh PostgreSQL database for authql, or null when LOAD_POSTGRES is `off`. */
function freshPostgres() {
  const server = process.env.LOAD_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432';
  if (server === 'off') return null;
  const name = 'authql_load';
  for (const sql of [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`]) {
    const run = spawnSync('psql', [`${server}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qc', sql]);
    if (run.status !== 0) throw new Error(`psql: ${run.stderr} (LOAD_POSTGRES=off skips PostgreSQL)`);
  }
  return `${server}/${name}`;
}

/** The PostgreSQL server's processes (postmaster and backends). */
function postgresPids() {
  const run = spawnSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' });
  return run.stdout.split('\n').filter(Boolean).map(Number);
}

/**
 * PostgreSQL onto CPU 0 beside the server under test (backends forked later inherit it
 * from the postmaster): the server side — authql or the limit, and its database — on one
 * CPU, wrk on the other, as with SQLite in-process. Undone at the end of the run.
 */
function pinPostgres() {
  if (!pinned) return;
  const setAll = (list) => {
    for (const pid of postgresPids()) spawnSync('taskset', ['-a', '-p', '-c', list, String(pid)]);
  };
  setAll('0');
  cleanups.push(async () => setAll(`0-${cpus().length - 1}`));
}

/** CPU seconds the PostgreSQL server has used so far. */
function postgresCpu() {
  return postgresPids().reduce((sum, pid) => {
    try {
      return sum + cpuSeconds(pid);
    } catch {
      return sum;
    }
  }, 0);
}

const USERS = Number(process.env.LOAD_USERS ?? 200);
const PAGES = 81;
const LOGIN_USERS = 5;
const LOGIN_ROTATING = JSON.stringify({
  query: 'mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { accessToken } }',
  variables: { u: '%s', p: PASSWORD },
});

/**
 * Seeds a fresh database through authql's own API: an ADMIN (CLI), a store, USERS users,
 * 100 items of 5 owners. Returns authql (running, as shipped) and what the scenarios send.
 */
async function seed(databaseUrl, env) {
  const created = spawnSync(AUTHQL, ['create-user', '--username', 'root', '--admin'], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    input: `${PASSWORD}\n`,
  });
  if (created.status !== 0) throw new Error(`create-user: ${created.stderr}`);
  const authql = await startServer('authql', AUTHQL, ['serve'], env);
  const admin = (
    await gql(
      authql.url,
      'mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { accessToken } }',
      { u: 'root', p: PASSWORD },
    )
  ).data.login.accessToken;
  const store = (await gql(authql.url, 'mutation { createStore(input: {name: "Shop"}) { id } }', {}, admin))
    .data.createStore.id;
  const tokens = [];
  for (let i = 0; i < USERS; i += 1) {
    const signup = await gql(
      authql.url,
      'mutation($u: String!, $p: String!) { signup(input: {username: $u, password: $p}) { accessToken } }',
      { u: `user${i}`, p: PASSWORD },
    );
    tokens.push(signup.data.signup.accessToken);
  }
  // Who logs in during the login scenarios: users of their own, since each login starts a
  // session and a user's oldest sessions end past the per-user cap, revoking tokens the
  // reads use.
  for (let i = 0; i < LOGIN_USERS; i += 1) {
    await gql(
      authql.url,
      'mutation($u: String!, $p: String!) { signup(input: {username: $u, password: $p}) { accessToken } }',
      { u: `login${i}`, p: PASSWORD },
    );
  }
  for (let i = 0; i < 100; i += 1) {
    await gql(
      authql.url,
      'mutation($s: ID!, $n: String!, $p: Decimal!) { createItem(input: {storeId: $s, name: $n, price: $p}) { id } }',
      { s: store, n: `item ${i}`, p: `${i}.50` },
      tokens[i % 5],
    );
  }
  const edges = (await gql(authql.url, '{ items(first: 100) { edges { cursor node { id } } } }')).data.items.edges
    .slice(0, PAGES);
  return {
    authql,
    tokens,
    // 81 pages: after each of the first 81 items (by cursor for authql, by id for the limit).
    cursors: edges.map((edge) => edge.cursor),
    ids: edges.map((edge) => edge.node.id),
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'authql-load-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const sqliteFile = join(dir, 'load.db');
  const databaseUrl = `sqlite://${sqliteFile}?mode=rwc`;
  const env = {
    DATABASE_URL: databaseUrl,
    LISTEN_ADDR: '127.0.0.1:0',
    JWT_SECRET_KEY: SECRET,
    JWT_ACCESS_TOKEN_EXPIRES: '2h',
    LOGIN_MAX_FAILURES: '1000000',
    RUST_LOG: process.env.LOAD_RUST_LOG ?? 'info',
  };
  const withPostgres = ['samework', 'missed-pg', 'login', undefined].includes(process.env.ONLY);
  const postgresUrl = withPostgres ? freshPostgres() : null;
  if (postgresUrl) pinPostgres();
  // authql reaches PostgreSQL over loopback: without TLS, as the limit does (sqlx's default
  // `sslmode=prefer` encrypts whenever the server offers it; docs/benchmarks.md measures
  // what that costs). LOAD_POSTGRES_OPTIONS='' keeps the default.
  const pgOptions = process.env.LOAD_POSTGRES_OPTIONS ?? 'sslmode=disable';
  const pgEnv = { ...env, DATABASE_URL: pgOptions ? `${postgresUrl}?${pgOptions}` : postgresUrl };

  const sqlite = await seed(databaseUrl, env);
  let authql = sqlite.authql;
  const { tokens, cursors } = sqlite;
  const token = tokens[0];
  const page = await gql(authql.url, PAGE, {}, token);
  const bodyFile = join(dir, 'page.json');
  writeFileSync(bodyFile, page.text);
  const expectPage = '"owner":{"username":"user';
  let postgres = null;
  if (postgresUrl) {
    await authql.stop();
    postgres = await seed(postgresUrl, pgEnv);
    await postgres.authql.stop();
    authql = await startServer('authql', AUTHQL, ['serve'], env);
  }

  // USERS users × 81 pages, each request another user's token and another page: with the
  // cache on, every answer is kept per user (and the cache fills and empties); with it off,
  // every request executes. Returns the rounds and the server's memory after them.
  const rotationEntry = (name, server, seeded, key, extraCpu) => [
    name,
    server.url,
    {
      key,
      pid: server.pid,
      extraCpu,
      env: {
        BODY: JSON.stringify({ query: PAGE_AFTER, variables: { a: '%s' } }),
        TOKENS: seeded.tokens.join(','),
        CURSORS: seeded.cursors.join(','),
        EXPECT: expectPage,
      },
    },
  ];
  const rotation = async (name, server, seeded, key, extraCpu) => {
    const [rounds] = await alternate([rotationEntry(name, server, seeded, key, extraCpu)]);
    return [rounds, memory(server.pid)];
  };
  const runMissed = async () => {
    const server = await startServer('authql', AUTHQL, ['serve'], { ...env, RESPONSE_CACHE: 'false' });
    const result = await rotation('authql read, every cache missed', server, sqlite, 'read-missed');
    await server.stop();
    return result;
  };
  // The same work on the limit: the page by the id after which it starts.
  const sameWorkEntry = (name, limit, seeded, pathname, extraCpu) => [
    name,
    limit.url,
    {
      pid: limit.pid,
      extraCpu,
      env: {
        BODY: JSON.stringify({ variables: { a: '%s' } }),
        TOKENS: seeded.tokens.join(','),
        CURSORS: seeded.ids.join(','),
        EXPECT: expectPage,
        PATHNAME: pathname,
      },
    },
  ];
  // Issue 23 §2: the cache-missed read (RESPONSE_CACHE=false) against the limit doing the
  // same work on the same database, in turns; SQLite, then PostgreSQL.
  const missedAgainstSameWork = async (limit) => {
    const server = await startServer('authql', AUTHQL, ['serve'], { ...env, RESPONSE_CACHE: 'false' });
    const [sqliteWork, missed] = await alternate([
      sameWorkEntry('limit, the same work on SQLite', limit, sqlite, '/sqlite'),
      rotationEntry('authql read, every cache missed', server, sqlite, 'read-missed'),
    ]);
    const result = { sqliteWork, missed: [missed, memory(server.pid)] };
    await server.stop();
    if (postgres) {
      const pgServer = await startServer('authql', AUTHQL, ['serve'], { ...pgEnv, RESPONSE_CACHE: 'false' });
      const [pgWork, pgMissed] = await alternate([
        sameWorkEntry('limit, the same work on PostgreSQL', limit, postgres, '/postgres', postgresCpu),
        rotationEntry('authql read on PostgreSQL, every cache missed', pgServer, postgres, 'read-missed-pg', postgresCpu),
      ]);
      Object.assign(result, { pgWork, pgMissed: [pgMissed, memory(pgServer.pid)] });
      await pgServer.stop();
    }
    return result;
  };
  const loginEnv = {
    BODY: LOGIN_ROTATING,
    CURSORS: Array.from({ length: LOGIN_USERS }, (_, i) => `login${i}`).join(','),
    EXPECT: 'accessToken',
  };
  // Issue 23 §4: logins over 5 users against the bare Argon2id handler, in turns; authql
  // on SQLite (`server`) and on PostgreSQL (`pgServer`, when there is one).
  const loginsAgainstLimit = (limit, server, pgServer) =>
    alternate([
      ['limit login', limit.url, { pid: limit.pid, connections: 8, env: { ...loginEnv, PATHNAME: '/login' } }],
      ['authql login', server.url, { key: 'login', pid: server.pid, connections: 8, env: loginEnv }],
      ...(pgServer
        ? [['authql login on PostgreSQL', pgServer.url, { key: 'login-pg', pid: pgServer.pid, extraCpu: postgresCpu, connections: 8, env: loginEnv }]]
        : []),
    ]);
  const row = (name, runs, base, goal = '', rss = '') =>
    `| ${name} | ${runs.map((r) => r.rps.toFixed(0)).join(' / ')} | ${runs.map((r) => r.p99.toFixed(2)).join(' / ')} | ` +
    `${base ? pct(runs, base) : '100 %'} | ${rss} | ${goal} |`;
  const verdict = (runs, base, atLeast) => `≥ ${atLeast} %: ${ratio(runs, base) >= atLeast ? 'met' : 'not met'}`;
  const mib = (m) => `${m.rss.toFixed(1)} MiB`;
  const header = [
    `| scenario | req/s (${ROUNDS} rounds) | p99 ms | vs. | RSS after | goal |`,
    '|---|---:|---:|---:|---:|---|',
  ];
  const limitArgs = ['127.0.0.1:0', SECRET, bodyFile, sqliteFile, ...(postgresUrl ? [postgresUrl] : [])];

  if (process.env.ONLY === 'samework') {
    // Issue 23 §2: the cache-missed read against limits that do the same work on the same
    // databases (the page query with the owners joined, JSON by hand), side by side.
    const limit = await startServer('limit', LIMIT, limitArgs, {});
    const { sqliteWork, missed: [missed, missedMemory], pgWork, pgMissed } = await missedAgainstSameWork(limit);
    await limit.stop();
    const lines = [
      ...header,
      row('same-work limit: HS256 + the page query on rusqlite + JSON by hand', sqliteWork),
      row(`authql read, every cache missed (SQLite, ${USERS} users × ${PAGES} pages)`, missed, sqliteWork, verdict(missed, sqliteWork, 35), mib(missedMemory)),
    ];
    if (pgWork) {
      lines.push(
        row('same-work limit: HS256 + the page query on tokio-postgres + JSON by hand', pgWork),
        row(`authql read, every cache missed (PostgreSQL, ${USERS} users × ${PAGES} pages)`, pgMissed[0], pgWork, verdict(pgMissed[0], pgWork, 35), mib(pgMissed[1])),
      );
    }
    console.log(lines.join('\n'));
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
    console.log(
      [
        ...header,
        row('limit: bare axum + HS256 verify + precomputed body', limitRead),
        row('authql read, every cache missed, the document as text', byText, limitRead),
        row('authql read, every cache missed, by `documentId` (validated at load)', byId, limitRead),
      ].join('\n'),
    );
    return;
  }
  if (process.env.ONLY === 'missed') {
    // Iterating on the cache-missed read alone (no table).
    await runMissed();
    return;
  }
  if (process.env.ONLY === 'missed-pg') {
    // The same on PostgreSQL.
    await authql.stop();
    const server = await startServer('authql', AUTHQL, ['serve'], { ...pgEnv, RESPONSE_CACHE: 'false' });
    await rotation('authql on PostgreSQL, every cache missed', server, postgres, 'read-missed-pg', postgresCpu);
    await server.stop();
    return;
  }
  if (process.env.ONLY === 'rotation') {
    // The shipped configuration under the 200-user rotation, and its memory after.
    const [, after] = await rotation(`authql ${USERS} users × ${PAGES} pages, cache on`, authql, sqlite, 'rotation');
    console.log(`RSS after: ${after.rss.toFixed(1)} MiB (peak ${after.peak.toFixed(1)} MiB)`);
    return;
  }
  // The limits.
  const limit = await startServer('limit', LIMIT, limitArgs, {});
  if (process.env.ONLY === 'login') {
    const pgServer = postgres ? await startServer('authql', AUTHQL, ['serve'], pgEnv) : null;
    const [limitLogin, logins, pgLogins] = await loginsAgainstLimit(limit, authql, pgServer);
    console.log(`authql login (${LOGIN_USERS} users) vs the limit: ${pct(logins, limitLogin)}`);
    if (pgLogins) console.log(`authql login on PostgreSQL (${LOGIN_USERS} users) vs the limit: ${pct(pgLogins, limitLogin)}`);
    // Less noisy than the ratio on a VM whose speed drifts: the CPU a login costs besides
    // its hash.
    const before = threadCpu(authql.pid);
    const run = await wrk(authql.url, { connections: 8, env: loginEnv });
    const after = threadCpu(authql.pid);
    const per = (key) => ((1000 * (after[key] - before[key])) / run.ok).toFixed(2);
    console.log(`authql CPU per login: hashing ${per('hashing')} ms, everything else ${per('other')} ms`);
    if (pgServer) {
      const before = { ...threadCpu(pgServer.pid), db: postgresCpu() };
      const run = await wrk(pgServer.url, { connections: 8, env: loginEnv });
      const after = { ...threadCpu(pgServer.pid), db: postgresCpu() };
      const per = (key) => ((1000 * (after[key] - before[key])) / run.ok).toFixed(2);
      console.log(
        `authql on PostgreSQL, CPU per login: hashing ${per('hashing')} ms, everything else ${per('other')} ms, ` +
          `PostgreSQL ${per('db')} ms`,
      );
      await pgServer.stop();
    }
    await limit.stop();
    await authql.stop();
    return;
  }
  // The read and its variants against the precomputed limit, in turns.
  const [limitRead, read, anonymous, anonymousOwners] = await alternate([
    // The limit's CPU is reported too: at its rate wrk's one thread could be what binds it.
    ['limit read', limit.url, { pid: limit.pid, env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage } }],
    ['authql read', authql.url, { key: 'read', pid: authql.pid, env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage } }],
    ['authql anonymous', authql.url, { key: 'anonymous', pid: authql.pid, env: { BODY: body(PUBLIC_PAGE), EXPECT: '"nodes":[{"id"' } }],
    // What a shop's public page asks: the owners too, one AUTHORIZATION_REQUIRED each.
    [
      'authql anonymous, with owners',
      authql.url,
      { key: 'anonymous-owners', pid: authql.pid, env: { BODY: body(PAGE), EXPECT: '"owner":null', ALLOW_ERRORS: 'AUTHORIZATION_REQUIRED' } },
    ],
  ]);
  const { sqliteWork, missed: [missed, missedMemory], pgWork, pgMissed } = await missedAgainstSameWork(limit);
  // authql as shipped on PostgreSQL (beside the one on SQLite) for the logins and its rotation.
  const pgServer = postgres ? await startServer('authql', AUTHQL, ['serve'], pgEnv) : null;
  const [limitLogin, logins, pgLogins] = await loginsAgainstLimit(limit, authql, pgServer);
  const pgLoginMemory = pgServer ? memory(pgServer.pid) : null;
  await limit.stop();
  // The read while logins storm.
  const [storm] = await Promise.all([
    wrk(authql.url, { env: { BODY: body(PAGE), TOKENS: token, EXPECT: expectPage } }),
    wrk(authql.url, { connections: 8, env: loginEnv }),
  ]);
  if (storm.bad > 0) throw new Error('storm: bad answers');
  console.error(`authql read during a login storm: ${storm.rps.toFixed(0)} req/s, p99 ${storm.p99} ms`);
  const [shippedRotation, shippedMemory] = await rotation(`authql ${USERS} users × ${PAGES} pages, cache on`, authql, sqlite, 'rotation');
  await authql.stop();
  let pg = null;
  if (pgServer) {
    const pgShipped = await rotation('authql on PostgreSQL, cache on', pgServer, postgres, 'rotation-pg', postgresCpu);
    await pgServer.stop();
    pg = { pgMissed, pgShipped, pgLogins, pgLoginMemory };
  }

  const rotating = `${USERS} users × ${PAGES} pages rotating`;
  const lines = [
    ...header,
    row('limit: bare axum + HS256 verify + precomputed body', limitRead),
    row('same-work limit: HS256 + the page query on rusqlite + JSON by hand', sqliteWork, limitRead),
    ...(pgWork ? [row('same-work limit: HS256 + the page query on tokio-postgres + JSON by hand', pgWork, limitRead)] : []),
    row('authql authenticated read, one user (response cache on)', read, limitRead, verdict(read, limitRead, 25)),
    row('authql anonymous read (no owner)', anonymous, limitRead),
    row('authql anonymous read with owners (a partial result)', anonymousOwners, limitRead, verdict(anonymousOwners, limitRead, 30)),
    row(`authql ${rotating}, cache on (as shipped), SQLite`, shippedRotation, limitRead, '', mib(shippedMemory)),
    row(`authql ${rotating}, every cache missed, SQLite — vs. the same-work limit`, missed, sqliteWork, verdict(missed, sqliteWork, 35), mib(missedMemory)),
    ...(pg
      ? [
          row(`authql ${rotating}, every cache missed, PostgreSQL — vs. the same-work limit`, pg.pgMissed[0], pgWork, verdict(pg.pgMissed[0], pgWork, 35), mib(pg.pgMissed[1])),
          row(`authql ${rotating}, cache on (as shipped), PostgreSQL`, pg.pgShipped[0], limitRead, '', mib(pg.pgShipped[1])),
        ]
      : []),
    row(`limit: bare Argon2id login (8 connections, ${LOGIN_USERS} users)`, limitLogin),
    row(`authql login (8 connections, ${LOGIN_USERS} users), SQLite`, logins, limitLogin, verdict(logins, limitLogin, 90)),
    ...(pg ? [row(`authql login (8 connections, ${LOGIN_USERS} users), PostgreSQL`, pg.pgLogins, limitLogin, verdict(pg.pgLogins, limitLogin, 90), mib(pg.pgLoginMemory))] : []),
    `| authql read during the login storm | ${storm.rps.toFixed(0)} | ${storm.p99.toFixed(2)} | p99 ${(storm.p99 / Math.min(...read.map((r) => r.p99))).toFixed(2)} × idle | | < 2 ×: ${storm.p99 < 2 * Math.min(...read.map((r) => r.p99)) ? 'met' : 'not met'} |`,
    '',
    `"RSS after": authql's resident memory at the end of that scenario (budget 64 MiB in every HTTP scenario of the shipped configuration). Peaks: ` +
      `SQLite as shipped ${shippedMemory.peak.toFixed(1)} MiB, cache missed ${missedMemory.peak.toFixed(1)} MiB` +
      (pg ? `; PostgreSQL as shipped ${pg.pgShipped[1].peak.toFixed(1)} MiB, cache missed ${pg.pgMissed[1].peak.toFixed(1)} MiB` : '') +
      '.',
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
