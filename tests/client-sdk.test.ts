/**
 * The product doc's SDK appendix, run through DistrService against a real hub on real PostgreSQL,
 * plus version ordering, rollouts, typed errors and the status stream.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  DistrConflictError,
  DistrError,
  DistrInvalidInputError,
  DistrNotFoundError,
  DistrRequestError,
  DistrRuleViolationError,
  DistrService,
  type DeploymentStatusEvent,
} from '../client/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { COMPOSE_TWO_SERVICES, createDockerVersion, ok } from './testkit/flow.js';
import { agentLogin, reportStatus } from './testkit/agent-socket.js';
import { freePort } from '../server/db/embedded.js';

let pg: TestPostgres;
let hub: TestHub;
let service: DistrService;
beforeAll(async () => {
  pg = await startTestPostgres();
});
afterAll(async () => {
  await pg?.stop();
});
beforeEach(async () => {
  hub = await startTestHub(await pg.freshDatabase('sdk'));
  service = new DistrService({ hubUrl: hub.url, apiKey: hub.apiKey });
});
afterEach(async () => {
  await hub?.close();
});

const chart = { chartType: 'oci', chartUrl: 'oci://registry.example/charts/my-app', chartVersion: '1.0.0' } as const;

describe('the SDK appendix flow', () => {
  test('kubernetes: application, version, deployment with a new target, agent access, update', async () => {
    const app = await service.createApplication({ type: 'kubernetes', name: 'My App' });
    expect(app).toMatchObject({ name: 'My App', type: 'kubernetes' });
    const version = await service.createKubernetesApplicationVersion(app.id, 'v1.0.0', chart);
    expect(version).toMatchObject({ name: 'v1.0.0', chartType: 'oci', chartUrl: chart.chartUrl, chartVersion: '1.0.0', composeFile: null });

    const deployment = await service.createDeployment({
      target: { name: 'prod', type: 'kubernetes', namespace: 'default' },
      application: { versionId: version.id },
      kubernetesDeployment: { releaseName: 'my-app', valuesYaml: 'replicas: 3' },
    });
    expect(deployment).toMatchObject({
      releaseName: 'my-app',
      application: { id: app.id },
      deploymentTarget: { name: 'prod', type: 'kubernetes', namespace: 'default', scope: 'namespace', hasAccess: false, agent: { connected: false } },
      currentRevision: { valuesYaml: 'replicas: 3', version: { id: version.id, name: 'v1.0.0' } },
      status: null,
    });

    const access = await service.createAccessForDeploymentTarget(deployment.deploymentTarget.id);
    expect(access.targetId).toBe(deployment.deploymentTarget.id);
    expect(access.secret.length).toBeGreaterThan(16);
    expect(access.installCommand).toMatch(/^helm /m);
    expect(access.installCommand).not.toContain(access.secret); // read from a file, never on a command line

    const v2 = await service.createKubernetesApplicationVersion(app.id, 'v1.1.0', { ...chart, chartVersion: '1.1.0' });
    const updated = await service.updateDeployment({
      deploymentId: deployment.id,
      application: { versionId: v2.id },
      kubernetesDeployment: { valuesYaml: 'replicas: 5' },
    });
    expect(updated.currentRevision).toMatchObject({ valuesYaml: 'replicas: 5', version: { id: v2.id, name: 'v1.1.0' } });
    expect(updated.currentRevision.id).not.toBe(deployment.currentRevision.id);

    // What the hub stored, read independently of the SDK.
    const stored = await ok(
      hub.url,
      `query($id: ID!) { deployment(id: $id) { releaseName target { name hasAccess namespace } revisions { nodes { valuesYaml version { name } } } } }`,
      { id: deployment.id },
      hub.apiKey,
    );
    expect(stored.deployment).toEqual({
      releaseName: 'my-app',
      target: { name: 'prod', hasAccess: true, namespace: 'default' },
      revisions: { nodes: [{ valuesYaml: 'replicas: 5', version: { name: 'v1.1.0' } }, { valuesYaml: 'replicas: 3', version: { name: 'v1.0.0' } }] },
    });
    expect(await service.getDeployment(deployment.id)).toEqual(updated);
    expect((await service.listDeployments({ applicationId: app.id })).map((d) => d.id)).toEqual([deployment.id]);
  });

  test("the doc's own spelling of the target (`kubernetes: { namespace }`) works too", async () => {
    const app = await service.createApplication({ type: 'kubernetes', name: 'doc-app' });
    const version = await service.createKubernetesApplicationVersion(app.id, '1.0.0', chart);
    const deployment = await service.createDeployment({
      target: { name: 'prod', type: 'kubernetes', kubernetes: { namespace: 'apps' } },
      application: { versionId: version.id },
      kubernetesDeployment: { releaseName: 'doc-app' },
    });
    expect(deployment.deploymentTarget).toMatchObject({ namespace: 'apps', scope: 'namespace' });
  });

  test('docker: the same flow with a compose file, an env template and an env file', async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const v1 = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES, envTemplate: 'GREETING=hello\n' });
    expect(v1).toMatchObject({ name: '1.0.0', composeFile: COMPOSE_TWO_SERVICES, envTemplate: 'GREETING=hello\n', chartType: null });
    const deployment = await service.createDeployment({
      target: { name: 'edge-1', type: 'docker' },
      application: { versionId: v1.id },
      dockerDeployment: { composeType: 'compose', envFile: 'GREETING=hi\n' },
    });
    expect(deployment).toMatchObject({ composeType: 'compose', deploymentTarget: { name: 'edge-1', type: 'docker', namespace: null }, currentRevision: { envFile: 'GREETING=hi\n' } });
    const access = await service.createAccessForDeploymentTarget(deployment.deploymentTarget.id);
    expect(access.installCommand).toMatch(/docker run/);

    const v2 = await service.createDockerApplicationVersion(app.id, '1.1.0', { composeFile: COMPOSE_TWO_SERVICES });
    const updated = await service.updateDeployment({ deploymentId: deployment.id, application: { versionId: v2.id }, dockerDeployment: { envFile: 'GREETING=moin\n' } });
    expect(updated.currentRevision).toMatchObject({ envFile: 'GREETING=moin\n', version: { name: '1.1.0' } });

    expect((await service.listApplications()).map((a) => a.name)).toEqual(['shop']);
    expect((await service.listDeploymentTargets()).map((t) => ({ name: t.name, hasAccess: t.hasAccess }))).toEqual([{ name: 'edge-1', hasAccess: true }]);
    expect((await service.getApplication(app.id)).versions.map((v) => v.name)).toEqual(['1.0.0', '1.1.0']);
    expect((await service.resolveApplication('shop')).id).toBe(app.id);
    expect((await service.resolveVersion(app.id, '1.1.0')).id).toBe(v2.id);

    const restarted = await service.forceRestart(deployment.id);
    expect(restarted.currentRevision.id).not.toBe(updated.currentRevision.id);
    await service.deleteDeployment(deployment.id);
    await expect(service.getDeployment(deployment.id)).rejects.toBeInstanceOf(DistrNotFoundError);
  });
});

describe('versions', () => {
  test('getLatestVersion: highest semver (skipping other names) vs newest; archived versions never count', async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const make = (name: string) => service.createDockerApplicationVersion(app.id, name, { composeFile: COMPOSE_TWO_SERVICES });
    await make('1.2.0');
    const v110 = await make('v1.10.0');
    const v19 = await make('1.9.0');
    const nightly = await make('nightly');
    expect((await service.getLatestVersion(app.id, 'semver'))?.name).toBe('v1.10.0');
    expect((await service.getLatestVersion(app.id, 'chronological'))?.name).toBe('nightly');
    await service.archiveApplicationVersion(v110.id);
    await service.archiveApplicationVersion(nightly.id);
    expect((await service.getLatestVersion(app.id, 'semver'))?.id).toBe(v19.id);
    expect((await service.getLatestVersion(app.id, 'chronological'))?.id).toBe(v19.id);

    const unversioned = await service.createApplication({ type: 'docker', name: 'tools' });
    await service.createDockerApplicationVersion(unversioned.id, 'latest', { composeFile: COMPOSE_TWO_SERVICES });
    expect(await service.getLatestVersion(unversioned.id, 'semver')).toBeNull();
  });

  test('isOutdated compares by semver, falling back to creation order for other names', async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const make = (name: string) => service.createDockerApplicationVersion(app.id, name, { composeFile: COMPOSE_TWO_SERVICES });
    const v12 = await make('1.2.0');
    const d = await service.createDeployment({ target: { name: 'edge', type: 'docker' }, application: { versionId: v12.id }, dockerDeployment: { composeType: 'compose' } });
    expect(await service.isOutdated(d.id)).toBe(false);
    const v13 = await make('1.3.0');
    expect(await service.isOutdated(d.id)).toBe(true);
    await service.updateDeployment({ deploymentId: d.id, application: { versionId: v13.id } });
    expect(await service.isOutdated(d.id)).toBe(false);
    await make('1.2.5'); // newer by time, older by semver
    await make('nightly');
    expect(await service.isOutdated(d.id)).toBe(false);

    const tools = await service.createApplication({ type: 'docker', name: 'tools' });
    const alpha = await service.createDockerApplicationVersion(tools.id, 'alpha', { composeFile: COMPOSE_TWO_SERVICES });
    const t = await service.createDeployment({ targetId: d.deploymentTarget.id, application: { versionId: alpha.id }, dockerDeployment: { composeType: 'compose' } });
    expect(await service.isOutdated(t.id)).toBe(false);
    const beta = await service.createDockerApplicationVersion(tools.id, 'beta', { composeFile: COMPOSE_TWO_SERVICES });
    expect(await service.isOutdated(t.id)).toBe(true);
    await service.archiveApplicationVersion(beta.id);
    expect(await service.isOutdated(t.id)).toBe(false);
  });

  test('updateAllDeployments moves every deployment of the application to the version', async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const v1 = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const ids: string[] = [];
    for (const name of ['edge-1', 'edge-2']) {
      const d = await service.createDeployment({ target: { name, type: 'docker' }, application: { versionId: v1.id }, dockerDeployment: { composeType: 'compose' } });
      ids.push(d.id);
    }
    const v2 = await service.createDockerApplicationVersion(app.id, '2.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const result = await service.updateAllDeployments(app.id, v2.id);
    expect(result.count).toBe(2);
    expect(result.deployments.map((d) => d.id).sort()).toEqual([...ids].sort());
    for (const id of ids) expect((await service.getDeployment(id)).currentRevision.version.name).toBe('2.0.0');
    expect(await service.isOutdated(ids[0]!)).toBe(false);
  });
});

describe('errors', () => {
  test("a docker version on a kubernetes application is a DistrRuleViolationError with the hub's message", async () => {
    const app = await service.createApplication({ type: 'kubernetes', name: 'k' });
    const error = await service.createDockerApplicationVersion(app.id, 'v1', { composeFile: COMPOSE_TWO_SERVICES }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DistrRuleViolationError);
    expect(error).toBeInstanceOf(DistrError);
    expect((error as DistrRuleViolationError).rule).toBe('type_mismatch');
    // The same call made by hand: the SDK carries the hub's message verbatim.
    const raw = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES);
    expect(raw.__typename).toBe('RuleViolationError');
    expect((error as Error).message).toBe(raw.message);
  });

  test('invalid input, conflicts and unknown ids are typed too', async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const invalid = await service.createDockerApplicationVersion(app.id, 'v1', { composeFile: 'services:\n  web: [unclosed\n' }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(DistrInvalidInputError);
    expect((invalid as DistrInvalidInputError).field).toBe('composeFile');
    const conflict = await service.createApplication({ type: 'docker', name: 'shop' }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(DistrConflictError);
    expect(conflict).toMatchObject({ field: 'name', message: 'an application named "shop" already exists' });
    const unknown = '7f1d3c1e-0000-4000-8000-000000000000';
    const missing = await service.createDockerApplicationVersion(unknown, 'v1', { composeFile: COMPOSE_TWO_SERVICES }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DistrNotFoundError);
    expect(missing).toMatchObject({ entity: 'application', entityId: unknown });
    await expect(service.getDeployment(unknown)).rejects.toMatchObject({ name: 'DistrNotFoundError', entity: 'deployment', message: `deployment ${unknown} not found` });
  });

  test('a refused deployment removes the target it created for itself', async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const v1 = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const error = await service
      .createDeployment({ target: { name: 'cluster', type: 'kubernetes', namespace: 'shop' }, application: { versionId: v1.id }, kubernetesDeployment: { releaseName: 'shop' } })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'DistrRuleViolationError', rule: 'type_mismatch' });
    expect(await service.listDeploymentTargets()).toEqual([]);
  });

  test('a wrong API key and an unreachable hub are DistrRequestErrors with a code', async () => {
    const badKey = new DistrService({ hubUrl: hub.url, apiKey: 'dk_nope' });
    const auth = await badKey.listApplications().catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(DistrRequestError);
    // The auth rule: a key that identifies no one is 401 UNAUTHENTICATED, like a missing one.
    expect(auth).toMatchObject({ code: 'UNAUTHENTICATED', status: 401, isAuthFailure: true, message: 'API key invalid, expired or revoked' });
    const closedPort = await freePort(); // free now, so nothing listens there
    const down = new DistrService({ hubUrl: `http://127.0.0.1:${closedPort}`, apiKey: hub.apiKey });
    const network = await down.listApplications().catch((e: unknown) => e);
    expect(network).toBeInstanceOf(DistrRequestError);
    expect(network).toMatchObject({ code: 'NETWORK' });
    expect((network as Error).message).toBe(`cannot reach the hub at http://127.0.0.1:${closedPort}: ECONNREFUSED`);
  });
});

describe('watchDeploymentStatus', () => {
  test("yields the watched deployment's status transitions as the agent reports them", async () => {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const v1 = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const watched = await service.createDeployment({ target: { name: 'edge', type: 'docker' }, application: { versionId: v1.id }, dockerDeployment: { composeType: 'compose' } });
    const tools = await service.createApplication({ type: 'docker', name: 'tools' });
    const tv = await service.createDockerApplicationVersion(tools.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const other = await service.createDeployment({ targetId: watched.deploymentTarget.id, application: { versionId: tv.id }, dockerDeployment: { composeType: 'compose' } });
    const access = await service.createAccessForDeploymentTarget(watched.deploymentTarget.id);
    const token = await agentLogin(hub.url, access.targetId, access.secret);

    await reportStatus(hub.url, token, [{ deploymentId: watched.id, revisionId: watched.currentRevision.id, phase: 'healthy', message: 'ok' }]);
    const watch = service.watchDeploymentStatus(watched.id);
    const events = watch[Symbol.asyncIterator]();
    // The hub starts a watch of one deployment with its current status: nothing is missed between.
    const first = (await events.next()).value as DeploymentStatusEvent;
    expect(first).toMatchObject({ deploymentId: watched.id, targetId: watched.deploymentTarget.id, phase: 'healthy', message: 'ok', revisionId: watched.currentRevision.id });

    // Then each transition of this deployment (and none of the other one) as it commits.
    const next = events.next();
    await reportStatus(hub.url, token, [
      { deploymentId: other.id, revisionId: other.currentRevision.id, phase: 'error', message: 'other broke' },
      { deploymentId: watched.id, revisionId: watched.currentRevision.id, phase: 'error', message: 'crash loop' },
    ]);
    expect((await next).value).toMatchObject({ deploymentId: watched.id, phase: 'error', message: 'crash loop' });
    expect((await service.getDeployment(watched.id)).status).toMatchObject({ phase: 'error', message: 'crash loop' });

    await watch.close();
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });

  test('a wrong API key ends the watch with an auth error', async () => {
    const watch = new DistrService({ hubUrl: hub.url, apiKey: 'dk_nope' }).watchDeploymentStatus();
    const error = await watch[Symbol.asyncIterator]().next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DistrRequestError);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', isAuthFailure: true, message: 'API key invalid, expired or revoked' });
  });
});
