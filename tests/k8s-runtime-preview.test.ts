/**
 * The kubernetes runtime preview against the tests' REAL control plane, with the real helm binary
 * and the driver's own ServiceAccount (testkit/k8s-driver.ts): the candidate rendered by
 * `helm upgrade --dry-run=server`, each object server-side-applied as a dry run and compared with
 * the live object. The diff names the changed objects and the image change; nothing changes in
 * the cluster; secrets the hub names are redacted by the agent core before anything leaves.
 */
import { describe, expect, it } from 'vitest';
import { redactedReport } from '../agent/core/previews.js';
import { ctx, helmRevision, useKubernetesDriverSuite } from './testkit/k8s-driver.js';

const suite = useKubernetesDriverSuite();
const SECRET = 'k8s-preview-Secret-Msg-31';

describe('KubernetesDriver.preview against a real API server', () => {
  it('diffs the candidate against the live objects by server-side dry run and changes nothing', async () => {
    const f = await suite.setup();
    const current = f.desired();
    await f.driver.apply(current, ctx());
    const liveBefore = await f.kube.get('Deployment', f.namespace, 'web');
    const candidate = {
      previewId: 'p-1',
      deploymentId: current.deploymentId,
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      error: null,
      composeFile: null,
      envFile: null,
      chart: current.chart,
      values: { message: SECRET, replicas: 2, image: 'registry.example/web:2' },
      redact: [{ name: 'MSG', value: SECRET }],
    };
    const result = await f.driver.preview(current.deploymentId, current, candidate, ctx());
    expect(result.baseRevisionId).toBe(current.revisionId);
    expect(result.message).toBeNull();
    expect(result.services).toEqual([
      { name: 'ConfigMap/web-config', change: 'changed', imageBefore: null, imageAfter: null },
      { name: 'Deployment/web', change: 'changed', imageBefore: liveBefore!.spec.template.spec.containers[0].image, imageAfter: 'registry.example/web:2' },
      { name: 'Service/web', change: 'unchanged', imageBefore: null, imageAfter: null },
    ]);
    expect(result.diff).toMatch(/^-\s+MESSAGE: hello$/m);
    expect(result.diff).toMatch(/^\+\s+replicas: 2$/m);
    expect(result.diff).toMatch(/^\+\s+image: registry\.example\/web:2$/m);
    expect(result.diff).not.toContain('managedFields');
    expect(result.diff).not.toContain('resourceVersion');

    // What leaves the agent: the secret value redacted.
    const sent = redactedReport({ previewId: 'p-1', ...result }, candidate);
    expect(JSON.stringify(sent)).not.toContain(SECRET);
    expect(sent.diff).toMatch(/^\+\s+MESSAGE: \[redacted secrets\.MSG\]$/m);

    // Nothing changed: same helm revision, same objects.
    expect(await helmRevision(f, 'web')).toBe(1);
    expect((await f.kube.get('ConfigMap', f.namespace, 'web-config'))?.data).toEqual({ MESSAGE: 'hello' });
    const liveAfter = await f.kube.get('Deployment', f.namespace, 'web');
    expect(liveAfter!.spec.replicas).toBe(1);
    expect(liveAfter!.metadata!.generation).toBe(liveBefore!.metadata!.generation);
  });
});
