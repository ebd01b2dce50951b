/**
 * A staged rollout end to end with the real docker agent: a real hub process, three real agent
 * processes (one per target) on the real Docker engine with compose v2. The canary's new version
 * fails its healthcheck → the rollout halts and rolls the canary back to its previous revision;
 * the old version's containers run again and the other targets are never touched. Every wait is
 * on an event (the rollout's progress subscription, deployment status events), never the clock.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import Docker from 'dockerode';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DistrService } from '../client/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub } from './testkit/hub.js';
import { spawnAgent } from './testkit/agent-process.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createTarget } from './testkit/flow.js';
import { revisions } from './testkit/fleet.js';
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

const compose = (release: string, healthcheck: 'true' | 'false') => `services:
  web:
    image: local/busybox:test
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
    environment:
      RELEASE: ${release}
    healthcheck:
      test: ["CMD", "${healthcheck}"]
      interval: 1s
      retries: 1
`;

async function containersOf(deploymentId: string) {
  const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName(deploymentId)}`] } });
  return Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
}

/** The deployment's status events (the first is its current status) until one satisfies `check`. */
async function statusUntil(service: DistrService, deploymentId: string, check: (s: { phase: string; revisionId: string; message: string }) => boolean, what: string) {
  const watch = service.watchDeploymentStatus(deploymentId);
  try {
    for await (const s of watch) if (check(s)) return s;
  } finally {
    await watch.close();
  }
  throw new Error(`status stream of ${deploymentId} ended before ${what}`);
}

test('a canary whose new version fails its healthcheck halts the rollout and is rolled back; the other targets are never touched', async () => {
  const hub = await spawnHub(await pg.freshDatabase('rollout_docker'));
  cleanups.push(() => hub.stop());
  const key = hub.bootstrapKey!;
  const service = new DistrService({ hubUrl: hub.url, apiKey: key });
  const app = await createApplication(hub.url, key, 'canary-shop', 'docker');
  const v1 = await createDockerVersion(hub.url, key, app.id, 'v1', compose('v1', 'true'));
  const v2 = await createDockerVersion(hub.url, key, app.id, 'v2', compose('v2', 'false'));
  expect([v1.__typename, v2.__typename]).toEqual(['ApplicationVersion', 'ApplicationVersion']);

  const deployments: { id: string; revisionId: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const target = await createTarget(hub.url, key, { name: `canary-host-${i}`, type: 'docker' });
    const access = await createAccess(hub.url, key, target.id);
    const agent = spawnAgent({
      DISTR_HUB_URL: hub.url,
      DISTR_TARGET_ID: target.id,
      DISTR_TARGET_SECRET: access.secret,
      DISTR_AGENT_DRIVER: 'docker',
      DISTR_AGENT_STATE_DIR: await mkdtemp(path.join(os.tmpdir(), 'distr-agent-')),
      DISTR_DOCKER_PULL_POLICY: 'never',
    });
    cleanups.push(() => agent.stop());
    const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose' } });
    cleanups.push(async () => {
      for (const c of await containersOf(d.id)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
    });
    deployments.push({ id: d.id, revisionId: d.currentRevision.id });
  }
  await Promise.all(deployments.map((d) => statusUntil(service, d.id, (s) => s.phase === 'healthy' && s.revisionId === d.revisionId, 'v1 healthy')));
  const before = new Map<string, { id: string; startedAt: string }[]>();
  for (const d of deployments) before.set(d.id, (await containersOf(d.id)).map((c) => ({ id: c.Id, startedAt: c.State.StartedAt })));

  const rollout = await service.rollouts.create({ applicationId: app.id, versionId: v2.id, all: true, start: true, strategy: { canary: 1, waves: [{ count: 1 }], onFailure: 'halt_and_rollback' } });
  expect(rollout.members.map((m) => [m.target.name, m.wave])).toEqual([['canary-host-0', 0], ['canary-host-1', 1], ['canary-host-2', 2]]);
  const watch = service.rollouts.watch(rollout.id);
  let last: string | null = null;
  for await (const r of watch) {
    last = r.state;
    if (r.state === 'halted') break;
  }
  await watch.close();
  expect(last).toBe('halted');

  const halted = await service.rollouts.get(rollout.id);
  expect(halted.haltReason).toMatch(/wave 0: 1 deployment of the wave failed/);
  const [canary, ...rest] = halted.members;
  expect(canary).toMatchObject({ deploymentId: deployments[0]!.id, state: 'rolled_back' });
  expect(canary!.message).toMatch(/unhealthy/);
  expect(rest.every((m) => m.state === 'pending' && m.toRevisionId === null)).toBe(true);
  expect(halted.events.map((e) => e.action)).toEqual(['created', 'start', 'halt', 'rollback']);

  // The canary runs v1 again, as a new revision, healthy; its containers are v1's.
  const history = await revisions(hub.url, key, deployments[0]!.id);
  expect(history.revisions.nodes.map((n) => n.version.name)).toEqual(['v1', 'v2', 'v1']);
  expect(history.currentRevision.version.name).toBe('v1');
  await statusUntil(service, deployments[0]!.id, (s) => s.phase === 'healthy' && s.revisionId === history.currentRevision.id, 'the rolled back revision healthy');
  const canaryContainers = await containersOf(deployments[0]!.id);
  expect(canaryContainers).toHaveLength(1);
  expect(canaryContainers[0]!.State).toMatchObject({ Running: true, Health: expect.objectContaining({ Status: 'healthy' }) });
  expect(canaryContainers[0]!.Config.Env).toContain('RELEASE=v1');
  expect(canaryContainers[0]!.Id).not.toBe(before.get(deployments[0]!.id)![0]!.id); // replaced by v2, then by v1 again

  // The other targets never saw v2: one revision each, the very same containers, never restarted.
  for (const d of deployments.slice(1)) {
    const h = await revisions(hub.url, key, d.id);
    expect(h.revisions.nodes.map((n) => n.version.name)).toEqual(['v1']);
    const now = await containersOf(d.id);
    expect(now.map((c) => ({ id: c.Id, startedAt: c.State.StartedAt }))).toEqual(before.get(d.id));
    expect(now[0]!.Config.Env).toContain('RELEASE=v1');
  }
});
