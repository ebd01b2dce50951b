import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, seedOrganization, startTestHub, type TestHub } from './testkit/hub.js';
import {
  COMPOSE_TWO_SERVICES,
  createAccess,
  createApplication,
  createDeployment,
  createDockerVersion,
  createKubernetesVersion,
  createTarget,
  gql,
  ok,
  seedDockerSetup,
  updateDeployment,
} from './testkit/flow.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
});
afterAll(async () => {
  await pg?.stop();
});
beforeEach(async () => {
  hub = await startTestHub(await pg.freshDatabase('api'));
});
afterEach(async () => {
  await hub?.close();
});

async function count(table: string): Promise<number> {
  const rows = await hub.em().execute(`select count(*)::int as n from ${table}`);
  return rows[0].n;
}

describe('operations', () => {
  test('migrations apply from empty; healthz and readyz answer', async () => {
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${hub.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const tables = await hub.em().execute(`select table_name from information_schema.tables where table_schema = 'public'`);
    expect(tables.map((t: any) => t.table_name)).toEqual(expect.arrayContaining(['application', 'application_version', 'deployment', 'deployment_revision', 'mikro_orm_migrations']));
  });

  test('schema.graphql is fresh', async () => {
    const result = await execa(process.execPath, ['--import', 'tsx', 'scripts/print-schema.ts', '--check'], { cwd: repoRoot, reject: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  test('GraphiQL is served at /graphql', async () => {
    const res = await fetch(`${hub.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('graphiql');
  });

  test('a payload over the size limit is refused and writes nothing', async () => {
    const huge = 'x'.repeat(1024 * 1024 + 10);
    const res = await gql(hub.url, `mutation($n: String!) { createApplication(input: {name: $n, type: docker}) { __typename } }`, { n: huge }, hub.apiKey);
    expect(res.status).toBe(413);
    expect(res.errors?.[0]?.message).toMatch(/exceeds the limit of 1048576 bytes/);
    expect(await count('application')).toBe(0);
  });

  test('a query deeper than the limit is refused', async () => {
    let selection = 'id';
    for (let i = 0; i < 8; i++) selection = `application { versions { ${selection} } }`;
    const res = await gql(hub.url, `{ applicationVersion(id: "00000000-0000-0000-0000-000000000000") { ${selection} } }`, {}, hub.apiKey);
    expect(res.errors?.[0]?.message).toMatch(/depth limit/i);
  });

  test('a query costlier than the limit is refused', async () => {
    const fields = Array.from({ length: 25 }, (_, i) => `a${i}: deployments(first: 100) { edges { node { id target { id name agent { connected } } application { id versions { id name } } currentRevision { id version { id name } } } } }`).join('\n');
    const res = await gql(hub.url, `{ ${fields} }`, {}, hub.apiKey);
    expect(res.errors?.[0]?.message).toMatch(/Query Cost limit of 20000 exceeded/);
  });
});

describe('applications and versions', () => {
  test('create an application and versions of both kinds', async () => {
    const docker = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
    expect(docker).toMatchObject({ __typename: 'Application', name: 'shop', type: 'docker' });
    const v1 = await createDockerVersion(hub.url, hub.apiKey, docker.id, 'v1', COMPOSE_TWO_SERVICES, 'A=1\n');
    expect(v1).toMatchObject({ __typename: 'ApplicationVersion', name: 'v1', envTemplate: 'A=1\n' });
    const k8s = await createApplication(hub.url, hub.apiKey, 'shop-k8s', 'kubernetes');
    const kv = await createKubernetesVersion(hub.url, hub.apiKey, {
      applicationId: k8s.id, name: '1.0.0', chartType: 'oci', chartUrl: 'oci://registry.example/charts/shop', chartVersion: '1.0.0', baseValues: 'replicas: 2\n',
    });
    expect(kv).toMatchObject({ __typename: 'ApplicationVersion', chartType: 'oci', chartName: null });
    const repo = await createKubernetesVersion(hub.url, hub.apiKey, {
      applicationId: k8s.id, name: '1.0.1', chartType: 'repository', chartUrl: 'https://charts.example', chartName: 'shop', chartVersion: '1.0.1',
    });
    expect(repo).toMatchObject({ __typename: 'ApplicationVersion', chartName: 'shop' });
  });

  test.each([
    ['invalid compose YAML', 'services:\n  web: [unclosed\n', /composeFile: is not valid YAML \(line \d+/],
    ['compose without services', 'version: "3"\nvolumes: {}\n', /composeFile: is not a compose file: it has no `services`/],
    ['a service without image', 'services:\n  web:\n    command: x\n', /services\.web: service "web" has neither an image nor a build context specified/],
  ])('%s is refused with a typed error and nothing is written', async (_name, compose, message) => {
    const app = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
    const result = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', compose);
    expect(result.__typename).toBe('InvalidInputError');
    expect(result.field).toBe('composeFile');
    expect(result.message).toMatch(message);
    expect(await count('application_version')).toBe(0);
  });

  test('an env template that is not KEY=value is refused', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
    const result = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES, 'just words\n');
    expect(result).toMatchObject({ __typename: 'InvalidInputError', field: 'envTemplate' });
    expect(result.message).toMatch(/line 1: /);
  });

  test('invalid values YAML, a repository chart without name, and a docker version on a kubernetes app are refused', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'k', 'kubernetes');
    const base = { applicationId: app.id, name: '1', chartType: 'oci', chartUrl: 'oci://r/c', chartVersion: '1.0.0' };
    const badValues = await createKubernetesVersion(hub.url, hub.apiKey, { ...base, baseValues: 'a: [1, 2\n' });
    expect(badValues).toMatchObject({ __typename: 'InvalidInputError', field: 'baseValues' });
    const listValues = await createKubernetesVersion(hub.url, hub.apiKey, { ...base, valuesTemplate: '- a\n- b\n' });
    expect(listValues).toMatchObject({ __typename: 'InvalidInputError', field: 'valuesTemplate' });
    const noName = await createKubernetesVersion(hub.url, hub.apiKey, { ...base, chartType: 'repository', chartUrl: 'https://charts.example' });
    expect(noName).toMatchObject({ __typename: 'InvalidInputError', field: 'chartName', message: 'chartName: is required for repository charts' });
    const wrongScheme = await createKubernetesVersion(hub.url, hub.apiKey, { ...base, chartUrl: 'https://not-oci' });
    expect(wrongScheme).toMatchObject({ __typename: 'InvalidInputError', field: 'chartUrl' });
    const docker = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES);
    expect(docker).toMatchObject({ __typename: 'RuleViolationError', rule: 'type_mismatch' });
    expect(await count('application_version')).toBe(0);
  });

  test('version names are unique per application', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
    await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES);
    const again = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES);
    expect(again).toMatchObject({ __typename: 'ConflictError', field: 'name' });
    expect(again.message).toBe('application "shop" already has a version named "v1"');
    const other = await createApplication(hub.url, hub.apiKey, 'other', 'docker');
    expect((await createDockerVersion(hub.url, hub.apiKey, other.id, 'v1', COMPOSE_TWO_SERVICES)).__typename).toBe('ApplicationVersion');
  });

  test('version content cannot change, even by SQL; only archiving is allowed', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
    const v1 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES);
    await expect(hub.em().execute(`update application_version set compose_file = 'services: {}' where id = ?`, [v1.id])).rejects.toThrow(/immutable/);
    const archived = await ok(hub.url, `mutation($id: ID!) { archiveApplicationVersion(id: $id) { ... on ApplicationVersion { archivedAt composeFile } } }`, { id: v1.id }, hub.apiKey);
    expect(archived.archiveApplicationVersion.archivedAt).toBeTruthy();
    expect(archived.archiveApplicationVersion.composeFile).toBe(COMPOSE_TWO_SERVICES);
  });

  test('a version a deployment uses cannot be deleted; an archived version cannot be deployed; an unused one can be deleted', async () => {
    const { app, version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
    const del = await ok(hub.url, `mutation($id: ID!) { deleteApplicationVersion(id: $id) { __typename ... on Error { message } ... on RuleViolationError { rule } } }`, { id: version.id }, hub.apiKey);
    expect(del.deleteApplicationVersion).toMatchObject({ __typename: 'RuleViolationError', rule: 'version_in_use' });
    const v2 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v2', COMPOSE_TWO_SERVICES);
    await ok(hub.url, `mutation($id: ID!) { archiveApplicationVersion(id: $id) { __typename } }`, { id: v2.id }, hub.apiKey);
    const target2 = await createTarget(hub.url, hub.apiKey, { name: 'second', type: 'docker' });
    const onArchived = await createDeployment(hub.url, hub.apiKey, { targetId: target2.id, versionId: v2.id, docker: { composeType: 'compose' } });
    expect(onArchived).toMatchObject({ __typename: 'RuleViolationError', rule: 'version_archived' });
    const gone = await ok(hub.url, `mutation($id: ID!) { deleteApplicationVersion(id: $id) { __typename ... on Deleted { id } } }`, { id: v2.id }, hub.apiKey);
    expect(gone.deleteApplicationVersion).toEqual({ __typename: 'Deleted', id: v2.id });
  });
});

describe('targets and deployments', () => {
  test('a kubernetes target needs namespace and scope; a docker target has neither', async () => {
    const noNs = await createTarget(hub.url, hub.apiKey, { name: 'k', type: 'kubernetes', scope: 'namespace' });
    expect(noNs).toMatchObject({ __typename: 'InvalidInputError', field: 'namespace', message: 'namespace: is required for kubernetes targets' });
    const noScope = await createTarget(hub.url, hub.apiKey, { name: 'k', type: 'kubernetes', namespace: 'shop' });
    expect(noScope).toMatchObject({ __typename: 'InvalidInputError', field: 'scope' });
    const badNs = await createTarget(hub.url, hub.apiKey, { name: 'k', type: 'kubernetes', namespace: 'Bad_NS', scope: 'namespace' });
    expect(badNs).toMatchObject({ __typename: 'InvalidInputError', field: 'namespace' });
    const dockerNs = await createTarget(hub.url, hub.apiKey, { name: 'd', type: 'docker', namespace: 'x' });
    expect(dockerNs).toMatchObject({ __typename: 'InvalidInputError', field: 'namespace' });
    expect(await count('deployment_target')).toBe(0);
    const ok1 = await createTarget(hub.url, hub.apiKey, { name: 'k', type: 'kubernetes', namespace: 'shop', scope: 'cluster' });
    expect(ok1).toMatchObject({ __typename: 'DeploymentTarget', namespace: 'shop', scope: 'cluster' });
  });

  test('a docker deployment needs a compose type; updates append revisions and never change old ones', async () => {
    const { app, version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    const missing = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id });
    expect(missing).toMatchObject({ __typename: 'InvalidInputError', field: 'docker.composeType' });
    const badEnv = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose', envFile: 'NOT VALID=1' } });
    expect(badEnv).toMatchObject({ __typename: 'InvalidInputError', field: 'docker.envFile' });
    expect(await count('deployment')).toBe(0);
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose', envFile: 'GREETING=hi\n' } });
    expect(d).toMatchObject({ __typename: 'Deployment', composeType: 'compose', currentRevision: { envFile: 'GREETING=hi\n', version: { name: 'v1' } } });
    const firstRevision = d.currentRevision.id;
    const v2 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v2', COMPOSE_TWO_SERVICES);
    const updated = await updateDeployment(hub.url, hub.apiKey, d.id, { versionId: v2.id, envFile: 'GREETING=ho\n' });
    expect(updated.currentRevision).toMatchObject({ envFile: 'GREETING=ho\n', version: { name: 'v2' } });
    expect(updated.currentRevision.id).not.toBe(firstRevision);
    const history = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { revisions { edges { node { id envFile version { name } } } } } }`, { id: d.id }, hub.apiKey);
    expect(history.deployment.revisions.edges.map((e: any) => e.node)).toEqual([
      { id: updated.currentRevision.id, envFile: 'GREETING=ho\n', version: { name: 'v2' } },
      { id: firstRevision, envFile: 'GREETING=hi\n', version: { name: 'v1' } },
    ]);
    await expect(hub.em().execute(`update deployment_revision set env_file = 'X=1' where id = ?`, [firstRevision])).rejects.toThrow(/append-only/);
    const valuesOnDocker = await updateDeployment(hub.url, hub.apiKey, d.id, { valuesYaml: 'a: 1' });
    expect(valuesOnDocker).toMatchObject({ __typename: 'InvalidInputError', field: 'valuesYaml' });
  });

  test('a version of another application cannot be deployed by an update', async () => {
    const { version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    const other = await createApplication(hub.url, hub.apiKey, 'other', 'docker');
    const otherVersion = await createDockerVersion(hub.url, hub.apiKey, other.id, 'o1', COMPOSE_TWO_SERVICES);
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
    const result = await updateDeployment(hub.url, hub.apiKey, d.id, { versionId: otherVersion.id });
    expect(result).toMatchObject({ __typename: 'RuleViolationError', rule: 'version_of_other_application' });
    expect(await count('deployment_revision')).toBe(1);
  });

  test('a docker application cannot be deployed to a kubernetes target, also not by SQL', async () => {
    const { version } = await seedDockerSetup(hub.url, hub.apiKey);
    const k8s = await createTarget(hub.url, hub.apiKey, { name: 'cluster', type: 'kubernetes', namespace: 'shop', scope: 'namespace' });
    const result = await createDeployment(hub.url, hub.apiKey, { targetId: k8s.id, versionId: version.id, docker: { composeType: 'compose' } });
    expect(result).toMatchObject({ __typename: 'RuleViolationError', rule: 'type_mismatch' });
    expect(result.message).toBe('application "shop" is of type docker but deployment target "cluster" is of type kubernetes; deploy it to a docker target');
    expect(await count('deployment')).toBe(0);
    const [{ application_id: appId, organization_id: orgId }] = await hub.em().execute('select application_id, organization_id from application_version v join application a on a.id = v.application_id where v.id = ?', [version.id]);
    await expect(
      hub.em().execute(`insert into deployment (id, organization_id, target_id, application_id, release_name, created_at) values (gen_random_uuid(), ?, ?, ?, 'x', now())`, [orgId, k8s.id, appId]),
    ).rejects.toThrow(/does not match application type/);
  });

  test('kubernetes deployments need a DNS-1123 release name, unique per target, and valid values', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'k', 'kubernetes');
    const v = await createKubernetesVersion(hub.url, hub.apiKey, { applicationId: app.id, name: '1', chartType: 'oci', chartUrl: 'oci://r/c', chartVersion: '1.0.0' });
    const t = await createTarget(hub.url, hub.apiKey, { name: 'c', type: 'kubernetes', namespace: 'shop', scope: 'namespace' });
    const bad = await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: v.id, kubernetes: { releaseName: 'My_Release' } });
    expect(bad).toMatchObject({ __typename: 'InvalidInputError', field: 'kubernetes.releaseName' });
    expect(bad.message).toMatch(/"My_Release" is not a DNS-1123 label/);
    const badValues = await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: v.id, kubernetes: { releaseName: 'shop', valuesYaml: 'a: b: c' } });
    expect(badValues).toMatchObject({ __typename: 'InvalidInputError', field: 'kubernetes.valuesYaml' });
    const noRelease = await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: v.id, docker: { composeType: 'compose' } });
    expect(noRelease).toMatchObject({ __typename: 'InvalidInputError', field: 'docker' });
    expect(await count('deployment')).toBe(0);
    const first = await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: v.id, kubernetes: { releaseName: 'shop', valuesYaml: 'replicas: 3\n' } });
    expect(first).toMatchObject({ __typename: 'Deployment', releaseName: 'shop' });
    const dup = await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: v.id, kubernetes: { releaseName: 'shop' } });
    expect(dup).toMatchObject({ __typename: 'ConflictError', field: 'kubernetes.releaseName' });
    const second = await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: v.id, kubernetes: { releaseName: 'shop-2' } });
    expect(second.__typename).toBe('Deployment');
  });

  test('unknown and malformed ids are "not found"', async () => {
    const unknown = '7f1d3c1e-0000-4000-8000-000000000000';
    const q = await gql(hub.url, `query($id: ID!) { deployment(id: $id) { id } }`, { id: unknown }, hub.apiKey);
    expect(q.errors?.[0]).toMatchObject({ message: `deployment ${unknown} not found`, extensions: { code: 'NOT_FOUND' } });
    const malformed = await gql(hub.url, `query { application(id: "nope") { id } }`, {}, hub.apiKey);
    expect(malformed.errors?.[0]?.message).toBe('application nope not found');
    const v = await createDockerVersion(hub.url, hub.apiKey, unknown, 'v1', COMPOSE_TWO_SERVICES);
    expect(v).toMatchObject({ __typename: 'NotFoundError', entity: 'application', entityId: unknown });
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: unknown, versionId: unknown, docker: { composeType: 'compose' } });
    expect(d).toMatchObject({ __typename: 'NotFoundError', entity: 'deployment target' });
  });
});

describe('organizations, roles and keys', () => {
  test("a second organization's key sees and touches nothing of the first", async () => {
    const { app, version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
    const other = await seedOrganization(hub.em(), 'Rival');
    const lists = await ok(hub.url, `{ applications { edges { node { id } } } deploymentTargets { edges { node { id } } } deployments { edges { node { id } } } }`, {}, other.apiKey);
    expect(lists).toEqual({ applications: { edges: [] }, deploymentTargets: { edges: [] }, deployments: { edges: [] } });
    for (const [field, id] of [['application', app.id], ['applicationVersion', version.id], ['deploymentTarget', target.id], ['deployment', d.id]]) {
      const res = await gql(hub.url, `query($id: ID!) { ${field}(id: $id) { id } }`, { id }, other.apiKey);
      expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    expect(await updateDeployment(hub.url, other.apiKey, d.id, { envFile: 'X=1' })).toMatchObject({ __typename: 'NotFoundError' });
    expect(await createAccess(hub.url, other.apiKey, target.id)).toMatchObject({ __typename: 'NotFoundError' });
    expect(await createDockerVersion(hub.url, other.apiKey, app.id, 'evil', COMPOSE_TWO_SERVICES)).toMatchObject({ __typename: 'NotFoundError' });
    const ownTarget = await createTarget(hub.url, other.apiKey, { name: 'mine', type: 'docker' });
    expect(await createDeployment(hub.url, other.apiKey, { targetId: ownTarget.id, versionId: version.id, docker: { composeType: 'compose' } })).toMatchObject({
      __typename: 'NotFoundError',
      entity: 'application version',
    });
    const del = await ok(hub.url, `mutation($id: ID!) { deleteDeployment(id: $id) { __typename } }`, { id: d.id }, other.apiKey);
    expect(del.deleteDeployment.__typename).toBe('NotFoundError');
    expect(await count('deployment')).toBe(1);
  });

  test('read-only keys read but cannot write; a key cannot exceed its creator', async () => {
    const ro = await ok(hub.url, `mutation { createApiKey(name: "dash", roleCap: read_only) { ... on CreatedApiKey { secret apiKey { roleCap } } } }`, {}, hub.apiKey);
    const key = ro.createApiKey.secret;
    expect((await ok(hub.url, `{ viewer { role } }`, {}, key)).viewer.role).toBe('read_only');
    const write = await gql(hub.url, `mutation { createApplication(input: {name: "x", type: docker}) { __typename } }`, {}, key);
    expect(write.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const escalate = await ok(hub.url, `mutation { createApiKey(name: "up", roleCap: admin) { __typename ... on RuleViolationError { rule } } }`, {}, key);
    expect(escalate.createApiKey).toMatchObject({ __typename: 'RuleViolationError', rule: 'role_cap_too_high' });
    expect(await count('application')).toBe(0);
  });

  test('API keys are stored hashed; revoked and expired keys stop working', async () => {
    const created = await ok(hub.url, `mutation { createApiKey(name: "ci") { ... on CreatedApiKey { secret apiKey { id } } } }`, {}, hub.apiKey);
    const secret: string = created.createApiKey.secret;
    const rows = await hub.em().execute(`select * from api_key`);
    const dump = JSON.stringify(rows);
    const secretPart = secret.split('_').slice(2).join('_');
    expect(dump).not.toContain(secretPart);
    expect(rows.map((r: any) => r.secret_hash)).toContain(createHash('sha256').update(secretPart).digest('hex'));
    expect((await gql(hub.url, `{ viewer { role } }`, {}, secret)).data?.viewer.role).toBe('admin');
    await ok(hub.url, `mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }`, { id: created.createApiKey.apiKey.id }, hub.apiKey);
    expect((await gql(hub.url, `{ viewer { role } }`, {}, secret)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // Expiry without waiting out a wall-clock interval (a loaded machine may take longer than any
    // short lifetime between two requests): the key works until its expiry is moved into the past.
    const soon = await ok(hub.url, `mutation($at: DateTime) { createApiKey(name: "short", expiresAt: $at) { ... on CreatedApiKey { secret apiKey { id } } } }`, { at: new Date(Date.now() + 3_600_000).toISOString() }, hub.apiKey);
    expect((await gql(hub.url, `{ viewer { role } }`, {}, soon.createApiKey.secret)).data?.viewer.role).toBe('admin');
    await hub.em().execute(`update api_key set expires_at = now() - interval '1 second' where id = ?`, [soon.createApiKey.apiKey.id]);
    expect((await gql(hub.url, `{ viewer { role } }`, {}, soon.createApiKey.secret)).errors?.[0]?.message).toMatch(/expired/);
  });

  test('target access: secret shown once and stored hashed; install instructions per type', async () => {
    const docker = await createTarget(hub.url, hub.apiKey, { name: 'host', type: 'docker' });
    const access = await createAccess(hub.url, hub.apiKey, docker.id);
    expect(access.installCommand).toContain('docker run');
    expect(access.installCommand).toContain('/var/run/docker.sock');
    expect(access.installCommand).toContain(`DISTR_TARGET_ID=${docker.id}`);
    const rows = await hub.em().execute(`select credential_hash, credential_generation from deployment_target where id = ?`, [docker.id]);
    expect(JSON.stringify(rows)).not.toContain(access.secret);
    expect(rows[0].credential_generation).toBe(1);
    const k8s = await createTarget(hub.url, hub.apiKey, { name: 'cluster', type: 'kubernetes', namespace: 'shop', scope: 'cluster' });
    const kAccess = await ok(hub.url, `mutation($id: ID!) { createDeploymentTargetAccess(targetId: $id) { ... on DeploymentTargetAccess { secret installCommand warnings } } }`, { id: k8s.id }, hub.apiKey).then((d) => d.createDeploymentTargetAccess);
    expect(kAccess.installCommand).toMatch(/^helm install distr-agent-\w+ http:\/\/\S+\/charts\/distr-agent-[\d.]+\.tgz --namespace shop/m);
    expect(kAccess.installCommand).not.toMatch(new RegExp(`--set[^\n]*${kAccess.secret}`));
    expect(kAccess.warnings[0]).toMatch(/DISTR_PUBLIC_URL is not set/);
    expect(kAccess.installCommand).toContain('--set scope=cluster');
  });
});

describe('list queries', () => {
  test('listing deployments with nested objects costs the same number of SQL statements for 2 or 8 deployments', async () => {
    const query = `{ deployments(first: 50) { edges { node { id target { id name agent { connected } } application { id name versions { id } } currentRevision { id version { id name } } status { phase } } } } }`;
    const knex = (hub.hub.orm.em.getConnection() as any).getKnex();
    let statements = 0;
    const onQuery = () => statements++;
    knex.on('query', onQuery);
    const measure = async () => {
      statements = 0;
      const data = await ok(hub.url, query, {}, hub.apiKey);
      return { statements, count: data.deployments.edges.length };
    };
    const seed = async (n: number, offset: number) => {
      for (let i = offset; i < offset + n; i++) {
        const { version, target } = await seedDockerSetup(hub.url, hub.apiKey, `app${i}`);
        await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
      }
    };
    await seed(2, 0);
    const small = await measure();
    await seed(6, 2);
    const large = await measure();
    knex.off('query', onQuery);
    expect(small.count).toBe(2);
    expect(large.count).toBe(8);
    expect(large.statements).toBe(small.statements);
  });
});
