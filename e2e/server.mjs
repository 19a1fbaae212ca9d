// Starts the authql binary on a free loopback port with its own SQLite file and resolves
// once it logs `listening on http://ADDR`. Shared by the browser test and the audit.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The binary to test: $AUTHQL_BIN, else target/debug/authql (built by `cargo test`). */
export const binary = process.env.AUTHQL_BIN ?? join(root, 'target', 'debug', 'authql');

/**
 * @param {Record<string,string>} env extra environment (e.g. { APP_ENV: 'production' })
 * @returns {Promise<{ url: string, stop: () => Promise<void> }>}
 */
export async function startServer(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'authql-e2e-'));
  const child = spawn(binary, ['serve'], {
    env: {
      PATH: process.env.PATH,
      LISTEN_ADDR: '127.0.0.1:0',
      DATABASE_URL: `sqlite://${join(dir, 'e2e.db')}?mode=rwc`,
      JWT_SECRET_KEY: 'e2e-secret-e2e-secret-e2e-secret-e2e!',
      RUST_LOG: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  // Never leave a server behind if the calling script dies without calling stop().
  process.once('exit', () => {
    if (!exited()) child.kill('SIGKILL');
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server did not start in 30 s'));
    }, 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary}: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code ?? signal}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    url,
    stop: async () => {
      if (!exited()) {
        child.kill('SIGTERM');
        await new Promise((resolve) => (exited() ? resolve() : child.once('exit', resolve)));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
