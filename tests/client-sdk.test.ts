/**
 * The product doc's SDK appendix, run through DistrService against a real hub on real PostgreSQL,
 * plus version ordering, rollouts, typed errors and the status stream.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  DistrAmbiguousError,
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

describe("the product document's appendix, call by call as written", () => {
  test('create (target spelled `kubernetes: { namespace }`), access.token, then updateDeployment by deploymentTargetId', async () => {
    const app = await service.createApplication({ type: 'kubernetes', name: 'My App' });
    const version = await service.createKubernetesApplicationVersion(app.id, 'v1.0.0', { chartType: 'oci', chartUrl: 'oci://registry/chart', chartVersion: '1.0.0' });
    const deployment = await service.createDeployment({
      target: { name: 'prod', type: 'kubernetes', kubernetes: { namespace: 'default' } },
      application: { versionId: version.id },
      kubernetesDeployment: { releaseName: 'my-app', valuesYaml: 'replicas: 3' },
    });
    const access = await service.createAccessForDeploymentTarget(deployment.deploymentTarget.id);
    expect(access.token).toBe(access.secret);
    expect(Object.keys(access)).not.toContain('token'); // an alias: JSON shows the secret once

    const targetId = deployment.deploymentTarget.id;
    const newVersionId = (await service.createKubernetesApplicationVersion(app.id, 'v1.1.0', { chartType: 'oci', chartUrl: 'oci://registry/chart', chartVersion: '1.1.0' })).id;
    const updated = await service.updateDeployment({
      deploymentTargetId: targetId,
      application: { versionId: newVersionId },
      kubernetesDeployment: { valuesYaml: 'replicas: 5' },
    });
    expect(updated.id).toBe(deployment.id);
    expect(updated.currentRevision).toMatchObject({ valuesYaml: 'replicas: 5', version: { id: newVersionId, name: 'v1.1.0' } });
    const stored = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { revisions { nodes { valuesYaml version { name } } } } }`, { id: deployment.id }, hub.apiKey);
    expect(stored.deployment.revisions.nodes).toEqual([{ valuesYaml: 'replicas: 5', version: { name: 'v1.1.0' } }, { valuesYaml: 'replicas: 3', version: { name: 'v1.0.0' } }]);
    // A config-only change by target works too while the target holds one deployment.
    const configOnly = await service.updateDeployment({ deploymentTargetId: targetId, kubernetesDeployment: { valuesYaml: 'replicas: 7' } });
    expect(configOnly.currentRevision).toMatchObject({ valuesYaml: 'replicas: 7', version: { name: 'v1.1.0' } });
  });

  test('by target: another application on the target does not count; two of the same application are ambiguous; none is not found', async () => {
    const app = await service.createApplication({ type: 'kubernetes', name: 'My App' });
    const v1 = await service.createKubernetesApplicationVersion(app.id, '1.0.0', chart);
    const v2 = await service.createKubernetesApplicationVersion(app.id, '2.0.0', { ...chart, chartVersion: '2.0.0' });
    const tools = await service.createApplication({ type: 'kubernetes', name: 'tools' });
    const t1 = await service.createKubernetesApplicationVersion(tools.id, '1.0.0', chart);
    const first = await service.createDeployment({ target: { name: 'prod', type: 'kubernetes', namespace: 'apps' }, application: { versionId: v1.id }, kubernetesDeployment: { releaseName: 'my-app' } });
    const targetId = first.deploymentTarget.id;
    const other = await service.createDeployment({ deploymentTargetId: targetId, application: { versionId: t1.id }, kubernetesDeployment: { releaseName: 'tools' } });

    // One deployment of My App on the target (tools is another application): it is the one.
    expect((await service.updateDeployment({ deploymentTargetId: targetId, application: { versionId: v2.id } })).id).toBe(first.id);
    // Without a version the call names no application: two deployments on the target are ambiguous.
    const noVersion = await service.updateDeployment({ deploymentTargetId: targetId, kubernetesDeployment: { valuesYaml: 'a: 1' } }).catch((e: unknown) => e);
    expect(noVersion).toBeInstanceOf(DistrAmbiguousError);
    expect((noVersion as DistrAmbiguousError).candidates.map((c) => c.deploymentId).sort()).toEqual([first.id, other.id].sort());

    const second = await service.createDeployment({ deploymentTargetId: targetId, application: { versionId: v1.id }, kubernetesDeployment: { releaseName: 'my-app-2' } });
    const revisionsBefore = await revisionCount(first.id);
    const ambiguous = await service.updateDeployment({ deploymentTargetId: targetId, application: { versionId: v2.id }, kubernetesDeployment: { valuesYaml: 'replicas: 5' } }).catch((e: unknown) => e);
    expect(ambiguous).toBeInstanceOf(DistrAmbiguousError);
    expect(ambiguous).toBeInstanceOf(DistrError);
    const candidates = (ambiguous as DistrAmbiguousError).candidates;
    expect(candidates.map((c) => c.deploymentId).sort()).toEqual([first.id, second.id].sort());
    expect(candidates.find((c) => c.deploymentId === second.id)).toEqual({ deploymentId: second.id, applicationName: 'My App', versionName: '1.0.0', releaseName: 'my-app-2' });
    expect((ambiguous as Error).message).toBe(
      `deployment target "prod" holds 2 deployments of application "My App": ${candidates.map((c) => `${c.deploymentId} (My App ${c.versionName}, release ${c.releaseName})`).join(', ')}; pass deploymentId to choose one`,
    );
    expect(await revisionCount(first.id)).toBe(revisionsBefore);
    expect(await revisionCount(second.id)).toBe(1);
    // deploymentId chooses; given with the target, they must agree.
    expect((await service.updateDeployment({ deploymentId: second.id, deploymentTargetId: targetId, application: { versionId: v2.id } })).id).toBe(second.id);
    const elsewhere = await service.createDeploymentTarget({ name: 'staging', type: 'kubernetes', namespace: 'apps' });
    const mismatch = await service.updateDeployment({ deploymentId: second.id, deploymentTargetId: elsewhere.id, application: { versionId: v1.id } }).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ name: 'DistrInvalidInputError', field: 'deploymentTargetId' });

    // A target without a deployment of the application: not found, naming both.
    const none = await service.updateDeployment({ deploymentTargetId: elsewhere.id, application: { versionId: v2.id } }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(DistrNotFoundError);
    expect(none).toMatchObject({ entity: 'deployment', message: 'deployment target "staging" holds no deployment of application "My App"' });
    const unknown = '7f1d3c1e-0000-4000-8000-000000000000';
    await expect(service.updateDeployment({ deploymentTargetId: unknown, application: { versionId: v2.id } })).rejects.toMatchObject({ name: 'DistrNotFoundError', entity: 'deployment target' });
    await expect(service.updateDeployment({ deploymentTargetId: targetId, application: { versionId: unknown } })).rejects.toMatchObject({ name: 'DistrNotFoundError', entity: 'application version' });
  });

  async function revisionCount(deploymentId: string): Promise<number> {
    const data = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { revisions { nodes { id } } } }`, { id: deploymentId }, hub.apiKey);
    return data.deployment.revisions.nodes.length;
  }
});

describe('run-time input checks', () => {
  test('bad arguments are DistrInvalidInputErrors naming the field, raised before anything is sent', async () => {
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => service.createApplication({ name: 'x', type: 'vm' as never }), 'type', /^createApplication: type: Invalid option: expected one of "docker"\|"kubernetes"$/],
      [() => service.createApplication({ name: '  ', type: 'docker' }), 'name', /^createApplication: name: must not be empty$/],
      [() => service.createApplication({ type: 'docker' } as never), 'name', /^createApplication: name: is required \(string\)$/],
      [() => service.createApplication({ name: 'x', type: 'docker', kind: 'app' } as never), 'kind', /^createApplication: kind: unknown field "kind"$/],
      [() => service.createKubernetesApplicationVersion('some-app', 'v1', { chartType: 'helm' as never, chartUrl: 'oci://x', chartVersion: '1' }), 'content.chartType', /^createKubernetesApplicationVersion: content\.chartType: Invalid option/],
      [() => service.createDockerApplicationVersion('', 'v1', { composeFile: 'services: {}' }), 'applicationId', /must be a non-empty id/],
      [() => service.createDeployment({ targetId: 't', application: { versionId: 'v' }, kubernetesDeployment: { releaseName: 'r', helmOptions: { timeoutSeconds: '10' as never } } }), 'kubernetesDeployment.helmOptions.timeoutSeconds', /expected number, received string/],
      [() => service.createDeployment({ application: { versionId: 'v' }, dockerDeployment: { composeType: 'compose' } } as never), 'target', /give exactly one of target \(a new target\), targetId or deploymentTargetId/],
      [() => service.createDeployment({ target: { name: 'p', type: 'kubernetes', kubernetes: { namespace: 3 } }, application: { versionId: 'v' }, kubernetesDeployment: { releaseName: 'r' } } as never), 'target.kubernetes.namespace', /expected string, received number/],
      [() => service.updateDeployment({ deploymentTargetId: 't', kubernetesDeployment: { valuesYaml: 5 as never } }), 'kubernetesDeployment.valuesYaml', /^updateDeployment: kubernetesDeployment\.valuesYaml: Invalid input: expected string, received number$/],
      [() => service.updateDeployment({ deploymentTargetId: 't', kubernetesDeploy: { valuesYaml: 'a: 1' } } as never), 'kubernetesDeploy', /unknown field "kubernetesDeploy"/],
      [() => service.updateDeployment({ application: { versionId: 'v' } } as never), 'deploymentId', /give deploymentId, or deploymentTargetId/],
      [() => service.updateDeployment({ deploymentId: 'd' }), 'application', /nothing to update/],
      [() => service.createApiKey({ name: 'ci', roleCap: 'root' as never }), 'roleCap', /Invalid option/],
      [() => service.createApiKey({ name: 'ci', expiresAt: 'tomorrow' }), 'expiresAt', /^createApiKey: expiresAt: /],
      [() => service.getDeployment(42 as never), 'id', /^getDeployment: id: Invalid input: expected string, received number$/],
    ];
    for (const [call, field, message] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(DistrInvalidInputError);
      expect((error as DistrInvalidInputError).field, String(message)).toBe(field);
      expect((error as Error).message).toMatch(message);
    }
    // Nothing reached the hub: no application, target or deployment was written.
    expect(await service.listApplications()).toEqual([]);
    expect(await service.listDeploymentTargets()).toEqual([]);
  });
});

describe('API keys', () => {
  test('create (secret once), list, revoke: the revoked key is refused at once', async () => {
    const created = await service.createApiKey({ name: 'ci', roleCap: 'read_write', expiresAt: new Date(Date.now() + 86_400_000) });
    expect(created.apiKey).toMatchObject({ name: 'ci', roleCap: 'read_write', revokedAt: null });
    const ci = new DistrService({ hubUrl: hub.url, apiKey: created.secret });
    expect(await ci.listApplications()).toEqual([]);
    const keys = await service.listApiKeys();
    expect(keys.map((k) => k.name)).toContain('ci');
    expect(JSON.stringify(keys)).not.toContain(created.secret.split('_').at(-1));
    // Listing keys is for admins.
    await expect(ci.listApiKeys()).rejects.toMatchObject({ name: 'DistrRequestError', isAuthFailure: true });
    const revoked = await service.revokeApiKey((await service.resolveApiKey('ci')).id);
    expect(revoked.revokedAt).not.toBeNull();
    await expect(ci.listApplications()).rejects.toMatchObject({ name: 'DistrRequestError', isAuthFailure: true, message: 'API key invalid, expired or revoked' });
    await expect(service.revokeApiKey('7f1d3c1e-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(DistrNotFoundError);
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
