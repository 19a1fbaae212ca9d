// Regenerates the typed operations into a temporary folder and fails when they differ
// from the committed src/gql/ (schema.graphql or an operation changed without
// `npm run codegen`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(root, 'src', 'gql');
const fresh = mkdtempSync(join(tmpdir(), 'authql-codegen-'));
try {
  const run = spawnSync(
    process.execPath,
    [join(root, 'node_modules', '@graphql-codegen', 'cli', 'esm', 'bin.js'), '--config', 'codegen.ts', '--silent'],
    { cwd: root, env: { ...process.env, CODEGEN_OUT: `${fresh}/` }, stdio: 'inherit' },
  );
  if (run.status !== 0) {
    console.error('codegen:check: graphql-codegen failed');
    process.exit(1);
  }
  const list = (dir) => readdirSync(dir).filter((name) => !name.startsWith('.')).sort();
  const a = list(committed);
  const b = list(fresh);
  const differing = [...new Set([...a, ...b])].filter(
    (name) =>
      !a.includes(name) ||
      !b.includes(name) ||
      readFileSync(join(committed, name), 'utf8') !== readFileSync(join(fresh, name), 'utf8'),
  );
  if (differing.length > 0) {
    console.error(
      `codegen:check: src/gql/ is stale (${differing.join(', ')}): run \`npm run codegen\` and commit the result`,
    );
    process.exit(1);
  }
  console.log(`codegen:check: src/gql/ matches schema.graphql and the operations (${a.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
