/**
 * Vendor charts the Kubernetes agent must handle, installed by the KubernetesDriver (real helm,
 * with the agent chart's own ServiceAccount and Role/ClusterRole) on the tests' real Kubernetes
 * control plane: a chart with a CRD and a custom resource (refused by RBAC in namespace scope,
 * installed in cluster scope), a chart with an HPA (autoscaling/v2), a PodDisruptionBudget and a
 * ServiceAccount + Role, and the public podinfo chart (from its published source, see
 * scripts/build-test-k8s.sh) with its HPA on. Fixture charts: tests/fixtures/charts/.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './testkit/hub.js';
import { ctx, eventually, helmRevision, observeUntil, useKubernetesDriverSuite } from './testkit/k8s-driver.js';
import { testCluster } from './testkit/kube-cluster.js';


const suite = useKubernetesDriverSuite();
const { setup, onCleanup } = suite;
const fixtures = path.join(repoRoot, 'tests', 'fixtures', 'charts');
const waiting = { timeoutSeconds: 90, atomic: false, wait: true, ignoreDrift: false };

beforeAll(async () => {
  await suite.repo.add([path.join(fixtures, 'widgets'), path.join(fixtures, 'platform'), (await testCluster()).podinfoChart]);
});

const chart = (name: string, version = '1.0.0') => ({ type: 'repository' as const, url: suite.repo.url, name, version, digest: null });

describe('vendor charts through the KubernetesDriver on a real Kubernetes API server', () => {
  it('a namespace-scoped agent is refused a chart with a CRD by RBAC; a cluster-scoped one installs it and its custom resource', async () => {
    const narrow = await setup({ scope: 'namespace' });
    onCleanup(() => narrow.kube.delete('CustomResourceDefinition', null, 'widgets.example.distr.io'));
    const refused = narrow.driver.apply(narrow.desired({ releaseName: 'widgets', chart: chart('widgets') }), ctx());
    await expect(refused).rejects.toThrow(
      new RegExp(`customresourcedefinitions.apiextensions.k8s.io( "widgets.example.distr.io")? is forbidden: User "system:serviceaccount:${narrow.namespace}:${narrow.identity.serviceAccount}" cannot create resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope`),
    );
    expect(await narrow.kube.get('CustomResourceDefinition', null, 'widgets.example.distr.io')).toBeUndefined();

    const wide = await setup({ scope: 'cluster' });
    const deployment = wide.desired({ releaseName: 'widgets', chart: chart('widgets'), values: { size: 5 }, options: waiting });
    await wide.driver.apply(deployment, ctx());
    const crd = await wide.kube.get('CustomResourceDefinition', null, 'widgets.example.distr.io');
    expect(crd?.status?.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Established', status: 'True' })]));
    expect((await wide.kube.get('example.distr.io/v1/Widget', wide.namespace, 'widgets'))?.spec).toEqual({ size: 5 });
    expect(await observeUntil(wide.driver, deployment, (s) => s.phase === 'healthy')).toMatchObject({
      resources: [{ kind: 'Deployment', name: 'widgets-controller', phase: 'healthy' }],
    });
    // The API server validates custom resources against the CRD's schema: helm fails, nothing changes.
    const invalid = wide.desired({ revisionId: 'rev-2', releaseName: 'widgets', chart: chart('widgets'), values: { size: 0 } });
    await expect(wide.driver.apply(invalid, ctx())).rejects.toThrow(/spec\.size: Invalid value: 0: spec\.size in body should be greater than or equal to 1/);
    expect((await wide.kube.get('example.distr.io/v1/Widget', wide.namespace, 'widgets'))?.spec).toEqual({ size: 5 });
    // Uninstall removes the custom resource; helm leaves CRDs in place by design.
    await wide.driver.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: false }, ctx());
    expect(await wide.kube.get('example.distr.io/v1/Widget', wide.namespace, 'widgets')).toBeUndefined();
    expect(await wide.kube.get('CustomResourceDefinition', null, 'widgets.example.distr.io')).toBeDefined();
  });

  it('installs a chart with an HPA (autoscaling/v2), a PodDisruptionBudget and a ServiceAccount + Role in namespace scope', async () => {
    const f = await setup({ scope: 'namespace' });
    const deployment = f.desired({ releaseName: 'platform', chart: chart('platform'), options: waiting });
    await f.driver.apply(deployment, ctx());
    const hpa = await f.kube.get('HorizontalPodAutoscaler', f.namespace, 'platform');
    expect(hpa?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }] });
    expect(await f.kube.get('Role', f.namespace, 'platform')).toBeDefined();
    expect((await f.kube.get('RoleBinding', f.namespace, 'platform'))?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'platform', namespace: f.namespace }]);
    // The HPA controller raises the Deployment to minReplicas (no metrics server: it cannot scale on CPU).
    await eventually(async () => (await f.kube.get('Deployment', f.namespace, 'platform'))?.spec?.replicas === 2, 'the HPA to scale platform to 2 replicas');
    const status = await observeUntil(f.driver, deployment, (s) => s.phase === 'healthy' && s.resources[0]?.message === '2/2 ready');
    expect(status.resources).toMatchObject([{ kind: 'Deployment', name: 'platform', phase: 'healthy' }]);
    // The disruption controller sees both pods; the pods run as the chart's ServiceAccount.
    await eventually(async () => (await f.kube.get('PodDisruptionBudget', f.namespace, 'platform'))?.status?.currentHealthy === 2, 'the PDB to count 2 healthy pods');
    const pods = await f.kube.list('Pod', f.namespace, 'app.kubernetes.io/instance=platform');
    expect(pods.map((p) => p.spec?.serviceAccountName)).toEqual(['platform', 'platform']);
    // Scaling by the HPA is no helm change: no drift.
    expect(await helmRevision(f, 'platform')).toBe(1);
  });

  it('installs the public podinfo chart (6.9.2, from its published source) with its HPA on, and reports it healthy', async () => {
    const f = await setup({ scope: 'namespace' });
    const deployment = f.desired({
      releaseName: 'podinfo',
      chart: chart('podinfo', '6.9.2'),
      values: { hpa: { enabled: true, maxReplicas: 3, cpu: 80 }, replicaCount: 1 },
      options: waiting,
    });
    await f.driver.apply(deployment, ctx());
    const status = await observeUntil(f.driver, deployment, (s) => s.phase === 'healthy');
    expect(status).toMatchObject({ message: 'release podinfo revision 1 deployed, 1 workload(s) ready', resources: [{ kind: 'Deployment', name: 'podinfo', phase: 'healthy' }] });
    const hpa = await f.kube.get('HorizontalPodAutoscaler', f.namespace, 'podinfo');
    expect(hpa?.apiVersion).toBe('autoscaling/v2');
    expect(hpa?.spec).toMatchObject({ scaleTargetRef: { kind: 'Deployment', name: 'podinfo' }, minReplicas: 1, maxReplicas: 3 });
    expect(await f.kube.get('Service', f.namespace, 'podinfo')).toBeDefined();
    const releases = JSON.parse(await f.helm(['list', '-n', f.namespace, '-o', 'json'])) as { name: string; chart: string; app_version: string }[];
    expect(releases).toMatchObject([{ name: 'podinfo', chart: 'podinfo-6.9.2', app_version: '6.9.2' }]);
  });
});
