/**
 * The deployments list is read as plain rows in one SQL statement (server/deployments/list.ts),
 * while `deployment(id)` and the mutations still go through entities: every field the list can
 * select must read the same through both, org scoping and paging must hold, and the nested
 * objects must cost no statement of their own.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { seedOrganization, startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createKubernetesVersion, createTarget, gql, ok, seedDockerSetup, updateDeployment, COMPOSE_TWO_SERVICES } from './testkit/flow.js';
import { agentLogin, reportStatus } from './testkit/agent-socket.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('deployments_list'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

/** Every field of a deployment and its nested objects that needs no further argument. */
const FIELDS = `id composeType releaseName createdAt helmOptions { timeoutSeconds atomic wait ignoreDrift }
  target { id name type namespace scope logsEnabled labels { key value } timeZone maintenanceWindows { days start end } hasAccess createdAt
    agent { connected lastSeenAt agentVersion agentHost lastFailedLogin { at reason } } }
  application { id name type createdAt }
  currentRevision { id envFile valuesYaml forceRestart createdBy createdAt
    version { id name composeFile envTemplate chartType chartUrl chartName chartVersion baseValues valuesTemplate chartDigest
      warnings { severity field path code message hint } archivedAt createdAt application { id name } } }
  status { revisionId phase message resources { kind name phase message } reportedAt changedAt }`;
const LIST = `query($first: Int, $after: String, $targetId: ID, $applicationId: ID) {
  deployments(first: $first, after: $after, targetId: $targetId, applicationId: $applicationId) { nodes { ${FIELDS} } pageInfo { hasNextPage endCursor } } }`;
const ONE = `query($id: ID!) { deployment(id: $id) { ${FIELDS} } }`;

async function list(vars: Record<string, unknown> = {}, key = hub.apiKey) {
  return (await ok(hub.url, LIST, { first: 50, ...vars }, key)).deployments;
}

describe('deployments list read as rows', () => {
  const ids: string[] = [];

  test('every field reads the same as through deployment(id), for docker and kubernetes, with and without status, shared and own versions', async () => {
    // Docker: two deployments share version v1 (its texts come on one row of the statement), a third moved to v2.
    const shop = await seedDockerSetup(hub.url, hub.apiKey, 'list-shop');
    const second = await createTarget(hub.url, hub.apiKey, {
      name: 'list-shop-eu', type: 'docker', logsEnabled: true, labels: [{ key: 'region', value: 'eu' }, { key: 'tier', value: 'gold' }],
      timeZone: 'Europe/Berlin', maintenanceWindows: [{ days: ['mon', 'sat'], start: '22:00', end: '04:00' }],
    });
    const third = await createTarget(hub.url, hub.apiKey, { name: 'list-shop-us', type: 'docker' });
    const d1 = await createDeployment(hub.url, hub.apiKey, { targetId: shop.target.id, versionId: shop.version.id, docker: { composeType: 'compose', envFile: 'GREETING=one\n' } });
    const d2 = await createDeployment(hub.url, hub.apiKey, { targetId: second.id, versionId: shop.version.id, docker: { composeType: 'swarm' } });
    const d3 = await createDeployment(hub.url, hub.apiKey, { targetId: third.id, versionId: shop.version.id, docker: { composeType: 'compose' } });
    const v2 = await createDockerVersion(hub.url, hub.apiKey, shop.app.id, 'v2', COMPOSE_TWO_SERVICES, 'GREETING=two\n');
    await updateDeployment(hub.url, hub.apiKey, d3.id, { versionId: v2.id, envFile: 'GREETING=three\n' });
    // Kubernetes: release name, helm options, values.
    const k8s = await createApplication(hub.url, hub.apiKey, 'list-k8s', 'kubernetes');
    const chart = await createKubernetesVersion(hub.url, hub.apiKey, {
      applicationId: k8s.id, name: '1.0.0', chartType: 'repository', chartUrl: 'https://charts.example', chartName: 'web', chartVersion: '1.0.0', baseValues: 'replicas: 1\n', valuesTemplate: 'replicas: 2\n',
    });
    const cluster = await createTarget(hub.url, hub.apiKey, { name: 'list-cluster', type: 'kubernetes', namespace: 'shop', scope: 'namespace' });
    const d4 = await createDeployment(hub.url, hub.apiKey, { targetId: cluster.id, versionId: chart.id, kubernetes: { releaseName: 'web', valuesYaml: 'replicas: 3\n', helmOptions: { atomic: true, timeoutSeconds: 60 } } });
    ids.push(d1.id, d2.id, d3.id, d4.id);
    // A status with resources for d1 (its agent logged in: lastSeenAt, hasAccess); d2–d4 have none.
    const access = await createAccess(hub.url, hub.apiKey, shop.target.id);
    const token = await agentLogin(hub.url, shop.target.id, access.secret);
    const reported = await reportStatus(hub.url, token, [
      { deploymentId: d1.id, revisionId: d1.currentRevision.id, phase: 'healthy', message: '2 of 2 healthy', resources: [{ kind: 'container', name: 'web', phase: 'healthy', message: 'up' }] },
    ]);
    expect(reported.errors).toBeUndefined();
    await ok(hub.url, `mutation { agentReportInfo(version: "1.2.3", host: "host-a") }`, {}, token);
    // A refused login on the second target (lastFailedLogin).
    await createAccess(hub.url, hub.apiKey, second.id);
    const refused = await gql(hub.url, `mutation($t: ID!) { agentLogin(targetId: $t, secret: "wrong") { token } }`, { t: second.id }, null);
    expect(refused.errors).toBeDefined();

    const listed = (await list()).nodes;
    expect(listed.map((d: { id: string }) => d.id)).toEqual(ids);
    for (const d of listed) expect(d).toEqual((await ok(hub.url, ONE, { id: d.id }, hub.apiKey)).deployment);
    // The rows carry what they should (not only "the same as the entity path").
    const [r1, r2, r3, r4] = listed;
    expect(r1.status).toMatchObject({ phase: 'healthy', revisionId: d1.currentRevision.id, resources: [{ kind: 'container', name: 'web' }] });
    expect(r1.target).toMatchObject({ hasAccess: true, agent: { connected: false, agentVersion: '1.2.3', agentHost: 'host-a' } });
    expect(r1.target.agent.lastSeenAt).not.toBeNull();
    expect(r1.currentRevision.envFile).toBe('GREETING=one\n');
    expect(r2.status).toBeNull();
    expect(r2.target.agent.lastFailedLogin).toMatchObject({ reason: expect.any(String) });
    expect(r2.target).toMatchObject({ logsEnabled: true, timeZone: 'Europe/Berlin', labels: [{ key: 'region', value: 'eu' }, { key: 'tier', value: 'gold' }], maintenanceWindows: [{ days: ['mon', 'sat'], start: '22:00', end: '04:00' }] });
    expect(r2.currentRevision.version).toEqual(r1.currentRevision.version);
    expect(r2.currentRevision.version.composeFile).toBe(COMPOSE_TWO_SERVICES);
    expect(r3.currentRevision.version).toMatchObject({ name: 'v2', envTemplate: 'GREETING=two\n' });
    expect(r4).toMatchObject({ composeType: null, releaseName: 'web', helmOptions: { timeoutSeconds: 60, atomic: true, wait: false, ignoreDrift: false } });
    expect(r4.currentRevision).toMatchObject({ valuesYaml: 'replicas: 3\n', version: { chartType: 'repository', chartName: 'web', valuesTemplate: 'replicas: 2\n' } });
  });

  test('paging and filters keep their order and meaning', async () => {
    const page1 = await list({ first: 3 });
    expect(page1.nodes.map((d: { id: string }) => d.id)).toEqual(ids.slice(0, 3));
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = await list({ first: 3, after: page1.pageInfo.endCursor });
    expect(page2.nodes.map((d: { id: string }) => d.id)).toEqual(ids.slice(3));
    expect(page2.pageInfo.hasNextPage).toBe(false);
    const all = (await list()).nodes;
    const byTarget = await list({ targetId: all[1].target.id });
    expect(byTarget.nodes.map((d: { id: string }) => d.id)).toEqual([ids[1]]);
    const byApp = await list({ applicationId: all[0].application.id });
    expect(byApp.nodes.map((d: { id: string }) => d.id)).toEqual(ids.slice(0, 3));
    const byBoth = await list({ applicationId: all[0].application.id, targetId: all[3].target.id });
    expect(byBoth.nodes).toEqual([]);
  });

  test('another organization sees none of it, and a foreign or malformed id finds nothing', async () => {
    const elsewhere = await seedOrganization(hub.em(), 'List Elsewhere', 'read_only');
    expect((await list({}, elsewhere.apiKey)).nodes).toEqual([]);
    const all = (await list()).nodes;
    expect((await list({ targetId: all[0].target.id }, elsewhere.apiKey)).nodes).toEqual([]);
    expect((await list({ applicationId: all[0].application.id }, elsewhere.apiKey)).nodes).toEqual([]);
    const malformed = await gql(hub.url, LIST, { first: 5, targetId: 'not-a-uuid' }, hub.apiKey);
    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    const anonymous = await gql(hub.url, LIST, { first: 5 }, null);
    expect(anonymous.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });

  test('the list and all its nested objects (but the live agent check) are one statement beyond authentication', async () => {
    const knex = (hub.hub.orm.em.getConnection() as any).getKnex();
    const sql: string[] = [];
    const onQuery = (q: { sql: string }) => sql.push(q.sql);
    knex.on('query', onQuery);
    try {
      // Twice: the first may also record the key's last use (once a minute).
      await ok(hub.url, `{ __typename }`, {}, hub.apiKey);
      sql.splice(0);
      await ok(hub.url, `{ __typename }`, {}, hub.apiKey);
      const authentication = sql.splice(0).length;
      const nested = FIELDS.replace(/agent \{[^}]*\{[^}]*\} \}/, '');
      const data = await ok(hub.url, `{ deployments(first: 50) { nodes { ${nested} } } }`, {}, hub.apiKey);
      expect(data.deployments.nodes).toHaveLength(ids.length);
      expect(sql.length - authentication).toBe(1);
      expect(sql.at(-1)).toMatch(/\/\* listDeployments \*\//);
    } finally {
      knex.off('query', onQuery);
    }
  });
});
