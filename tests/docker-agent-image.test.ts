/**
 * The docker install command as the hub prints it, run verbatim by bash against the test engine:
 * the agent image (built by scripts/build-agent-image.sh, no base image pulled) starts, the agent
 * logs in with the secret the command read from stdin, deploys a deployment and reports healthy.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import Docker from 'dockerode';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, spawnHub, type HubProcess } from './testkit/hub.js';
import { eventually } from './testkit/agent-process.js';
import { WAIT_BOUND_MS } from './testkit/changes.js';
import { createAccess, createDeployment, deploymentStatus, seedDockerSetup } from './testkit/flow.js';
import { freePort } from '../server/db/embedded.js';
import { projectName } from '../server/agents/desired-state.js';
import { DEFAULT_DOCKER_AGENT_IMAGE } from '../server/targets/install.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let pg: TestPostgres;
let hub: HubProcess;
let home: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await docker.ping();
  // Built once per machine and source state (the script tags it by a content hash).
  await execa('bash', [path.join(repoRoot, 'scripts/build-agent-image.sh'), '--if-missing'], { cwd: repoRoot });
  pg = await startTestPostgres();
  const port = await freePort();
  // Host networking: the agent container reaches the hub on the host's loopback.
  hub = await spawnHub(await pg.freshDatabase('agentimage'), { port, env: { DISTR_PUBLIC_URL: `http://127.0.0.1:${port}` } });
  home = await mkdtemp(path.join(os.tmpdir(), 'distr-install-home-'));
}, 600_000);
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  await hub?.stop();
  await pg?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

test('the image is what the install command names by default and carries no kubernetes client', async () => {
  const image = await docker.getImage(DEFAULT_DOCKER_AGENT_IMAGE).inspect();
  expect(image.Config.Entrypoint).toEqual(['/usr/bin/node', '/app/agent.mjs']);
  expect(image.Config.Env).toContain('DISTR_AGENT_DRIVER=docker');
  const run = (cmd: string[]) => execa('docker', ['run', '--rm', '--network', 'none', '--entrypoint', cmd[0]!, DEFAULT_DOCKER_AGENT_IMAGE, ...cmd.slice(1)]);
  expect((await run(['/usr/local/bin/docker', 'compose', 'version'])).stdout).toMatch(/Docker Compose version v?2\./);
  const bundle = (await run(['/usr/bin/node', '-e', 'process.stdout.write(require("fs").readFileSync("/app/agent.mjs","utf8"))'])).stdout;
  expect(bundle).not.toMatch(/^\/\/ node_modules\/@kubernetes\//m);
  // A missing setting is a clear configuration error from the bundled agent, exit code 2.
  const bad = await execa('docker', ['run', '--rm', '--network', 'none', DEFAULT_DOCKER_AGENT_IMAGE], { reject: false });
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr).toContain('DISTR_HUB_URL');
  expect(await readFile(path.join(repoRoot, '.dockerignore'), 'utf8')).toMatch(/^node_modules$/m);
});

test('the printed docker command, run verbatim, starts an agent that deploys and reports healthy', async () => {
  const seed = await seedDockerSetup(hub.url, hub.bootstrapKey!, `img${Math.random().toString(36).slice(2, 7)}`);
  const access = await createAccess(hub.url, hub.bootstrapKey!, seed.target.id);
  expect(access.installCommand).toContain(DEFAULT_DOCKER_AGENT_IMAGE);
  expect(access.installCommand).not.toContain(access.secret);
  const name = `distr-agent-${seed.target.id.slice(0, 8)}`;
  cleanups.push(async () => {
    await docker.getContainer(name).remove({ force: true });
    await docker.getVolume(`${name}-state`).remove();
  });

  // Verbatim: bash runs the printed text; the secret goes in on stdin, as `read -rs` asks for it.
  const ran = await execa('bash', ['-euo', 'pipefail', '-c', access.installCommand], { input: `${access.secret}\n`, env: { ...process.env, HOME: home } });
  expect(ran.stdout + ran.stderr).not.toContain(access.secret);
  const secretFile = path.join(home, '.distr-agent', `${seed.target.id}.secret`);
  expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
  expect(await readFile(secretFile, 'utf8')).toBe(access.secret);

  const agentLogs = async () => {
    const out = await execa('docker', ['logs', name], { reject: false, all: true });
    return out.all ?? '';
  };
  let logs = '';
  const onFail = () => `--- agent container ---\n${logs.slice(-6000)}\n--- hub ---\n${hub.output().slice(-3000)}`;
  const running = await docker.getContainer(name).inspect();
  expect(running.Config.Image).toBe(DEFAULT_DOCKER_AGENT_IMAGE);
  expect(running.HostConfig.NetworkMode).toBe('host');


  const d = await createDeployment(hub.url, hub.bootstrapKey!, { targetId: seed.target.id, versionId: seed.version.id, docker: { composeType: 'compose', envFile: 'GREETING=from-image\n' } });
  cleanups.push(async () => {
    const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName(d.id)}`] } });
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  });
  let stopped: string | null = null;
  const status = await eventually(
    async () => {
      logs = await agentLogs();
      const state = (await docker.getContainer(name).inspect()).State;
      if (!state.Running) stopped = `the agent container stopped (${state.Status}, exit code ${state.ExitCode})`;
      const s = (await deploymentStatus(hub.url, hub.bootstrapKey!, d.id)).status;
      return s?.phase === 'healthy' && s.revisionId === d.currentRevision.id ? s : null;
    },
    'the deployment healthy through the agent container',
    WAIT_BOUND_MS,
    onFail,
    () => stopped,
  );
  expect(status.message).toBe('1 healthy, 1 running without healthcheck');
  const containers = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${projectName(d.id)}`] } });
  expect(containers.map((c) => c.Labels['com.docker.compose.service']).sort()).toEqual(['web', 'worker']);
  // The agent that did it is the container: the hub saw it connect from the image's agent.
  expect(logs).toContain('agent starting');
  expect(logs).not.toContain(access.secret);
});
