// GraphQL-over-HTTP compliance: runs every audit of `graphql-http` against a freshly
// started authql and prints one line per audit. Exits 1 when any MUST is not `ok` (or an
// audit could not run at all); SHOULD/MAY results are informational and listed in the
// docs/api.md ("graphql-http audit").
//
//   node e2e/audit.mjs              one line per audit on stdout
//   node e2e/audit.mjs --markdown   the lines on stderr, and on stdout a markdown table of
//                                   the SHOULD/MAY results (for docs/api.md)
//
// The server runs in development mode (the server.mjs default): several audits query
// `__type`, which needs introspection.
import { serverAudits } from 'graphql-http';
import { startServer } from './server.mjs';

const markdown = process.argv.includes('--markdown');
const log = markdown ? console.error : console.log;

/** No audit may hang CI: each request gets this long before it counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;

const fetchWithTimeout = (input, init = {}) =>
  fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

/**
 * Runs one audit. `fn()` resolves `{ status: 'ok' | 'notice' | 'warn' | 'error', reason }`
 * for assertion failures but rejects on anything else (connection reset, timeout); that
 * is a failure of its own, whatever the audit's level.
 */
async function run(audit) {
  try {
    const result = await audit.fn();
    return { ...result, fatal: false };
  } catch (error) {
    return {
      id: audit.id,
      name: audit.name,
      status: 'error',
      reason: `audit could not run: ${error?.cause?.message ?? error?.message ?? error}`,
      fatal: true,
    };
  }
}

// Pipes would end the cell, newlines the row, and the `*` of `*/*` would render as emphasis.
const cell = (text) =>
  String(text ?? '')
    .replace(/[\\|*_`]/g, '\\$&')
    .replace(/\s+/g, ' ');

function markdownTable(results) {
  const rows = results
    .filter((r) => !r.name.startsWith('MUST'))
    .map((r) => `| ${r.id} | ${cell(r.name)} | ${r.status} | ${cell(r.reason ?? '')} |`);
  return ['| ID | Audit | Result | Reason |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/**
 * `stop()` waits for the child's `exit` event, which never comes if the server already
 * died of a signal (its `exitCode` stays null): a crashed server must fail the run, not
 * hang CI.
 */
const STOP_TIMEOUT_MS = 10_000;

async function stopWithin(server) {
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS);
  });
  const stopped = await Promise.race([server.stop().then(() => true), deadline]);
  clearTimeout(timer);
  if (!stopped) {
    console.error(`the server did not stop within ${STOP_TIMEOUT_MS / 1000} s`);
  }
  return stopped;
}

async function main() {
  const server = await startServer();
  // Ctrl-C or a CI cancellation must not leave the binary running.
  const onSignal = (signal) => {
    stopWithin(server).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const audits = serverAudits({ url: `${server.url}/graphql`, fetchFn: fetchWithTimeout });
  const results = [];
  let stopped = false;
  try {
    // One at a time: the output order is the audit order and failures are reproducible.
    for (const audit of audits) {
      results.push(await run(audit));
    }
  } finally {
    stopped = await stopWithin(server);
  }

  for (const r of results) {
    log(`${r.status.padEnd(6)} ${r.id}  ${r.name}${r.reason ? `  (${r.reason})` : ''}`);
  }
  const failed = results.filter((r) => r.fatal || (r.name.startsWith('MUST') && r.status !== 'ok'));
  const count = (status) => results.filter((r) => r.status === status).length;
  log(
    `\n${results.length} audits: ${count('ok')} ok, ${count('notice')} notice, ` +
      `${count('warn')} warn, ${count('error')} error`,
  );
  if (markdown) {
    console.log(markdownTable(results));
  }
  if (failed.length > 0) {
    log(`FAILED: ${failed.map((r) => r.id).join(', ')}`);
    process.exitCode = 1;
  }
  if (!stopped) {
    // The child's open stdout would keep this process alive.
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
