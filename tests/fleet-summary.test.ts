/**
 * fleetSummary: the console Overview's counts, aggregated in SQL over the whole organization
 * (deployments per phase, "pending" without a status; targets and those with a live agent).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { seedOrganization, startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, createDeployment, createTarget, gql, seedDockerSetup } from './testkit/flow.js';
import { agentLogin, reportStatus, subscribeAgent } from './testkit/agent-socket.js';
import { eventually } from './testkit/agent-process.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('fleet_summary'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

const SUMMARY = `{ fleetSummary { deploymentsByPhase { phase count } targets targetsConnected } }`;
async function summary(key = hub.apiKey) {
  const res = await gql(hub.url, SUMMARY, {}, key);
  expect(res.errors).toBeUndefined();
  const s = res.data.fleetSummary;
  return { phases: Object.fromEntries(s.deploymentsByPhase.map((p: { phase: string; count: number }) => [p.phase, p.count])), targets: s.targets, connected: s.targetsConnected };
}

test('counts deployments per phase and connected targets, and only the caller organization', async () => {
  const seed = await seedDockerSetup(hub.url, hub.apiKey, 'summary');
  const other = await createTarget(hub.url, hub.apiKey, { name: 'summary-other', type: 'docker' });
  const d1 = await createDeployment(hub.url, hub.apiKey, { targetId: seed.target.id, versionId: seed.version.id, docker: { composeType: 'compose' } });
  await createDeployment(hub.url, hub.apiKey, { targetId: other.id, versionId: seed.version.id, docker: { composeType: 'compose' } });
  expect(await summary()).toEqual({ phases: { pending: 2 }, targets: 2, connected: 0 });

  const access = await createAccess(hub.url, hub.apiKey, seed.target.id);
  const token = await agentLogin(hub.url, seed.target.id, access.secret);
  const socket = subscribeAgent(hub.url, token);
  await socket.next();
  await eventually(async () => (await summary()).connected === 1, 'the target counted as connected');
  const reported = await reportStatus(hub.url, token, [{ deploymentId: d1.id, revisionId: d1.currentRevision.id, phase: 'healthy', message: 'ok' }]);
  expect(reported.errors).toBeUndefined();
  expect(await summary()).toEqual({ phases: { healthy: 1, pending: 1 }, targets: 2, connected: 1 });

  const elsewhere = await seedOrganization(hub.em(), 'Summary Elsewhere');
  expect(await summary(elsewhere.apiKey)).toEqual({ phases: {}, targets: 0, connected: 0 });
  await socket.close();
  await eventually(async () => (await summary()).connected === 0, 'the target counted as offline after its socket closed');
});
