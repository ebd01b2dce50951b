/**
 * Hub queries the console relies on at scale: fleetSummary (the Overview's counts, aggregated in
 * SQL over the whole organization: deployments per phase, "pending" without a status; targets and
 * those with a live agent) and deploymentTargets(nameContains) (the New-deployment target search).
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
  hub = await startTestHub(await pg.freshDatabase('console_queries'));
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

test('deploymentTargets(nameContains): case-insensitive, LIKE wildcards matched literally, with type and paging', async () => {
  for (const name of ['Search-Alpha', 'search-beta', 'other', 'odd_name', 'odd%name']) await createTarget(hub.url, hub.apiKey, { name, type: 'docker' });
  await createTarget(hub.url, hub.apiKey, { name: 'search-k8s', type: 'kubernetes', namespace: 'x', scope: 'namespace' });
  const names = async (vars: Record<string, unknown>) => {
    const res = await gql(hub.url, `query($n: String, $t: DeploymentType, $f: Int) { deploymentTargets(nameContains: $n, type: $t, first: $f) { nodes { name } pageInfo { hasNextPage } } }`, vars, hub.apiKey);
    expect(res.errors).toBeUndefined();
    return { names: res.data.deploymentTargets.nodes.map((n: { name: string }) => n.name), more: res.data.deploymentTargets.pageInfo.hasNextPage };
  };
  expect(await names({ n: 'SEARCH' })).toEqual({ names: ['Search-Alpha', 'search-beta', 'search-k8s'], more: false });
  expect(await names({ n: 'search', t: 'docker', f: 1 })).toEqual({ names: ['Search-Alpha'], more: true });
  expect(await names({ n: '_' })).toEqual({ names: ['odd_name'], more: false });
  expect(await names({ n: '%' })).toEqual({ names: ['odd%name'], more: false });
});
