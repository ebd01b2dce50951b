/**
 * Rollouts re-check env files against the new version: rolloutApplicationVersion and createRollout
 * refuse (an InvalidInputError naming the deployments and the variables, nothing written) when the
 * new version's compose file requires a variable (`${VAR:?…}`) that a moved deployment's env file
 * leaves unset — the rule updateDeployment applies — and go ahead once the env files set it.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createApplication, createDeployment, createDockerVersion, createTarget, rollout, updateDeployment } from './testkit/flow.js';
import { createRollout } from './testkit/fleet.js';

let pg: TestPostgres;
let hub: TestHub;

beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('rollout_env'));
}, 120_000);
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

const V1 = 'services:\n  web:\n    image: local/busybox:test\n    environment:\n      GREETING: ${GREETING:-hello}\n';
const V2 = 'services:\n  web:\n    image: local/busybox:test\n    environment:\n      TOKEN: ${TOKEN:?the API token}\n      REGION: ${REGION:?}\n      GREETING: ${GREETING:-hello}\n';

async function count(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['deployment_revision', 'rollout', 'rollout_member', 'rollout_event']) {
    out[table] = (await hub.em().execute(`select count(*)::int as n from "${table}"`))[0].n;
  }
  out.current = (await hub.em().execute(`select count(distinct current_revision_id)::int as n from deployment`))[0].n;
  return out;
}

async function seed(name: string) {
  const app = await createApplication(hub.url, hub.apiKey, name, 'docker');
  const v1 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', V1, '');
  // The version says TOKEN and REGION are required (a warning): every deployment must set them.
  const v2 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v2', V2, '');
  expect(v2.__typename).toBe('ApplicationVersion');
  const deployments = [];
  for (const [i, envFile] of ['TOKEN=t0\nREGION=eu\n', 'GREETING=hi\n', 'TOKEN=t2\n'].entries()) {
    const target = await createTarget(hub.url, hub.apiKey, { name: `${name}-host-${i}`, type: 'docker' });
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose', envFile } });
    expect(d.__typename).toBe('Deployment');
    deployments.push({ id: d.id, targetId: target.id, targetName: `${name}-host-${i}` });
  }
  return { app, v1, v2, deployments };
}

test('rolloutApplicationVersion refuses when a moved env file leaves a required variable unset, naming deployments and variables, and writes nothing', async () => {
  const { app, v2, deployments } = await seed('roll-env');
  const [ok0, missingBoth, missingRegion] = deployments as [(typeof deployments)[0], (typeof deployments)[0], (typeof deployments)[0]];
  const before = await count();
  const refused = await rollout(hub.url, hub.apiKey, app.id, v2.id);
  expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'versionId' });
  expect(refused.message).toContain('version "v2" does not fit the env file of 2 deployment(s)');
  expect(refused.message).toContain(`deployment ${missingBoth.id} on target "${missingBoth.targetName}" leaves TOKEN, REGION unset`);
  expect(refused.message).toContain(`deployment ${missingRegion.id} on target "${missingRegion.targetName}" leaves REGION unset`);
  expect(refused.message).not.toContain(ok0.id);
  expect(await count()).toEqual(before);

  // Only the targets whose env files fit: allowed.
  const partial = await rollout(hub.url, hub.apiKey, app.id, v2.id, [ok0.targetId]);
  expect(partial).toMatchObject({ __typename: 'RolloutResult', count: 1 });

  // The same rule as updateDeployment: fix the env files, and the rollout goes ahead.
  expect((await updateDeployment(hub.url, hub.apiKey, missingBoth.id, { envFile: 'GREETING=hi\nTOKEN=t1\nREGION=us\n' })).__typename).toBe('Deployment');
  expect((await updateDeployment(hub.url, hub.apiKey, missingRegion.id, { envFile: 'TOKEN=t2\nREGION=ap\n' })).__typename).toBe('Deployment');
  expect(await rollout(hub.url, hub.apiKey, app.id, v2.id)).toMatchObject({ __typename: 'RolloutResult', count: 3 });
});

test('createRollout refuses the same way before planning anything', async () => {
  const { app, v2, deployments } = await seed('staged-env');
  const [ok0, missingBoth] = deployments as [(typeof deployments)[0], (typeof deployments)[0]];
  const before = await count();
  const refused = await createRollout(hub.url, hub.apiKey, { applicationId: app.id, versionId: v2.id, all: true, start: true });
  expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'versionId' });
  expect(refused.message).toContain(`deployment ${missingBoth.id} on target "${missingBoth.targetName}" leaves TOKEN, REGION unset`);
  expect(refused.message).toMatch(/REGION unset/);
  expect(await count()).toEqual(before);
  const chosen = await createRollout(hub.url, hub.apiKey, { applicationId: app.id, versionId: v2.id, deploymentIds: [ok0.id] });
  expect(chosen.__typename).toBe('Rollout');
});
