/**
 * Docker Swarm live: a real hub process, the real docker agent process and a real single-node
 * swarm. The swarm runs on a private dockerd this file starts (tests/testkit/private-engine.ts):
 * other test files share the test engine in parallel and some need it out of swarm mode. The
 * stack's image exists only in the real registry (tests/testkit/registry.ts); the agent passes
 * the credentials to the nodes with --with-registry-auth.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub, type HubProcess } from './testkit/hub.js';
import { spawnAgent, eventually, type AgentProcess } from './testkit/agent-process.js';
import { WAIT_BOUND_MS } from './testkit/changes.js';
import {
  createAccess,
  createApplication,
  createDeployment,
  createDockerVersion,
  createTarget,
  deleteDeployment,
  deploymentStatus,
  forceRestart,
  ok,
  updateDeployment,
} from './testkit/flow.js';
import { LOCAL_TEST_IMAGE, randomRegistryUser, startTestRegistry, type TestRegistry } from './testkit/registry.js';
import { startPrivateEngine, type PrivateEngine } from './testkit/private-engine.js';
import { projectName } from '../server/agents/desired-state.js';

let postgres: TestPostgres;
let registry: TestRegistry;
let engine: PrivateEngine;
let hub: HubProcess;
let agent: AgentProcess;
let stateDir: string;
let imageRef: string;
const vendor = randomRegistryUser('swarm');

beforeAll(async () => {
  [postgres, registry, engine] = await Promise.all([
    startTestPostgres(),
    startTestRegistry({ users: [vendor] }),
    startPrivateEngine({ images: [LOCAL_TEST_IMAGE] }),
  ]);
  await engine.cli(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
  // Pushed from the shared engine, which then drops the tag: the private engine can only pull it.
  imageRef = await registry.pushImage(`vendor/swarm-${Math.random().toString(36).slice(2, 7)}`, { tag: '1' });
  hub = await spawnHub(await postgres.freshDatabase('swarm'));
  stateDir = await mkdtemp(path.join(os.tmpdir(), 'distr-swarm-agent-'));
}, 300_000);

afterAll(async () => {
  await agent?.stop();
  await hub?.stop();
  if (engine) {
    await engine.cli(['swarm', 'leave', '--force']).catch(() => {});
    await engine.stop();
  }
  await registry?.stop();
  await postgres?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const output = () =>
  `--- agent ---\n${agent?.output().slice(-6000)}\n--- hub ---\n${hub?.output().slice(-2000)}\n--- registry ---\n${registry?.output().slice(-1500)}\n--- private dockerd ---\n${engine?.output().slice(-2000)}`;

async function waitStatus(id: string, phase: string, revisionId: string) {
  return eventually(
    async () => {
      const s = (await deploymentStatus(hub.url, hub.bootstrapKey!, id)).status;
      return s?.phase === phase && s.revisionId === revisionId ? s : null;
    },
    `deployment ${id} ${phase} at ${revisionId}`,
    WAIT_BOUND_MS,
    output,
    () => (agent.process.exitCode !== null ? 'the agent exited' : null),
  );
}

const stackCompose = (command: string) => `services:
  web:
    image: ${imageRef}
    command: ["sh", "-c", "${command}"]
    networks: [hostnet]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 3
    deploy:
      replicas: 1
networks:
  hostnet:
    external: true
    name: host
`;

/** The running tasks of the stack's services, from the private engine itself. */
async function runningTasks(stack: string) {
  const services = await engine.docker.listServices({ filters: { label: [`com.docker.stack.namespace=${stack}`] } });
  if (!services.length) return { services, tasks: [] as { ID: string; Spec?: { ContainerSpec?: { Image?: string; Args?: string[] } } }[] };
  const tasks = (await engine.docker.listTasks({ filters: { service: services.map((s) => s.ID), 'desired-state': ['running'] } })) as {
    ID: string;
    Status?: { State?: string };
    Spec?: { ContainerSpec?: { Image?: string; Args?: string[] } };
  }[];
  return { services, tasks: tasks.filter((t) => t.Status?.State === 'running') };
}

test('a swarm stack with a private image deploys, updates, force-restarts and is removed through the real agent', async () => {
  const key = hub.bootstrapKey!;
  const app = await createApplication(hub.url, key, 'swarm-app', 'docker');
  const v1 = await createDockerVersion(hub.url, key, app.id, 'v1', stackCompose('echo v1; sleep 3600'));
  const v2 = await createDockerVersion(hub.url, key, app.id, 'v2', stackCompose('echo v2; sleep 3600'));
  const target = await createTarget(hub.url, key, { name: 'swarm-host', type: 'docker' });
  const credential = await ok(
    hub.url,
    `mutation($input: RegistryCredentialInput!) { createRegistryCredential(input: $input) { __typename } }`,
    { input: { host: registry.host, username: vendor.username, password: vendor.password } },
    key,
  );
  expect(credential.createRegistryCredential).toMatchObject({ __typename: 'RegistryCredential' });
  const access = await createAccess(hub.url, key, target.id);
  // The real agent, pointed at the private engine: dockerode by socket, the docker CLI by DOCKER_HOST.
  agent = spawnAgent({
    DISTR_HUB_URL: hub.url,
    DISTR_TARGET_ID: target.id,
    DISTR_TARGET_SECRET: access.secret,
    DISTR_AGENT_DRIVER: 'docker',
    DISTR_AGENT_STATE_DIR: stateDir,
    DOCKER_SOCKET: engine.socketPath,
    DOCKER_HOST: engine.host,
    DISTR_OBSERVE_INTERVAL_SECONDS: '1',
  });

  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: v1.id, docker: { composeType: 'swarm' } });
  const stack = projectName(d.id);
  const healthy = await waitStatus(d.id, 'healthy', d.currentRevision.id);
  expect(healthy.message).toBe('web: 1/1 tasks running, healthy');
  const first = await runningTasks(stack);
  expect(first.services.map((s) => s.Spec?.Name)).toEqual([`${stack}_web`]);
  expect(first.tasks).toHaveLength(1);
  expect(first.tasks[0]!.Spec?.ContainerSpec?.Image).toContain(imageRef);
  // The image came from the registry through the nodes' credentials (the private engine had only busybox).
  expect(registry.output()).toContain(vendor.username);

  // Update to v2: the service's task is replaced by one running v2's command.
  const updated = await updateDeployment(hub.url, key, d.id, { versionId: v2.id });
  await waitStatus(d.id, 'healthy', updated.currentRevision.id);
  const second = await eventually(
    async () => {
      const now = await runningTasks(stack);
      return now.tasks.length === 1 && JSON.stringify(now.tasks[0]!.Spec?.ContainerSpec?.Args).includes('echo v2') ? now : null;
    },
    'the v2 task running',
    WAIT_BOUND_MS,
    output,
  );

  // Force restart: swarm replaces the task (a new task id), the deployment is healthy again.
  const restarted = await forceRestart(hub.url, key, d.id);
  await eventually(
    async () => {
      const now = await runningTasks(stack);
      return now.tasks.length === 1 && now.tasks[0]!.ID !== second.tasks[0]!.ID;
    },
    'a new task after the force restart',
    WAIT_BOUND_MS,
    output,
  );
  await waitStatus(d.id, 'healthy', restarted.currentRevision.id);

  // Remove: the stack's services are gone from the swarm.
  await deleteDeployment(hub.url, key, d.id);
  await eventually(async () => (await runningTasks(stack)).services.length === 0, 'the stack removed', WAIT_BOUND_MS, output);
  expect(agent.output()).not.toContain(vendor.password);
  expect(agent.output()).not.toContain(access.secret);
});
