// schema.graphql and introspection describe the same schema: graphql-js's
// findBreakingChanges is empty in both directions (a change one way is breaking only in
// the other, so both are needed), and so is findDangerousChanges. Exits 1 otherwise.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildClientSchema,
  buildSchema,
  findBreakingChanges,
  findDangerousChanges,
  getIntrospectionQuery,
} from 'graphql';
import { startServer } from './server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sdl = buildSchema(readFileSync(join(root, 'schema.graphql'), 'utf8'));

const server = await startServer();
let failures = 0;
try {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }) }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`introspection failed: ${JSON.stringify(body.errors)}`);
  const introspected = buildClientSchema(body.data);
  for (const [name, from, to] of [
    ['schema.graphql -> introspection', sdl, introspected],
    ['introspection -> schema.graphql', introspected, sdl],
  ]) {
    const changes = [...findBreakingChanges(from, to), ...findDangerousChanges(from, to)];
    for (const change of changes) {
      console.log(`${name}: ${change.type}: ${change.description}`);
    }
    failures += changes.length;
  }
} finally {
  await server.stop();
}
if (failures > 0) {
  console.log(`schema-sync: ${failures} difference(s) between schema.graphql and introspection`);
  process.exit(1);
}
console.log('schema-sync: schema.graphql and introspection agree');
