// SSE fan-out (issue 22): STREAMS subscriptions over HTTP (GraphQL over SSE, `POST
// /graphql` with `Accept: text/event-stream`) on one authql, then EVENTS item creations;
// every stream must receive every event. Reports authql's RSS before and with the streams
// open, and its CPU per event (all streams) and per delivered message.
//
// authql runs on CPU 0, this script (the streams' client) on CPU 1. Run after the release
// build (benches/load/run.sh builds it):
//
//   taskset -c 1 node benches/load/sse_fanout.mjs     # STREAMS=1000 EVENTS=50 by default
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { request as httpRequest } from 'node:http';

const here = dirname(fileURLToPath(import.meta.url));
const AUTHQL = process.env.AUTHQL_BIN ?? join(here, '..', '..', 'target', 'release', 'authql');
const STREAMS = Number(process.env.STREAMS ?? 1000);
const EVENTS = Number(process.env.EVENTS ?? 50);
const PASSWORD = 'correct horse battery';
const SUBSCRIPTION = 'subscription { itemEvents { kind itemId item { name } } }';

const dir = mkdtempSync(join(tmpdir(), 'authql-sse-'));
const databaseUrl = `sqlite://${join(dir, 'sse.db')}?mode=rwc`;
const created = spawnSync(AUTHQL, ['create-user', '--username', 'root', '--admin'], {
  env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
  input: `${PASSWORD}\n`,
});
if (created.status !== 0) throw new Error(`create-user: ${created.stderr}`);
const server = spawn('taskset', ['-c', '0', AUTHQL, 'serve'], {
  env: {
    PATH: process.env.PATH,
    DATABASE_URL: databaseUrl,
    LISTEN_ADDR: '127.0.0.1:0',
    JWT_SECRET_KEY: 'sse-fanout-secret-sse-fanout-secret-sse!',
    JWT_ACCESS_TOKEN_EXPIRES: '2h',
    RUST_LOG: 'info',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve) => {
  createInterface({ input: server.stdout }).on('line', (line) => {
    const match = line.match(/listening on (http:\/\/\S+)/);
    if (match) resolve(match[1]);
  });
});

async function gql(query, variables, token) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

function memory() {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]) / 1024;
}
function cpuSeconds() {
  // `taskset` execs authql: the pid is the server's.
  const fields = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const token = (await gql('mutation($p: String!) { login(input: {username: "root", password: $p}) { accessToken } }', { p: PASSWORD })).login
  .accessToken;
const store = (await gql('mutation { createStore(input: {name: "Fan-out"}) { id } }', {}, token)).createStore.id;
const idle = memory();

/** One SSE stream on its own connection (node:http, no pooling limit): counts `next`
 * events; `listening` resolves on the first keep-alive, sent once the subscription listens. */
function openStream() {
  const state = { events: 0, listening: null };
  state.listening = new Promise((resolveListening, rejectListening) => {
    const target = new URL(`${url}/graphql`);
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      },
      (response) => {
        if (response.headers['content-type'] !== 'text/event-stream') {
          rejectListening(new Error(`not a stream: ${response.statusCode}`));
          return;
        }
        response.setEncoding('utf8');
        let buffer = '';
        response.on('data', (chunk) => {
          buffer += chunk;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const message = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (message.startsWith(':')) resolveListening();
            else if (message.startsWith('event: next')) {
              if (!message.includes('"CREATED"')) rejectListening(new Error(`unexpected event ${message}`));
              state.events += 1;
            }
          }
        });
      },
    );
    request.on('error', rejectListening);
    request.end(JSON.stringify({ query: SUBSCRIPTION }));
  });
  return state;
}

const opened = Date.now();
const streams = Array.from({ length: STREAMS }, openStream);
await Promise.all(streams.map((s) => s.listening));
const openMs = Date.now() - opened;
await new Promise((resolve) => setTimeout(resolve, 1000));
const withStreams = memory();

const cpuBefore = cpuSeconds();
const started = Date.now();
for (let i = 0; i < EVENTS; i += 1) {
  await gql('mutation($s: ID!, $n: String!) { createItem(input: {storeId: $s, name: $n, price: "1"}) { id } }', { s: store, n: `event ${i}` }, token);
}
const deadline = Date.now() + 60_000;
while (streams.some((s) => s.events < EVENTS)) {
  if (Date.now() > deadline) throw new Error(`only ${streams.filter((s) => s.events >= EVENTS).length} streams got every event`);
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const deliveredMs = Date.now() - started;
const cpu = cpuSeconds() - cpuBefore;
const after = memory();
server.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });

const perEvent = (1000 * cpu) / EVENTS;
console.log(
  [
    `| ${STREAMS} SSE streams, ${EVENTS} events (createItem), every stream got every event | |`,
    '|---|---:|',
    `| streams open and listening in | ${openMs} ms |`,
    `| RSS idle → with the streams open → after the events | ${idle.toFixed(1)} → ${withStreams.toFixed(1)} → ${after.toFixed(1)} MiB (${(((withStreams - idle) * 1024) / STREAMS).toFixed(1)} KiB per stream) |`,
    `| authql CPU per event (the mutation + ${STREAMS} deliveries) | ${perEvent.toFixed(2)} ms |`,
    `| authql CPU per delivered message | ${((1000 * perEvent) / STREAMS).toFixed(1)} µs |`,
    `| all ${EVENTS * STREAMS} messages delivered in | ${deliveredMs} ms |`,
  ].join('\n'),
);
process.exit(0);
