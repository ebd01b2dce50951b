/**
 * The hub's .env parser against compose itself: each file of tests/env-corpus is a project's
 * .env; compose 2.40 (`config --format json` over a compose file that interpolates every key,
 * and `config --environment` for the set of keys) must see exactly the values the hub parses,
 * and refuse exactly the files the hub refuses. npm dotenv's results are compared too, to show
 * why the hub does not use it for this.
 */
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import dotenv from 'dotenv';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseComposeEnvFile, formatComposeEnvFile } from '../server/validation/env-file.js';

const root = path.resolve(import.meta.dirname, '..');
const ORACLE = process.env.DISTR_COMPOSE_ORACLE ?? path.join(root, '.bin/compose-oracle/docker-compose');
const CORPUS = path.join(root, 'tests/env-corpus');
const INHERENT = new Set(['COMPOSE_PROJECT_NAME', 'HOME', 'PATH', 'PWD', 'DOCKER_CONFIG']);
const SIMPLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const sameEntries = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

let work: string;
interface Result {
  file: string;
  hub: Record<string, string> | Error;
  oracle: { ok: boolean; values: Record<string, string>; keys: string[]; message: string };
  dotenv: Record<string, string>;
}
const results: Result[] = [];

async function oracle(dir: string, text: string, probe: string[]) {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, '.env'), text);
  const env = Object.fromEntries(probe.map((k) => [k, `\${${k}}`]));
  await writeFile(path.join(dir, 'compose.yaml'), JSON.stringify({ services: { probe: { image: 'x', environment: env } } }));
  const opts = { cwd: dir, reject: false, extendEnv: false, env: { PATH: '/usr/bin:/bin', HOME: dir, DOCKER_CONFIG: path.join(dir, '.docker') } } as const;
  const base = ['--project-name', 'envprobe', '--project-directory', dir];
  const [json, listing] = await Promise.all([execa(ORACLE, [...base, 'config', '--format', 'json'], opts), execa(ORACLE, [...base, 'config', '--environment'], opts)]);
  if (json.exitCode !== 0) return { ok: false, values: {}, keys: [], message: json.stderr.trim() };
  // `config` prints a model that can be read again: a literal $ comes out as $$.
  const printed = (JSON.parse(json.stdout).services.probe.environment ?? {}) as Record<string, string>;
  const values = Object.fromEntries(Object.entries(printed).map(([k, v]) => [k, v.replace(/\$\$/g, '$')]));
  const keys = listing.stdout
    .split('\n')
    .map((l) => /^([A-Za-z_][A-Za-z0-9_.-]*)=/.exec(l)?.[1])
    .filter((k): k is string => !!k && !INHERENT.has(k));
  return { ok: true, values, keys, message: '' };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'env-differential-'));
  const files = (await readdir(CORPUS)).sort();
  await Promise.all(
    files.map(async (file, i) => {
      const text = await readFile(path.join(CORPUS, file), 'utf8');
      let hub: Record<string, string> | Error;
      try {
        hub = parseComposeEnvFile(text);
      } catch (error) {
        hub = error as Error;
      }
      const probe = hub instanceof Error ? [] : Object.keys(hub).filter((k) => SIMPLE_NAME.test(k));
      results[i] = { file, hub, oracle: await oracle(path.join(work, String(i)), text, probe), dotenv: dotenv.parse(text) };
    }),
  );
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

it('the hub parses every .env file of the corpus to the values compose uses, and refuses what compose refuses', () => {
  expect(results.length).toBeGreaterThanOrEqual(30);
  const wrong: string[] = [];
  for (const r of results) {
    if (r.hub instanceof Error) {
      if (r.oracle.ok) wrong.push(`${r.file}: hub refuses (${r.hub.message}), compose accepts`);
      continue;
    }
    if (!r.oracle.ok) {
      wrong.push(`${r.file}: hub accepts, compose refuses (${r.oracle.message})`);
      continue;
    }
    for (const [k, v] of Object.entries(r.hub)) {
      if (SIMPLE_NAME.test(k) && r.oracle.values[k] !== v) wrong.push(`${r.file}: ${k} hub ${JSON.stringify(v)} compose ${JSON.stringify(r.oracle.values[k])}`);
    }
    for (const k of r.oracle.keys) if (!(k in r.hub)) wrong.push(`${r.file}: compose has ${k}, the hub does not`);
  }
  const refused = results.filter((r) => !r.oracle.ok).length;
  const dotenvDiffers = results.filter((r) => r.oracle.ok && !sameEntries(r.dotenv, r.oracle.values)).map((r) => r.file);
  console.log(`env differential: ${results.length} files (${refused} refused by compose), ${wrong.length} disagreements; npm dotenv differs from compose on ${dotenvDiffers.length}: ${dotenvDiffers.join(', ')}`);
  expect(wrong).toEqual([]);
});

it('formatComposeEnvFile writes values compose reads back unchanged', () => {
  const values = { A: 'plain', B: 'with space', C: "it's", D: 'line1\nline2', E: 'cost $5 "q" \\ back', F: '', G: '${NOT_EXPANDED}' };
  expect(parseComposeEnvFile(formatComposeEnvFile(values))).toEqual(values);
});
