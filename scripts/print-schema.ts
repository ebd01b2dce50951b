/** Prints the Pothos schema (types sorted) to schema.graphql; `--check` fails when the file is stale. */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printSchema } from 'graphql';
import { schema } from '../server/schema/index.js';

const file = fileURLToPath(new URL('../schema.graphql', import.meta.url));
const printed = printSchema(schema) + '\n';
if (process.argv.includes('--check')) {
  const current = await readFile(file, 'utf8').catch(() => '');
  if (current !== printed) {
    console.error('schema.graphql is stale: run `npm run schema:print`');
    process.exit(1);
  }
} else {
  await writeFile(file, printed);
  console.log(`wrote ${file}`);
}
