// requestPasswordReset for known and unknown addresses, side by side (issue 19: "the same
// answer in the same time"). Not a timed test: the figures go to docs/benchmarks.md.
//
// authql (release, SQLite, no MAIL_URL: mail stays in the outbox) runs pinned to CPU 0;
// this script, the client, should run on CPU 1:
//
//   cargo build --release && taskset -c 1 node benches/load/reset_timing.mjs
//
// 200 accounts with an address are made first. Then REQUESTS requests (default 4,000), one
// at a time over one keep-alive connection, each for a known or an unknown address chosen
// at random (so the work a known request leaves behind, done after its answer, falls on
// both kinds alike), after a warm-up of 500. Every answer is checked byte for byte.
// Prints the median, p90 and p99 latency of each kind, in microseconds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const AUTHQL = process.env.AUTHQL_BIN ?? join(root, 'target', 'release', 'authql');
const REQUESTS = Number(process.env.REQUESTS ?? 4000);
const ACCOUNTS = 200;
const ANSWER = '{"data":{"requestPasswordReset":true}}';
const QUERY = 'mutation($e: String!) { requestPasswordReset(email: $e) }';

const dir = mkdtempSync(join(tmpdir(), 'authql-reset-timing-'));
const [command, args] = cpus().length >= 2 ? ['taskset', ['-c', '0', AUTHQL, 'serve']] : [AUTHQL, ['serve']];
const child = spawn(command, args, {
  env: {
    PATH: process.env.PATH,
    DATABASE_URL: `sqlite://${join(dir, 'reset.db')}?mode=rwc`,
    LISTEN_ADDR: '127.0.0.1:0',
    JWT_SECRET_KEY: 'reset-timing-secret-reset-timing-secret!',
    RUST_LOG: 'error,authql=info',
    PASSWORD_HASH_QUEUE: '1000',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const stop = () => {
  child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
const url = await new Promise((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`authql exited with ${code}`)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const match = line.match(/listening on (http:\/\/\S+)/);
    if (match) resolve(`${match[1]}/graphql`);
  });
});

async function post(query, variables) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return response.text();
}

try {
  const signup = 'mutation($i: SignupInput!) { signup(input: $i) { tokenType } }';
  for (let n = 0; n < ACCOUNTS; n += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        post(signup, { i: { username: `user${n + k}`, password: 'correct horse battery', email: `user${n + k}@example.com` } }),
      ),
    );
  }
  const samples = { known: [], unknown: [] };
  for (let i = 0; i < 500 + REQUESTS; i += 1) {
    const known = Math.random() < 0.5;
    const n = Math.floor(Math.random() * ACCOUNTS);
    const email = known ? `user${n}@example.com` : `nobody${i}@example.com`;
    const started = process.hrtime.bigint();
    const text = await post(QUERY, { e: email });
    const micros = Number(process.hrtime.bigint() - started) / 1000;
    if (text !== ANSWER) throw new Error(`unexpected answer for ${email}: ${text}`);
    if (i >= 500) samples[known ? 'known' : 'unknown'].push(micros);
  }
  const at = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  console.log('| address | requests | median µs | p90 µs | p99 µs |');
  console.log('|---|---|---|---|---|');
  for (const [kind, values] of Object.entries(samples)) {
    values.sort((a, b) => a - b);
    const row = [0.5, 0.9, 0.99].map((q) => at(values, q).toFixed(0));
    console.log(`| ${kind} | ${values.length} | ${row.join(' | ')} |`);
  }
} finally {
  stop();
}
