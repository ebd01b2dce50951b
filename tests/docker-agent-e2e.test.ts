/**
 * The docker agent end to end: a real hub process, the real agent process, the real Docker engine
 * and compose v2 (started by scripts/setup-test-env.sh), the local busybox image.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import Docker from 'dockerode';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub, type HubProcess } from './testkit/hub.js';
import { spawnAgent, eventually, type AgentProcess } from './testkit/agent-process.js';
import { WAIT_BOUND_MS } from './testkit/changes.js';
import {
  COMPOSE_TWO_SERVICES,
  createAccess,
  createDeployment,
  createDockerVersion,
  deleteDeployment,
  deploymentStatus,
  forceRestart,
  ok,
  seedDockerSetup,
  updateDeployment,
} from './testkit/flow.js';
import { projectName } from '../server/agents/desired-state.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let pg: TestPostgres;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  try {
    await docker.ping();
  } catch {
    throw new Error('no Docker engine at /var/run/docker.sock: run `bash scripts/setup-test-env.sh` (npm test does)');
  }
  pg = await startTestPostgres();
});
afterAll(async () => {
  await pg?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

interface Env {
  hub: HubProcess;
  key: string;
  agent: AgentProcess;
  agentEnv: Record<string, string>;
  seed: Awaited<ReturnType<typeof seedDockerSetup>>;
  logs(): string;
}

async function setup(options: { logsEnabled?: boolean } = {}): Promise<Env> {
  const db = await pg.freshDatabase('docker');
  const hub = await spawnHub(db);
  cleanups.push(() => hub.stop());
  const key = hub.bootstrapKey!;
  const seed = await seedDockerSetup(hub.url, key, `shop${Math.random().toString(36).slice(2, 7)}`);
  if (options.logsEnabled) {
    await ok(hub.url, `mutation($id: ID!) { updateDeploymentTarget(id: $id, input: {logsEnabled: true}) { __typename } }`, { id: seed.target.id }, key);
  }
  const access = await createAccess(hub.url, key, seed.target.id);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'distr-agent-'));
  const agentEnv = {
    DISTR_HUB_URL: hub.url,
    DISTR_TARGET_ID: seed.target.id,
    DISTR_TARGET_SECRET: access.secret,
    DISTR_AGENT_DRIVER: 'docker',
    DISTR_AGENT_STATE_DIR: stateDir,
    DISTR_DOCKER_PULL_POLICY: 'never',
  };
  const env: Env = { hub, key, agent: spawnAgent(agentEnv), agentEnv, seed, logs: () => '' };
  env.logs = () => `--- agent output ---\n${env.agent.output().slice(0, 8000)}\n--- hub output ---\n${env.hub.output().slice(-3000)}`;
  cleanups.push(() => env.agent.stop());
  return env;
}

async function containersOf(deploymentId: string) {
  const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName(deploymentId)}`] } });
  return Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
}

function removeProjectLater(deploymentId: string) {
  cleanups.push(async () => {
    for (const c of await containersOf(deploymentId)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  });
}

async function waitStatus(env: Env, deploymentId: string, phase: string, revisionId?: string, timeoutMs = WAIT_BOUND_MS) {
  return eventually(
    async () => {
      const d = await deploymentStatus(env.hub.url, env.key, deploymentId);
      return d.status?.phase === phase && (!revisionId || d.status.revisionId === revisionId) ? d.status : null;
    },
    `deployment ${deploymentId} ${phase}${revisionId ? ` at revision ${revisionId}` : ''}`,
    timeoutMs,
    env.logs,
  );
}

test('deploy, upgrade with new env, force restart, delete keeping volumes', async () => {
  const env = await setup();
  const compose = COMPOSE_TWO_SERVICES + 'volumes:\n  data: {}\n';
  const withVolume = compose.replace('    network_mode: none\n    healthcheck:', '    network_mode: none\n    volumes:\n      - data:/data\n    healthcheck:');
  const v1 = await createDockerVersion(env.hub.url, env.key, env.seed.app.id, 'v1-vol', withVolume, 'GREETING=hello\n');
  const d = await createDeployment(env.hub.url, env.key, { targetId: env.seed.target.id, versionId: v1.id, docker: { composeType: 'compose', envFile: 'GREETING=first\n' } });
  removeProjectLater(d.id);

  const healthy = await waitStatus(env, d.id, 'healthy', d.currentRevision.id);
  expect(healthy.message).toBe('1 healthy, 1 running without healthcheck');
  const first = await containersOf(d.id);
  expect(first.map((c) => c.Config.Labels['com.docker.compose.service']).sort()).toEqual(['web', 'worker']);
  expect(first.find((c) => c.Config.Labels['com.docker.compose.service'] === 'worker')!.Config.Env).toContain('GREETING=first');

  // Switch version and env: containers replaced, the new revision reported.
  const v2 = await createDockerVersion(env.hub.url, env.key, env.seed.app.id, 'v2-vol', withVolume.replace('echo worker', 'echo worker-v2'), 'GREETING=hello\n');
  const updated = await updateDeployment(env.hub.url, env.key, d.id, { versionId: v2.id, envFile: 'GREETING=second\n' });
  await waitStatus(env, d.id, 'healthy', updated.currentRevision.id);
  const second = await containersOf(d.id);
  const worker2 = second.find((c) => c.Config.Labels['com.docker.compose.service'] === 'worker')!;
  expect(worker2.Config.Env).toContain('GREETING=second');
  expect(worker2.Id).not.toBe(first.find((c) => c.Config.Labels['com.docker.compose.service'] === 'worker')!.Id);

  // Force restart: same containers, new start times.
  const startedBefore = new Map(second.map((c) => [c.Id, c.State.StartedAt]));
  const restarted = await forceRestart(env.hub.url, env.key, d.id);
  await eventually(
    async () => {
      const now = await containersOf(d.id);
      return now.length === 2 && now.every((c) => startedBefore.has(c.Id) && c.State.StartedAt !== startedBefore.get(c.Id));
    },
    'containers restarted',
    WAIT_BOUND_MS,
    env.logs,
  );
  await waitStatus(env, d.id, 'healthy', restarted.currentRevision.id);

  // Delete: containers gone, the named volume kept.
  const volume = `${projectName(d.id)}_data`;
  expect((await docker.getVolume(volume).inspect()).Name).toBe(volume);
  cleanups.push(() => docker.getVolume(volume).remove());
  await deleteDeployment(env.hub.url, env.key, d.id);
  await eventually(async () => (await containersOf(d.id)).length === 0, 'containers removed', WAIT_BOUND_MS, env.logs);
  expect((await docker.getVolume(volume).inspect()).Name).toBe(volume);
});

test('a failing compose (unknown image) reports docker\'s error, then recovers with a good version', async () => {
  const env = await setup();
  const bad = await createDockerVersion(env.hub.url, env.key, env.seed.app.id, 'broken', COMPOSE_TWO_SERVICES.replace('image: local/busybox:test\n    command: ["sh", "-c", "echo web up', 'image: local/does-not-exist:1\n    command: ["sh", "-c", "echo web up'));
  const d = await createDeployment(env.hub.url, env.key, { targetId: env.seed.target.id, versionId: bad.id, docker: { composeType: 'compose' } });
  removeProjectLater(d.id);
  const error = await waitStatus(env, d.id, 'error', d.currentRevision.id);
  expect(error.message).toMatch(/local\/does-not-exist/);
  expect(error.message).toMatch(/No such image|not found|pull access denied/i);
  const fixed = await updateDeployment(env.hub.url, env.key, d.id, { versionId: env.seed.version.id });
  await waitStatus(env, d.id, 'healthy', fixed.currentRevision.id);
});

test('an agent killed mid-apply converges after it restarts', async () => {
  const env = await setup();
  // `up` waits for web to be healthy before starting worker: the apply takes a few seconds.
  const slow = `services:
  web:
    image: local/busybox:test
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; sleep 3600"]
    init: true
    network_mode: none
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  worker:
    image: local/busybox:test
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
    depends_on:
      web:
        condition: service_healthy
`;
  const v = await createDockerVersion(env.hub.url, env.key, env.seed.app.id, 'slow', slow);
  const d = await createDeployment(env.hub.url, env.key, { targetId: env.seed.target.id, versionId: v.id, docker: { composeType: 'compose' } });
  removeProjectLater(d.id);
  await waitStatus(env, d.id, 'progressing', d.currentRevision.id);
  await eventually(async () => (await containersOf(d.id)).length > 0, 'apply under way', WAIT_BOUND_MS, env.logs);
  await env.agent.kill();
  const restarted = spawnAgent(env.agentEnv);
  env.agent = restarted;
  await waitStatus(env, d.id, 'healthy', d.currentRevision.id);
  const running = await containersOf(d.id);
  expect(running.map((c) => c.State.Status).sort()).toEqual(['running', 'running']);
});

test('after a hub restart the agent reconnects and the deployment keeps running untouched', async () => {
  const env = await setup({ logsEnabled: true });
  const d = await createDeployment(env.hub.url, env.key, { targetId: env.seed.target.id, versionId: env.seed.version.id, docker: { composeType: 'compose' } });
  removeProjectLater(d.id);
  await waitStatus(env, d.id, 'healthy', d.currentRevision.id);
  const before = await containersOf(d.id);
  const { port, databaseUrl } = env.hub;
  await env.hub.stop();
  const count = (pattern: RegExp) => (env.agent.output().match(pattern) ?? []).length;
  const outputBefore = env.agent.output().length;
  const receivedBefore = count(/"desired state received"/g);
  env.hub = await spawnHub(databaseUrl, { port });
  cleanups.push(() => env.hub.stop());
  // The state the reconnected agent gets is what it decides on (synchronously: apply or not).
  await env.agent.untilOutput(() => count(/"desired state received"/g) > receivedBefore, 'the desired state after the reconnect');
  const status = await deploymentStatus(env.hub.url, env.key, d.id);
  expect(status.status?.phase).toBe('healthy');
  // Logs were streamed to the hub (the target has logs enabled).
  const logs = await eventually(
    async () => {
      const data = await ok(env.hub.url, `query($id: ID!) { deployment(id: $id) { logs { resource line } } }`, { id: d.id }, env.key);
      const lines = data.deployment.logs as { resource: string; line: string }[];
      return lines.some((l) => l.line.includes('web up')) && lines.some((l) => l.line.includes('worker hello')) ? lines : null;
    },
    'log lines at the hub',
    WAIT_BOUND_MS,
    env.logs,
  );
  expect(logs.length).toBeGreaterThanOrEqual(2);
  // By now (an event well after the reconnect, not a pause) an apply would have shown: the reconnect
  // applied nothing and restarted nothing — same containers, same start times.
  expect(env.agent.output().slice(outputBefore)).not.toMatch(/"msg":"(applied|restarted|apply failed)"/);
  const after = await containersOf(d.id);
  expect(after.map((c) => [c.Id, c.State.StartedAt]).sort()).toEqual(before.map((c) => [c.Id, c.State.StartedAt]).sort());
});
