/**
 * The stand-in Kubernetes API server (test double) through the real @kubernetes/client-node:
 * Status errors, patch types, label selectors, watch streams, cascading deletes.
 */
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeStandIn } from './k8s-standin/kube-standin.js';
import { startKubeStandIn } from './k8s-standin/kube-standin.js';

let kube: KubeStandIn;
let kc: KubeConfig;

beforeAll(async () => {
  kube = await startKubeStandIn({ namespaces: ['default', 'apps'], readiness: { readyAfterMs: 50 } });
  kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
});
afterAll(() => kube?.close());

const deploymentBody = (name: string) => ({
  metadata: { name, labels: { app: name } },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'img:1' }, { name: 'side', image: 'side:1' }] } },
  },
});

describe('Kubernetes stand-in via client-node', () => {
  it('answers errors with Kubernetes Status objects', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await expect(core.readNamespacedConfigMap({ name: 'nope', namespace: 'apps' })).rejects.toMatchObject({ code: 404 });
    await core.createNamespacedConfigMap({ namespace: 'apps', body: { metadata: { name: 'cm' }, data: { a: '1' } } });
    const conflict = await core.createNamespacedConfigMap({ namespace: 'apps', body: { metadata: { name: 'cm' } } }).catch((e: unknown) => e);
    expect(conflict).toMatchObject({ code: 409 });
    expect(JSON.parse((conflict as { body: string }).body)).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', code: 409 });
    await expect(core.createNamespacedConfigMap({ namespace: 'missing', body: { metadata: { name: 'cm' } } })).rejects.toMatchObject({ code: 404 });
  });

  it('applies merge, strategic-merge (containers by name) and JSON patches, bumping generation on spec changes', async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const created = await apps.createNamespacedDeployment({ namespace: 'apps', body: deploymentBody('patchme') });
    expect(created.metadata).toMatchObject({ generation: 1, uid: expect.any(String), resourceVersion: expect.any(String), creationTimestamp: expect.any(Date) });
    const strategic = await apps.patchNamespacedDeployment(
      { name: 'patchme', namespace: 'apps', body: { spec: { template: { spec: { containers: [{ name: 'side', image: 'side:2' }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(strategic.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`)).toEqual(['main=img:1', 'side=side:2']);
    expect(strategic.metadata?.generation).toBe(2);
    const merged = await apps.patchNamespacedDeployment(
      { name: 'patchme', namespace: 'apps', body: { metadata: { labels: { extra: 'yes' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.labels).toEqual({ app: 'patchme', extra: 'yes' });
    expect(merged.metadata?.generation).toBe(2);
    const jsonPatched = await apps.patchNamespacedDeployment(
      { name: 'patchme', namespace: 'apps', body: [{ op: 'replace', path: '/spec/replicas', value: 3 }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jsonPatched.spec?.replicas).toBe(3);
  });

  it('streams watch events and makes Deployments ready with ReplicaSets and Pods; deletes cascade', async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const seen: string[] = [];
    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => ((resolveReady = resolve), (rejectReady = reject)));
    // watch() resolves once the server answered the watch request, i.e. once it is watching.
    const watching = await new Watch(kc).watch('/apis/apps/v1/namespaces/apps/deployments', { labelSelector: 'app=watched' }, (type, obj: { status?: { readyReplicas?: number } }) => {
      seen.push(type);
      if (obj.status?.readyReplicas === 1) resolveReady();
    }, (err) => (err ? rejectReady(err as Error) : undefined));
    await apps.createNamespacedDeployment({ namespace: 'apps', body: deploymentBody('watched') });
    await ready.finally(() => watching.abort());
    expect(seen[0]).toBe('ADDED');
    expect(seen).toContain('MODIFIED');
    const pods = await core.listNamespacedPod({ namespace: 'apps', labelSelector: 'app=watched' });
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0]!.status?.containerStatuses?.every((c) => c.ready)).toBe(true);
    expect(kube.list('ReplicaSet', 'apps', 'app=watched')).toHaveLength(1);
    await apps.deleteNamespacedDeployment({ name: 'watched', namespace: 'apps', propagationPolicy: 'Background' });
    expect(kube.list('ReplicaSet', 'apps', 'app=watched')).toEqual([]);
    expect(kube.list('Pod', 'apps', 'app=watched')).toEqual([]);
  });
});
