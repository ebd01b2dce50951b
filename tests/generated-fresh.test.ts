/**
 * Generated code is committed: client/generated/, protocol/generated/ and tests/testkit/generated/
 * must be what codegen.ts makes from schema.graphql and the .graphql documents right now
 * (regenerated in memory and compared file by file), and schema.graphql what the Pothos schema prints.
 */
import { expect, test } from 'vitest';
import { generate } from '@graphql-codegen/cli';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { codegenConfigFor, GENERATED_DIRS } from '../codegen.js';
import { repoRoot } from './testkit/hub.js';

test('generated code is fresh (else run `npm run codegen`)', async () => {
  // saveToFile=false: nothing is written, the outputs come back in memory.
  const outputs = (await generate({ ...codegenConfigFor('.'), cwd: repoRoot, silent: true }, false)) as { filename: string; content: string }[];
  const expected = new Map(outputs.map((o) => [path.relative(repoRoot, path.resolve(repoRoot, o.filename)), o.content]));
  for (const dir of GENERATED_DIRS) {
    const committed = (await readdir(path.join(repoRoot, dir))).map((f) => `${dir}/${f}`).sort();
    expect(committed, `files in ${dir}`).toEqual([...expected.keys()].filter((f) => f.startsWith(`${dir}/`)).sort());
  }
  for (const [file, content] of expected) {
    const current = await readFile(path.join(repoRoot, file), 'utf8');
    expect(current === content, `${file} is stale: run \`npm run codegen\``).toBe(true);
  }
});
