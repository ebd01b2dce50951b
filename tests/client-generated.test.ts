/**
 * client/generated/ is committed: it must be what codegen.ts makes from schema.graphql and
 * client/operations/*.graphql right now (regenerated in memory and compared file by file).
 */
import { expect, test } from 'vitest';
import { generate } from '@graphql-codegen/cli';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { codegenConfigFor } from '../codegen.js';
import { repoRoot } from './testkit/hub.js';

const committedDir = path.join(repoRoot, 'client/generated');

test('client/generated is fresh (else run `npm run codegen`)', async () => {
  // saveToFile=false: nothing is written, the outputs come back in memory.
  const outputs = (await generate({ ...codegenConfigFor('client/generated'), cwd: repoRoot, silent: true }, false)) as { filename: string; content: string }[];
  const expected = new Map(outputs.map((o) => [path.relative(committedDir, path.resolve(repoRoot, o.filename)), o.content]));
  const committed = (await readdir(committedDir)).sort();
  expect(committed, 'files in client/generated').toEqual([...expected.keys()].sort());
  for (const [file, content] of expected) {
    const current = await readFile(path.join(committedDir, file), 'utf8');
    expect(current === content, `client/generated/${file} is stale: run \`npm run codegen\``).toBe(true);
  }
});
