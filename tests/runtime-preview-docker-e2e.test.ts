/**
 * The agent-side runtime preview end to end: a real hub, the real docker agent process on the real
 * engine with compose v2. The vendor asks for a preview of v2 over the running v1; the agent runs
 * `docker compose config` on both, compares compose's config hashes with the running containers'
 * labels, and answers: the diff names the changed service and image, the services say which would
 * be recreated, added and removed, and the secret's value appears nowhere (answer, stored row,
 * agent log). Nothing on the engine changes. Waits on subscriptions and log lines only.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import Docker from 'dockerode';
import { execa } from 'execa';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DistrService } from '../client/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, startTestHub } from './testkit/hub.js';
import { spawnAgent } from './testkit/agent-process.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createTarget, ok } from './testkit/flow.js';
import { projectName } from '../server/agents/desired-state.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const SECRET = 'rt-preview-S3cret-value-Qx81';
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

const V1 = `services:
  web:
    image: local/busybox:test
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
    environment:
      RELEASE: v1
      DB_PASSWORD: \${DB_PASSWORD}
  worker:
    image: local/busybox:test
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
`;
// web changes image and release; worker goes; cache comes. Never applied, so the image need not exist.
const V2 = `services:
  web:
    image: local/busybox:v2-preview
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
    environment:
      RELEASE: v2
      DB_PASSWORD: \${DB_PASSWORD}
      DSN: postgres://app:\${DB_PASSWORD}@db/app
  cache:
    image: local/busybox:test
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
`;

async function containersOf(deploymentId: string) {
  const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName(deploymentId)}`] } });
  return list.map((c) => ({ id: c.Id, service: c.Labels['com.docker.compose.service'], state: c.State })).sort((a, b) => a.service!.localeCompare(b.service!));
}

test('the docker agent previews a new version against the running project: diff, services to recreate/add/remove, secrets redacted, nothing changed', async () => {
  const hub = await startTestHub(await pg.freshDatabase('runtime_preview_docker'));
  cleanups.push(() => hub.close());
  const key = hub.apiKey;
  const service = new DistrService({ hubUrl: hub.url, apiKey: key });
  const set = await ok(hub.url, `mutation($input: SetSecretInput!) { setSecret(input: $input) { __typename } }`, { input: { name: 'DB_PASSWORD', value: SECRET } }, key);
  expect((set as any).setSecret.__typename).toBe('SecretChange');
  const app = await createApplication(hub.url, key, 'preview-shop', 'docker');
  const v1 = await createDockerVersion(hub.url, key, app.id, 'v1', V1);
  const v2 = await createDockerVersion(hub.url, key, app.id, 'v2', V2);
  const target = await createTarget(hub.url, key, { name: 'preview-host', type: 'docker' });
  const access = await createAccess(hub.url, key, target.id);
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose', envFile: 'DB_PASSWORD=${{ secrets.DB_PASSWORD }}\n' } });
  cleanups.push(async () => {
    for (const c of await containersOf(d.id)) await docker.getContainer(c.id).remove({ force: true, v: true }).catch(() => {});
  });
  const agent = spawnAgent({
    DISTR_HUB_URL: hub.url,
    DISTR_TARGET_ID: target.id,
    DISTR_TARGET_SECRET: access.secret,
    DISTR_AGENT_DRIVER: 'docker',
    DISTR_AGENT_STATE_DIR: await mkdtemp(path.join(os.tmpdir(), 'distr-agent-')),
    DISTR_DOCKER_PULL_POLICY: 'never',
  });
  cleanups.push(() => agent.stop());
  const watch = service.watchDeploymentStatus(d.id);
  for await (const s of watch) if (s.phase === 'running' && s.revisionId === d.currentRevision.id) break;
  await watch.close();
  const before = await containersOf(d.id);
  expect(before.map((c) => [c.service, c.state])).toEqual([['web', 'running'], ['worker', 'running']]);

  // v2 against the running v1.
  const requested = await service.rollouts.requestRuntimePreview(d.id, { versionId: v2.id });
  expect(requested.state).toBe('pending');
  const answer = await service.rollouts.waitForRuntimePreview(requested.id);
  expect(answer.detail).toBeNull();
  expect(answer.state).toBe('done');
  expect(answer.baseRevisionId).toBe(d.currentRevision.id);
  expect(answer.services).toEqual([
    { name: 'cache', change: 'added', imageBefore: null, imageAfter: 'local/busybox:test', imageChanged: false },
    { name: 'web', change: 'recreated', imageBefore: 'local/busybox:test', imageAfter: 'local/busybox:v2-preview', imageChanged: true },
    { name: 'worker', change: 'removed', imageBefore: 'local/busybox:test', imageAfter: null, imageChanged: false },
  ]);
  const diff = answer.diff!;
  expect(diff).toMatch(/^-\s+image: local\/busybox:test$/m);
  expect(diff).toMatch(/^\+\s+image: local\/busybox:v2-preview$/m);
  expect(diff).toMatch(/^-\s+RELEASE: v1$/m);
  expect(diff).toMatch(/^\+\s+RELEASE: v2$/m);
  expect(diff).toMatch(/^\+\s+DSN: postgres:\/\/app:\[redacted secrets\.DB_PASSWORD\]@db\/app$/m);
  expect(diff).toMatch(/^\+\s+cache:$/m);
  expect(diff).toMatch(/^-\s+worker:$/m);
  expect(diff).toMatch(/^\+\s+DB_PASSWORD: \[redacted secrets\.DB_PASSWORD\]$/m);
  expect(diff).not.toContain('No newline');

  // The same configuration again: compose's hashes match the running containers', nothing would change.
  const same = await service.rollouts.waitForRuntimePreview((await service.rollouts.requestRuntimePreview(d.id, {})).id);
  expect(same.state).toBe('done');
  expect(same.services!.map((s) => [s.name, s.change])).toEqual([['web', 'unchanged'], ['worker', 'unchanged']]);
  expect(same.diff).not.toMatch(/^@@/m);

  // The CLI: `distr update … --dry-run --runtime` prints the hub preview, then waits (subscription) for the agent.
  const cli = await execa(process.execPath, [path.join(repoRoot, 'client/cli/bin.js'), 'update', d.id, '--version', 'v2', '--dry-run', '--runtime'], {
    env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: key },
    reject: false,
  });
  expect(cli.stderr).toContain("asked the agent of preview-host for a runtime preview; waiting for the agent's answer");
  expect(cli.stdout).toMatch(/^recreated +web +image local\/busybox:test -> local\/busybox:v2-preview$/m);
  expect(cli.stdout).toMatch(/^added +cache$/m);
  expect(cli.stdout).toMatch(/^removed +worker$/m);
  expect(cli.stdout).toMatch(/^\+\s+RELEASE: v2$/m);
  expect(cli.stdout + cli.stderr).not.toContain(SECRET);
  expect(cli.exitCode).toBe(0);

  // The secret's value is nowhere: not in the answers, not in the stored rows, not in the agent's log.
  for (const text of [JSON.stringify(answer), JSON.stringify(same), JSON.stringify(await service.rollouts.runtimePreview(requested.id))]) expect(text).not.toContain(SECRET);
  const rows = await hub.em().execute(`select diff, services::text, message from runtime_preview`);
  expect(rows).toHaveLength(3);
  expect(JSON.stringify(rows)).not.toContain(SECRET);
  await agent.untilOutput((out) => (out.match(/runtime preview answered/g) ?? []).length === 3, 'the three answers logged');
  expect(agent.output()).not.toContain(SECRET);

  // Previews change nothing on the engine: the very same containers, and one revision.
  expect(await containersOf(d.id)).toEqual(before);
  const [{ revisions }] = await hub.em().execute(`select count(*)::int as revisions from deployment_revision where deployment_id = ?`, [d.id]);
  expect(revisions).toBe(1);
});
