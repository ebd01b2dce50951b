/**
 * The hub's compose validator against the real `docker compose config --quiet` (compose 2.40 from
 * Debian forky, .bin/compose-oracle, installed by scripts/setup-test-env.sh) over the corpus in
 * tests/compose-corpus: valid/ (compose accepts), invalid/ (every rule broken at least twice;
 * compose rejects), policy/ (compose accepts, the hub refuses by design: unknown YAML tags,
 * env files outside the version). Each file is its own one-file project in a temp folder with
 * its `# env:` line as .env and nothing from this process's environment.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCompose } from '../server/validation/compose.js';
import { parseComposeEnvFile } from '../server/validation/env-file.js';

const root = path.resolve(import.meta.dirname, '..');
const ORACLE = process.env.DISTR_COMPOSE_ORACLE ?? path.join(root, '.bin/compose-oracle/docker-compose');
const CORPUS = path.join(root, 'tests/compose-corpus');
const PARALLEL = 4;

interface Case {
  kind: 'valid' | 'invalid' | 'policy';
  file: string;
  text: string;
  env: string;
}
interface Outcome extends Case {
  oracleOk: boolean;
  oracleMessage: string;
  hubOk: boolean;
  hubMessages: string[];
  hubPaths: string[];
  hubCodes: string[];
}

let work: string;
const outcomes: Outcome[] = [];

async function loadCorpus(): Promise<Case[]> {
  const cases: Case[] = [];
  for (const kind of ['valid', 'invalid', 'policy'] as const) {
    for (const file of (await readdir(path.join(CORPUS, kind))).sort()) {
      const text = await readFile(path.join(CORPUS, kind, file), 'utf8');
      const env = /^# env: (.*)$/m.exec(text)?.[1]?.split(';').join('\n') ?? '';
      cases.push({ kind, file: `${kind}/${file}`, text, env: env ? `${env}\n` : '' });
    }
  }
  return cases;
}

async function runOracle(c: Case, index: number): Promise<{ ok: boolean; message: string }> {
  const dir = path.join(work, String(index));
  await execa('mkdir', ['-p', dir]);
  await writeFile(path.join(dir, 'compose.yaml'), c.text);
  await writeFile(path.join(dir, '.env'), c.env);
  const result = await execa(ORACLE, ['--project-name', 'corpus', '--project-directory', dir, '--file', path.join(dir, 'compose.yaml'), 'config', '--quiet'], {
    cwd: dir,
    reject: false,
    extendEnv: false,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, DOCKER_CONFIG: path.join(dir, '.docker') },
  });
  return { ok: result.exitCode === 0, message: (result.stderr || result.stdout).trim() };
}

async function pool<T, R>(items: T[], size: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'compose-differential-'));
  const cases = await loadCorpus();
  const oracle = await pool(cases, PARALLEL, runOracle);
  cases.forEach((c, i) => {
    const hub = checkCompose(c.text, { environment: parseComposeEnvFile(c.env), mode: 'deployment' });
    const errors = hub.findings.filter((f) => f.severity === 'error');
    outcomes.push({
      ...c,
      oracleOk: oracle[i]!.ok,
      oracleMessage: oracle[i]!.message,
      hubOk: errors.length === 0,
      hubMessages: errors.map((f) => f.message),
      hubPaths: errors.map((f) => f.path),
      hubCodes: errors.map((f) => f.code),
    });
  });
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('compose validator vs docker compose config --quiet', () => {
  it('the corpus is large enough: ≥150 files, valid and invalid', () => {
    const count = (k: string) => outcomes.filter((o) => o.kind === k).length;
    console.log(`compose corpus: ${outcomes.length} files (${count('valid')} valid, ${count('invalid')} invalid, ${count('policy')} policy)`);
    expect(outcomes.length).toBeGreaterThanOrEqual(150);
    expect(count('valid')).toBeGreaterThan(50);
    expect(count('invalid')).toBeGreaterThan(50);
  });

  it('the oracle agrees with the folder each file is in', () => {
    const wrong = outcomes
      .filter((o) => (o.kind === 'invalid' ? o.oracleOk : !o.oracleOk))
      .map((o) => `${o.file}: compose ${o.oracleOk ? 'accepts' : `rejects: ${o.oracleMessage}`}`);
    expect(wrong).toEqual([]);
  });

  it('the hub accepts exactly what compose accepts (valid and invalid files)', () => {
    const disagreements = outcomes
      .filter((o) => o.kind !== 'policy' && o.hubOk !== o.oracleOk)
      .map((o) => `${o.file}: compose ${o.oracleOk ? 'accepts' : `rejects (${o.oracleMessage})`}, hub ${o.hubOk ? 'accepts' : `rejects (${o.hubMessages.join('; ')})`}`);
    const agreed = outcomes.filter((o) => o.kind !== 'policy').length - disagreements.length;
    console.log(`compose differential: ${agreed} agree, ${disagreements.length} disagree`);
    expect(disagreements).toEqual([]);
  });

  it('every rejection names the path in the file (or the line, for YAML syntax)', () => {
    const unnamed = outcomes
      .filter((o) => !o.hubOk)
      .filter((o) => o.hubPaths.some((p, i) => p === '' && !['compose_empty', 'compose_yaml'].includes(o.hubCodes[i]!)) || o.hubMessages.some((m, i) => o.hubPaths[i] !== '' && !m.includes(o.hubPaths[i]!.split('[')[0]!.split('.').slice(0, 2).join('.'))))
      .map((o) => `${o.file}: ${o.hubPaths.map((p, i) => `${p || '(no path)'} ${o.hubMessages[i]}`).join('; ')}`);
    expect(unnamed).toEqual([]);
    const syntax = outcomes.filter((o) => o.hubCodes.includes('compose_yaml') && o.hubPaths.includes(''));
    for (const o of syntax) expect(o.hubMessages.join(' ')).toMatch(/line \d+|mapping|YAML|key|anchor/i);
  });

  it('policy files: compose accepts them, the hub refuses them by design and says why', () => {
    const policy = outcomes.filter((o) => o.kind === 'policy');
    expect(policy.length).toBeGreaterThan(0);
    for (const o of policy) {
      expect(o.oracleOk, `${o.file}: ${o.oracleMessage}`).toBe(true);
      expect(o.hubOk, o.file).toBe(false);
      expect(o.hubMessages.join(' ')).toMatch(/tag|outside the compose file/);
    }
  });
});
