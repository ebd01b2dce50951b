/**
 * KubernetesDriver against the REAL helm binary and the REAL @kubernetes/client-node, talking to
 * the stand-in Kubernetes API server (no real API server can run here): apply, upgrade, status,
 * restart, remove, namespace scope, logs and OCI charts. Helm keeps its releases in a fresh
 * PostgreSQL database per test (HELM_DRIVER=sql); charts come from a real Helm repository served
 * over HTTP (setup in testkit/k8s-driver.ts). Ownership records: k8s-ownership.test.ts.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PermanentApplyError } from '../agent/core/driver.js';
import type { LogLine } from '../protocol/index.js';
import { serveOciRegistry } from './k8s-standin/oci-registry.js';
import { ObservedList } from './testkit/changes.js';
import { ctx, helmRevision, observeUntil, useKubernetesDriverSuite } from './testkit/k8s-driver.js';

const suite = useKubernetesDriverSuite();
const { setup, desired, onCleanup } = suite;

describe('KubernetesDriver with real helm against the Kubernetes stand-in', () => {
  it('installs a release (cluster scope creates the namespace), waits, and observes it healthy', async () => {
    const f = await setup({ scope: 'cluster', namespace: 'apps' });
    const deployment = desired({ namespace: 'fresh-ns', options: { timeoutSeconds: 20, atomic: false, wait: true, ignoreDrift: false } });
    await f.driver.apply(deployment, ctx());
    expect(f.kube.get('Namespace', null, 'fresh-ns')).toBeDefined();
    expect(await helmRevision(f, 'web', 'fresh-ns')).toBe(1);
    const dep = f.kube.get('Deployment', 'fresh-ns', 'web');
    expect(dep?.metadata.annotations?.['meta.helm.sh/release-name']).toBe('web');
    expect(f.kube.get('ConfigMap', 'fresh-ns', 'web-config')?.data).toEqual({ MESSAGE: 'hello' });
    const status = await f.driver.observe(deployment);
    expect(status).toMatchObject({ phase: 'healthy', resources: [{ kind: 'Deployment', name: 'web', phase: 'healthy' }] });
    expect(await f.driver.listManaged()).toEqual(['dep-web']);
  });

  it('upgrades when values or the chart version change: new helm revision, objects updated', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    const upgraded = desired({ revisionId: 'rev-2', values: { message: 'changed', replicas: 2 }, chart: { type: 'repository', url: suite.repo.url, name: 'web', version: '1.1.0', digest: null } });
    await f.driver.apply(upgraded, ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ MESSAGE: 'changed' });
    expect(f.kube.get('Deployment', 'apps', 'web')?.spec?.replicas).toBe(2);
    const status = await observeUntil(f.driver, upgraded, (s) => s.phase === 'healthy');
    expect(status.resources[0]?.message).toBe('2/2 ready');
    // Re-applying the same revision is an idempotent helm upgrade, not drift.
    await f.driver.apply(upgraded, ctx());
    expect((await f.driver.observe(upgraded)).phase).toBe('healthy');
  });

  it('reports a Deployment that never becomes ready as an error naming it', async () => {
    const f = await setup();
    // The progress deadline passes when the test says so: the CrashLoopBackOff phase has no
    // wall-clock window a slow helm under load could miss.
    f.kube.setReadiness({ neverReady: ['broken'], progressDeadlineMs: Infinity });
    const deployment = desired({ deploymentId: 'dep-broken', releaseName: 'broken' });
    await f.driver.apply(deployment, ctx());
    const crashing = await observeUntil(f.driver, deployment, (s) => s.phase === 'error');
    expect(crashing.message).toMatch(/^Deployment broken: pod broken-\S+ container web CrashLoopBackOff/);
    f.kube.expireProgressDeadlines();
    const stuck = await observeUntil(f.driver, deployment, (s) => s.message.includes('ProgressDeadlineExceeded'));
    expect(stuck).toMatchObject({ phase: 'error', resources: [{ kind: 'Deployment', name: 'broken', phase: 'error' }] });
    expect(stuck.message).toMatch(/^Deployment broken: ProgressDeadlineExceeded/);
  });

  it('throws helm\'s error once when an atomic upgrade rolls back, and records the rollback revision', async () => {
    const f = await setup();
    f.kube.setReadiness({ neverReady: (w) => JSON.stringify(w.object.spec).includes('broken-image') });
    await f.driver.apply(desired(), ctx());
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    const bad = desired({ revisionId: 'rev-2', values: { image: 'example.test/broken-image:2' }, options: { timeoutSeconds: 3, atomic: true, wait: true, ignoreDrift: false } });
    const failure = f.driver.apply(bad, ctx());
    await expect(failure).rejects.toThrow(/helm upgrade --install web \(namespace apps\) failed: .*has been rolled back due to atomic being set/s);
    await expect(failure).rejects.toBeInstanceOf(PermanentApplyError); // the core must not retry it
    expect(await helmRevision(f, 'web')).toBe(3);
    // The rollback was ours: no drift, and the old image runs again.
    const status = await observeUntil(f.driver, bad, (s) => s.phase === 'healthy');
    expect(status.message).toContain('revision 3');
    expect(JSON.stringify(f.kube.get('Deployment', 'apps', 'web')?.spec)).not.toContain('broken-image');
  });

  it('stops helm when the apply is aborted, and the next apply adopts what helm left', async () => {
    const f = await setup();
    f.kube.setReadiness({ neverReady: ['web'] });
    const abort = new AbortController();
    const waiting = desired({ options: { timeoutSeconds: 30, atomic: false, wait: true, ignoreDrift: false } });
    const applying = f.driver.apply(waiting, { signal: abort.signal });
    // Abort while helm waits: once its objects exist (the Deployment is the last it creates; helm
    // recorded the release before creating any), seen as a store event, not after a fixed delay.
    await f.kube.until(() => f.kube.get('Deployment', 'apps', 'web'), 'helm to create Deployment web');
    abort.abort(new Error('superseded'));
    // The abort's own reason (not helm's 30 s wait timing out) proves helm was stopped.
    await expect(applying).rejects.toThrow('superseded');
    // helm marks the interrupted install failed; the release is still ours, so this upgrades it.
    f.kube.setReadiness({ neverReady: [] });
    await f.driver.apply(desired({ revisionId: 'rev-2', values: { image: 'example.test/web:2' } }), ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect((await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy')).phase).toBe('healthy');
  });

  it('refuses to upgrade a release changed by hand (drift) unless drift is ignored', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    await f.helm(['upgrade', 'web', 'web', '--repo', suite.repo.url, '--version', '1.0.0', '-n', 'apps', '--reuse-values', '--set', 'message=by-hand', '--disable-openapi-validation']);
    const next = desired({ revisionId: 'rev-2', values: { message: 'from-distr' } });
    const refused = f.driver.apply(next, ctx());
    await expect(refused).rejects.toThrow('release web was changed outside distr (helm revision 2, expected 1)');
    await expect(refused).rejects.toBeInstanceOf(PermanentApplyError);
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ MESSAGE: 'by-hand' });
    expect(await f.driver.observe(next)).toMatchObject({ phase: 'error', message: 'release web was changed outside distr (helm revision 2, expected 1)' });
    const ignoring = desired({ revisionId: 'rev-2', values: { message: 'from-distr' }, options: { timeoutSeconds: 20, atomic: false, wait: false, ignoreDrift: true } });
    await f.driver.apply(ignoring, ctx());
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ MESSAGE: 'from-distr' });
    expect((await observeUntil(f.driver, next, (s) => s.phase === 'healthy')).message).toContain('revision 3');
  });

  it('restarts workloads by setting the restartedAt annotation on the pod template', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    const podsBefore = f.kube.list('Pod', 'apps').map((p) => p.metadata.name);
    const beforeRestart = Date.now();
    await f.driver.restart(desired(), ctx());
    const annotation = () => (f.kube.get('Deployment', 'apps', 'web')?.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
    const first = annotation();
    // Ordering, not a duration: the annotation is the time of this restart.
    expect(Date.parse(first!)).toBeGreaterThanOrEqual(beforeRestart);
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    expect(f.kube.list('Pod', 'apps').map((p) => p.metadata.name)).not.toEqual(podsBefore);
    // The annotation is a millisecond timestamp: the second restart must happen in a later millisecond.
    while (Date.now() <= Date.parse(first!)) await new Promise((r) => setImmediate(r));
    await f.driver.restart(desired(), ctx());
    expect(annotation()).not.toBe(first);
    // A restart is not a helm change: still revision 1, no drift.
    expect(await helmRevision(f, 'web')).toBe(1);
    expect((await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy')).phase).toBe('healthy');
  });

  it('waits for and observes StatefulSets, DaemonSets and Jobs; removing with volumes deletes the claims', async () => {
    const f = await setup();
    f.kube.setReadiness({ neverReady: ['web-migrate'] });
    const deployment = desired({ values: { extraWorkloads: true } });
    await f.driver.apply(deployment, ctx());
    const failing = await observeUntil(f.driver, deployment, (s) => s.phase === 'error');
    expect(failing.message).toMatch(/Job web-migrate: (pod web-migrate-\S+ container migrate CrashLoopBackOff|BackoffLimitExceeded)/);
    f.kube.setReadiness({ neverReady: [] });
    const fixed = desired({ revisionId: 'rev-2', values: { extraWorkloads: true, image: 'example.test/web:2' }, options: { timeoutSeconds: 20, atomic: false, wait: true, ignoreDrift: false } });
    await f.helm(['uninstall', 'web', '-n', 'apps']); // a Job's template is immutable: start over
    await f.driver.apply(fixed, ctx());
    const status = await f.driver.observe(fixed);
    expect(status.phase).toBe('healthy');
    expect(status.resources.map((r) => `${r.kind} ${r.name} ${r.phase}`).sort()).toEqual([
      'DaemonSet web-agent healthy', 'Deployment web healthy', 'Job web-migrate healthy', 'StatefulSet web-db healthy',
    ]);
    expect(f.kube.get('PersistentVolumeClaim', 'apps', 'data-web-db-0')).toBeDefined();
    await f.driver.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: true }, ctx());
    expect(f.kube.get('StatefulSet', 'apps', 'web-db')).toBeUndefined();
    expect(f.kube.get('PersistentVolumeClaim', 'apps', 'data-web-db-0')).toBeUndefined();
  });

  it('removes its release: uninstalled, objects gone, no longer listed', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    await f.driver.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: true }, ctx());
    await expect(f.helm(['status', 'web', '-n', 'apps'])).rejects.toThrow(/not found/);
    expect(f.kube.get('Deployment', 'apps', 'web')).toBeUndefined();
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')).toBeUndefined();
    expect(f.kube.list('Pod', 'apps')).toEqual([]);
    expect(await f.driver.listManaged()).toEqual([]);
    await f.driver.remove('dep-web', null, ctx()); // idempotent
  });

  it('in namespace scope refuses to install into another namespace', async () => {
    const f = await setup({ scope: 'namespace', namespace: 'apps' });
    await expect(f.driver.apply(desired({ namespace: 'other' }), ctx())).rejects.toThrow(
      'deployment dep-web targets namespace other, but this agent is limited to namespace apps',
    );
    expect(f.kube.list('Deployment', 'other')).toEqual([]);
    await expect(f.helm(['status', 'web', '-n', 'other'])).rejects.toThrow(/not found/);
    // And it does not create namespaces: a missing one is an error (writing the ownership record), not a new namespace.
    await expect(f.newDriver({ namespace: 'missing' }).apply(desired({ namespace: 'missing' }), ctx())).rejects.toThrow(/namespaces "missing" not found/);
    expect(f.kube.get('Namespace', null, 'missing')).toBeUndefined();
  });

  it('follows the logs of the release\'s pods until aborted', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    const lines = new ObservedList<LogLine>();
    const abort = new AbortController();
    const following = f.driver.followLogs(desired(), null, (batch) => lines.push(...batch), abort.signal);
    await lines.until(() => lines.items.some((l) => l.line === 'web is ready'), 'web is ready');
    const pod = f.kube.list('Pod', 'apps')[0]!.metadata.name;
    f.kube.appendPodLog('apps', pod, 'web', 'GET /healthz 200');
    await lines.until(() => lines.items.some((l) => l.line === 'GET /healthz 200'), 'GET /healthz 200');
    expect(lines.items.find((l) => l.line === 'GET /healthz 200')).toMatchObject({ deploymentId: 'dep-web', resource: `${pod}/web`, stream: 'stdout' });
    expect(lines.items[0]!.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    abort.abort();
    await following;
    // From a given time on, earlier lines are not repeated.
    const since = lines.items.at(-1)!.timestamp;
    const later = new ObservedList<LogLine>();
    const again = new AbortController();
    const second = f.driver.followLogs(desired(), since, (batch) => later.push(...batch), again.signal);
    f.kube.appendPodLog('apps', pod, 'web', 'after since');
    await later.until(() => later.items.some((l) => l.line === 'after since'), 'after since');
    again.abort();
    await second;
    expect(later.items.map((l) => l.line)).toEqual(['after since']);
  });

  it('installs an oci:// chart from a plain-http OCI registry', async () => {
    const f = await setup();
    const registry = await serveOciRegistry();
    onCleanup(() => registry.close());
    const chartUrl = await registry.addChart(path.join(suite.repo.dir, 'web-1.1.0.tgz'));
    const deployment = desired({ chart: { type: 'oci', url: chartUrl, name: null, version: '1.1.0', digest: null }, values: { message: 'from-oci' } });
    await f.newDriver({ plainHttp: true }).apply(deployment, ctx());
    const releases = JSON.parse(await f.helm(['list', '-n', 'apps', '-o', 'json'])) as { name: string; chart: string }[];
    expect(releases).toMatchObject([{ name: 'web', chart: 'web-1.1.0' }]);
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ MESSAGE: 'from-oci' });
    expect((await observeUntil(f.driver, deployment, (s) => s.phase === 'healthy')).phase).toBe('healthy');
    expect(registry.requests.some((r) => r.startsWith('GET /v2/charts/web/blobs/sha256:'))).toBe(true);
  });

});
