/**
 * The compiled agents (scripts/build-agent.ts, real esbuild builds): the docker bundle carries
 * dockerode and never @kubernetes/client-node, the kubernetes bundle the reverse; each runs from a
 * folder without node_modules (what the images ship) and refuses the other driver by name. The
 * docker bundle carries no graphql, graphql-request or full zod, and turns TurboFan off for itself.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_V8_FLAGS, buildAgentBundle, UNUSED_BY_DOCKER_AGENT, type AgentDriverName } from '../scripts/build-agent.js';

let dir: string;
const built = new Map<AgentDriverName, Awaited<ReturnType<typeof buildAgentBundle>>>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'distr-agent-bundle-'));
  for (const driver of ['docker', 'kubernetes'] as const) built.set(driver, await buildAgentBundle(driver, path.join(dir, `${driver}.mjs`)));
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Bare package imports the bundle leaves to run time (none may be needed: the images have no node_modules). */
function externalPackages(driver: AgentDriverName): string[] {
  const { metafile } = built.get(driver)!;
  const imports = Object.values(metafile.outputs).flatMap((output) => output.imports.filter((i) => i.external).map((i) => i.path));
  return [...new Set(imports.filter((p) => !p.startsWith('node:') && !p.startsWith('.') && !builtinModules.includes(p)))].sort();
}

const agentEnv = {
  DISTR_HUB_URL: 'http://127.0.0.1:9',
  DISTR_TARGET_ID: 'not-a-uuid',
  DISTR_TARGET_SECRET: 'x'.repeat(32),
  DISTR_AGENT_STATE_DIR: '/nonexistent',
};

describe('agent bundles', () => {
  it('the docker bundle carries dockerode and no @kubernetes/client-node or kubernetes driver', () => {
    const { packages, metafile } = built.get('docker')!;
    expect(packages).toContain('dockerode');
    expect(packages).toContain('ws');
    expect(packages.filter((p) => p.startsWith('@kubernetes/'))).toEqual([]);
    // dockerode's ssh and BuildKit dependencies are replaced by the module that refuses them by name.
    expect(packages.filter((p) => UNUSED_BY_DOCKER_AGENT.includes(p) || p.startsWith('@grpc/'))).toEqual([]);
    expect(Object.keys(metafile.inputs)).toContain('scripts/agent-bundle-unsupported.cjs');
    // docker CLI calls go through node:child_process (agent/docker/cli.ts), not execa.
    expect(packages).not.toContain('execa');
    expect(Object.keys(metafile.inputs).filter((i) => i.startsWith('agent/kubernetes/'))).toEqual([]);
    expect(Object.keys(metafile.inputs)).toContain('agent/docker/driver.ts');
    // Small at rest (BENCHMARKS.md, "Docker agent footprint"): the documents are text
    // (protocol/generated, documentMode string) and HTTP goes through node:http, so neither
    // graphql nor graphql-request is carried; the env parser uses zod/mini, not all of zod.
    expect(packages.filter((p) => p === 'graphql' || p === 'graphql-request')).toEqual([]);
    const zodInOutput = Object.values(metafile.outputs)
      .flatMap((o) => Object.entries(o.inputs))
      .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && input.includes('node_modules/zod/'))
      .map(([input]) => input.replace(/.*node_modules\/zod\//, ''));
    expect(zodInOutput).toContain('v4/mini/schemas.js');
    expect(zodInOutput.filter((f) => f.startsWith('v4/classic/') || (f.startsWith('v4/locales/') && !['v4/locales/en.js', 'v4/locales/index.js'].includes(f)))).toEqual([]);
    // Left to run time only: the other driver's client (never imported in docker mode) and ws's
    // optional native helpers (tried, done without).
    expect(externalPackages('docker')).toEqual(['@kubernetes/client-node', 'bufferutil', 'utf-8-validate']);
  });

  it('the kubernetes bundle carries @kubernetes/client-node and no dockerode or docker driver', () => {
    const { packages, metafile } = built.get('kubernetes')!;
    expect(packages).toContain('@kubernetes/client-node');
    expect(packages.filter((p) => p === 'dockerode' || p === 'docker-modem' || p === 'ssh2')).toEqual([]);
    expect(Object.keys(metafile.inputs).filter((i) => i.startsWith('agent/docker/'))).toEqual([]);
    expect(Object.keys(metafile.inputs)).toContain('agent/kubernetes/driver.ts');
    // Optional add-ons only (ws's native helpers, node-fetch's encoding); the docker driver module stays external.
    expect(externalPackages('kubernetes')).toEqual(['bufferutil', 'encoding', 'utf-8-validate']);
    expect(Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))).toContain('./docker/driver.js');
  });

  it.each(['docker', 'kubernetes'] as const)('the %s bundle loads without node_modules and names a bad setting', async (driver) => {
    const run = await execa(process.execPath, [built.get(driver)!.outfile], {
      cwd: dir,
      env: { ...agentEnv, DISTR_AGENT_DRIVER: driver, DISTR_NAMESPACE: 'ns' },
      extendEnv: false,
      reject: false,
    });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('DISTR_TARGET_ID="not-a-uuid"');
  });

  it('the docker bundle turns V8\'s optimizing compiler off for itself; a flag on node\'s command line wins', async () => {
    // A preload that runs a hot function at exit, after the bundle started (it exits 2 on the bad
    // setting): --trace-opt prints TurboFan's work when the compiler is on.
    const preload = path.join(dir, 'hot-at-exit.mjs');
    await writeFile(preload, "process.on('exit', () => { let s = 0; const hot = (n) => { let t = 0; for (let i = 0; i < n; i++) t += i & 7; return t; }; for (let k = 0; k < 3000; k++) s += hot(2000); if (s < 0) console.log(s); });\n");
    const run = (nodeArgs: string[]) =>
      execa(process.execPath, [...nodeArgs, '--trace-opt', '--import', preload, built.get('docker')!.outfile], { cwd: dir, env: { ...agentEnv, DISTR_AGENT_DRIVER: 'docker' }, extendEnv: false, reject: false });
    expect(AGENT_V8_FLAGS.docker).toContain('--no-opt');
    const own = await run([]);
    expect(own.exitCode).toBe(2);
    expect(own.stdout).not.toMatch(/optimizing .* \(target TURBOFAN\)/);
    const overridden = await run(['--opt']);
    expect(overridden.exitCode).toBe(2);
    expect(overridden.stdout).toMatch(/completed optimizing .*JSFunction hot .* \(target TURBOFAN\)/);
  });

  it('a bundle refuses the driver it does not carry', async () => {
    const run = await execa(process.execPath, [built.get('docker')!.outfile], {
      cwd: dir,
      env: { ...agentEnv, DISTR_TARGET_ID: '5f0c3c1e-8b1d-4c3a-9a53-0d5e8f1b2c3d', DISTR_AGENT_DRIVER: 'kubernetes', DISTR_NAMESPACE: 'ns' },
      extendEnv: false,
      reject: false,
    });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('DISTR_AGENT_DRIVER="kubernetes": this agent build carries the docker driver only');
  });
});
