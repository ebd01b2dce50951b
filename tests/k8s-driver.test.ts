/**
 * KubernetesDriver against the REAL helm binary and the REAL @kubernetes/client-node, talking to
 * the tests' real Kubernetes control plane (kube-apiserver, controller manager, scheduler, etcd;
 * kwok simulates the node's pods): apply, upgrade, status from real controllers, restart, remove
 * (with and without volumes), namespace scope enforced by RBAC, logs and OCI charts. The driver
 * runs with the agent chart's own ServiceAccount and Role (setup in testkit/k8s-driver.ts).
 * Ownership records: k8s-ownership.test.ts; vendor charts (CRD, HPA, PDB, podinfo): k8s-charts.test.ts.
 */
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PermanentApplyError } from '../agent/core/driver.js';
import type { LogLine } from '../protocol/index.js';
import { ObservedList } from './testkit/changes.js';
import { podLogs, staticVolumeFor } from './testkit/kube-cluster.js';
import { ctx, eventually, helmRevision, observeUntil, useKubernetesDriverSuite } from './testkit/k8s-driver.js';
import { startTestRegistry } from './testkit/registry.js';


const suite = useKubernetesDriverSuite();
const { setup, onCleanup } = suite;
const waiting = (timeoutSeconds = 60, atomic = false) => ({ timeoutSeconds, atomic, wait: true, ignoreDrift: false });

describe('KubernetesDriver with real helm against a real Kubernetes API server', () => {
  it('installs a release (cluster scope creates the namespace), waits, and observes it healthy from real Deployment conditions', async () => {
    const f = await setup({ scope: 'cluster' });
    const fresh = `${f.namespace}-fresh`;
    onCleanup(() => f.kube.delete('Namespace', null, fresh));
    const deployment = f.desired({ namespace: fresh, options: waiting() });
    await f.driver.apply(deployment, ctx());
    expect(await f.kube.get('Namespace', null, fresh)).toBeDefined();
    expect(await helmRevision(f, 'web', fresh)).toBe(1);
    const dep = await f.kube.get('Deployment', fresh, 'web');
    expect(dep?.metadata?.annotations?.['meta.helm.sh/release-name']).toBe('web');
    // What the deployment controller wrote: available, rollout complete.
    expect(dep?.status?.conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }),
        expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }),
      ]),
    );
    expect((await f.kube.get('ConfigMap', fresh, 'web-config'))?.data).toEqual({ MESSAGE: 'hello' });
    // helm's default storage: a release Secret in the release's namespace.
    expect((await f.kube.list('Secret', fresh, 'owner=helm,name=web')).map((s) => s.metadata?.name)).toEqual(['sh.helm.release.v1.web.v1']);
    const status = await f.driver.observe(deployment);
    expect(status).toMatchObject({ phase: 'healthy', resources: [{ kind: 'Deployment', name: 'web', phase: 'healthy', message: '1/1 ready' }] });
    expect(await f.driver.listManaged()).toEqual(['dep-web']);
  });

  it('upgrades when values or the chart version change: new helm revision, objects updated', async () => {
    const f = await setup();
    await f.driver.apply(f.desired(), ctx());
    await observeUntil(f.driver, f.desired(), (s) => s.phase === 'healthy');
    const upgraded = f.desired({ revisionId: 'rev-2', values: { message: 'changed', replicas: 2 }, chart: { type: 'repository', url: suite.repo.url, name: 'web', version: '1.1.0', digest: null } });
    await f.driver.apply(upgraded, ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect((await f.kube.get('ConfigMap', f.namespace, 'web-config'))?.data).toEqual({ MESSAGE: 'changed' });
    expect((await f.kube.get('Deployment', f.namespace, 'web'))?.spec?.replicas).toBe(2);
    const status = await observeUntil(f.driver, upgraded, (s) => s.phase === 'healthy' && s.resources[0]?.message === '2/2 ready');
    expect(status.message).toBe('release web revision 2 deployed, 1 workload(s) ready');
    // Re-applying the same revision is an idempotent helm upgrade, not drift.
    await f.driver.apply(upgraded, ctx());
    expect((await f.driver.observe(upgraded)).phase).toBe('healthy');
  });

  it('reports crash-looping pods as an error naming the Deployment, pod and container', async () => {
    const f = await setup();
    const deployment = f.desired({ deploymentId: 'dep-crash', releaseName: 'crash', values: { fault: 'crash-loop' } });
    await f.driver.apply(deployment, ctx());
    const crashing = await observeUntil(f.driver, deployment, (s) => s.phase === 'error');
    expect(crashing.message).toMatch(/^Deployment crash: pod crash-\S+ container web CrashLoopBackOff: back-off/);
    expect(crashing.resources).toMatchObject([{ kind: 'Deployment', name: 'crash', phase: 'error' }]);
  });

  it('reports a Deployment that never becomes ready (pods unschedulable, or never Ready) as ProgressDeadlineExceeded', async () => {
    const f = await setup();
    for (const [release, values] of [['unplaced', { unschedulable: true }], ['unready', { fault: 'never-ready' }]] as const) {
      const deployment = f.desired({ deploymentId: `dep-${release}`, releaseName: release, values: { ...values, progressDeadlineSeconds: 2 } });
      await f.driver.apply(deployment, ctx());
      const stuck = await observeUntil(f.driver, deployment, (s) => s.phase === 'error');
      // The deployment controller's own condition, once the deadline has passed.
      expect(stuck.message).toMatch(new RegExp(`^Deployment ${release}: ProgressDeadlineExceeded: ReplicaSet "${release}-\\S+" has timed out progressing`));
      expect(stuck.resources).toMatchObject([{ kind: 'Deployment', name: release, phase: 'error' }]);
    }
    const pods = await f.kube.list('Pod', f.namespace, 'app.kubernetes.io/instance=unplaced');
    expect(pods[0]?.status?.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' })]));
  });

  it('throws helm\'s error once when an atomic upgrade rolls back, and records the rollback revision', async () => {
    const f = await setup();
    await f.driver.apply(f.desired(), ctx());
    await observeUntil(f.driver, f.desired(), (s) => s.phase === 'healthy');
    const bad = f.desired({ revisionId: 'rev-2', values: { image: 'example.test/broken-image:2', fault: 'never-ready' }, options: waiting(3, true) });
    const failure = f.driver.apply(bad, ctx());
    await expect(failure).rejects.toThrow(new RegExp(`helm upgrade --install web \\(namespace ${f.namespace}\\) failed: .*has been rolled back due to atomic being set`, 's'));
    await expect(failure).rejects.toBeInstanceOf(PermanentApplyError); // the core must not retry it
    expect(await helmRevision(f, 'web')).toBe(3);
    // The rollback was ours: no drift, and the old image runs again.
    const status = await observeUntil(f.driver, bad, (s) => s.phase === 'healthy');
    expect(status.message).toContain('revision 3');
    expect(JSON.stringify((await f.kube.get('Deployment', f.namespace, 'web'))?.spec)).not.toContain('broken-image');
  });

  it('stops helm when the apply is aborted, and the next apply adopts what helm left', async () => {
    const f = await setup();
    const abort = new AbortController();
    const applying = f.driver.apply(f.desired({ values: { fault: 'never-ready' }, options: waiting(60) }), { signal: abort.signal });
    // Abort while helm waits: once its objects exist (not after a fixed delay).
    await eventually(() => f.kube.get('Deployment', f.namespace, 'web'), 'helm to create Deployment web');
    abort.abort(new Error('superseded'));
    // The abort's own reason (not helm's 60 s wait timing out) proves helm was stopped.
    await expect(applying).rejects.toThrow('superseded');
    // helm marks the interrupted install failed (or leaves it pending); the release is still ours, so this upgrades it.
    await f.driver.apply(f.desired({ revisionId: 'rev-2', values: { image: 'example.test/web:2' } }), ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect((await observeUntil(f.driver, f.desired(), (s) => s.phase === 'healthy')).phase).toBe('healthy');
  });

  it('refuses to upgrade a release changed by hand (drift) unless drift is ignored', async () => {
    const f = await setup();
    await f.driver.apply(f.desired(), ctx());
    await f.helm(['upgrade', 'web', 'web', '--repo', suite.repo.url, '--version', '1.0.0', '-n', f.namespace, '--reuse-values', '--set', 'message=by-hand']);
    const next = f.desired({ revisionId: 'rev-2', values: { message: 'from-distr' } });
    const refused = f.driver.apply(next, ctx());
    await expect(refused).rejects.toThrow('release web was changed outside distr (helm revision 2, expected 1)');
    await expect(refused).rejects.toBeInstanceOf(PermanentApplyError);
    expect((await f.kube.get('ConfigMap', f.namespace, 'web-config'))?.data).toEqual({ MESSAGE: 'by-hand' });
    expect(await f.driver.observe(next)).toMatchObject({ phase: 'error', message: 'release web was changed outside distr (helm revision 2, expected 1)' });
    const ignoring = f.desired({ revisionId: 'rev-2', values: { message: 'from-distr' }, options: { timeoutSeconds: 60, atomic: false, wait: false, ignoreDrift: true } });
    await f.driver.apply(ignoring, ctx());
    expect((await f.kube.get('ConfigMap', f.namespace, 'web-config'))?.data).toEqual({ MESSAGE: 'from-distr' });
    expect(await helmRevision(f, 'web')).toBe(3);
  });

  it('restarts workloads like kubectl rollout restart: new pods, no new helm revision', async () => {
    const f = await setup();
    await f.driver.apply(f.desired({ options: waiting() }), ctx());
    const podNames = async () => (await f.kube.list('Pod', f.namespace, 'app.kubernetes.io/instance=web')).map((p) => p.metadata!.name!).sort();
    const before = await podNames();
    expect(before).toHaveLength(1);
    const beforeRestart = Date.now();
    await f.driver.restart(f.desired(), ctx());
    const annotation = async () => (await f.kube.get('Deployment', f.namespace, 'web'))?.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
    const first = await annotation();
    // Ordering, not a duration: the annotation is the time of this restart.
    expect(Date.parse(first)).toBeGreaterThanOrEqual(beforeRestart);
    // The deployment controller rolls out a new ReplicaSet; the old pod goes away.
    const after = await eventually(async () => {
      const names = await podNames();
      return names.length === 1 && !names.includes(before[0]!) ? names : null;
    }, 'a new pod replacing the old one');
    expect(after).not.toEqual(before);
    await observeUntil(f.driver, f.desired(), (s) => s.phase === 'healthy');
    // The annotation is a millisecond timestamp: the second restart must happen in a later millisecond.
    while (Date.now() <= Date.parse(first)) await new Promise((r) => setImmediate(r));
    await f.driver.restart(f.desired(), ctx());
    expect(await annotation()).not.toBe(first);
    // A restart is not a helm change: still revision 1, no drift.
    expect(await helmRevision(f, 'web')).toBe(1);
    expect((await observeUntil(f.driver, f.desired(), (s) => s.phase === 'healthy')).phase).toBe('healthy');
  });

  it('observes a Job that fails its backoff limit as an error naming it', async () => {
    const f = await setup();
    const deployment = f.desired({ values: { extraWorkloads: true, jobFault: 'fail', jobBackoffLimit: 0 } });
    await f.driver.apply(deployment, ctx());
    const failing = await observeUntil(f.driver, deployment, (s) => s.resources.some((r) => r.kind === 'Job' && r.phase === 'error'));
    expect(failing.phase).toBe('error');
    expect(failing.message).toMatch(/Job web-migrate: BackoffLimitExceeded: Job has reached the specified backoff limit/);
  });

  it('waits for StatefulSets (with a bound volume), DaemonSets and Jobs; removing keeps the claims unless removeVolumes', async () => {
    const f = await setup();
    // No storage provisioner: the claim is bound to a static PersistentVolume, as an admin would.
    for (const release of ['web', 'keep']) {
      const volume = await staticVolumeFor(f.kube, f.namespace, `data-${release}-db-0`);
      onCleanup(volume.remove);
    }
    for (const release of ['web', 'keep']) {
      const deployment = f.desired({ deploymentId: `dep-${release}`, releaseName: release, values: { extraWorkloads: true }, options: waiting() });
      await f.driver.apply(deployment, ctx());
      const status = await observeUntil(f.driver, deployment, (s) => s.phase === 'healthy');
      expect(status.resources.map((r) => `${r.kind} ${r.name} ${r.phase}`).sort()).toEqual([
        `DaemonSet ${release}-agent healthy`, `Deployment ${release} healthy`, `Job ${release}-migrate healthy`, `StatefulSet ${release}-db healthy`,
      ]);
      expect((await f.kube.get('PersistentVolumeClaim', f.namespace, `data-${release}-db-0`))?.status?.phase).toBe('Bound');
    }
    await f.driver.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: true }, ctx());
    await f.driver.remove('dep-keep', { deploymentId: 'dep-keep', removeVolumes: false }, ctx());
    expect(await f.kube.get('StatefulSet', f.namespace, 'web-db')).toBeUndefined();
    // The claim's protection finalizer holds it until its pod is gone (garbage collection in the background).
    await eventually(async () => !(await f.kube.get('PersistentVolumeClaim', f.namespace, 'data-web-db-0')), 'claim data-web-db-0 deleted');
    await eventually(async () => (await f.kube.list('Pod', f.namespace)).length === 0, 'every pod of both releases gone');
    expect((await f.kube.get('PersistentVolumeClaim', f.namespace, 'data-keep-db-0'))?.metadata?.deletionTimestamp).toBeUndefined();
  });

  it('removes its release: uninstalled, objects gone (pods by garbage collection), no longer listed', async () => {
    const f = await setup();
    await f.driver.apply(f.desired({ options: waiting() }), ctx());
    await f.driver.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: true }, ctx());
    await expect(f.helm(['status', 'web', '-n', f.namespace])).rejects.toThrow(/not found/);
    expect(await f.kube.get('Deployment', f.namespace, 'web')).toBeUndefined();
    expect(await f.kube.get('ConfigMap', f.namespace, 'web-config')).toBeUndefined();
    expect(await f.kube.get('Service', f.namespace, 'web')).toBeUndefined();
    await eventually(async () => (await f.kube.list('ReplicaSet', f.namespace)).length === 0 && (await f.kube.list('Pod', f.namespace)).length === 0, 'ReplicaSets and pods collected');
    expect(await f.kube.list('Secret', f.namespace, 'owner=helm')).toEqual([]);
    expect(await f.driver.listManaged()).toEqual([]);
    await f.driver.remove('dep-web', null, ctx()); // idempotent
  });

  it('in namespace scope refuses another namespace itself, and Kubernetes (RBAC) refuses the agent\'s identity there and cluster-wide', async () => {
    const f = await setup({ scope: 'namespace' });
    const other = await f.namespaceFor('other');
    await expect(f.driver.apply(f.desired({ namespace: other }), ctx())).rejects.toThrow(
      `deployment dep-web targets namespace ${other}, but this agent is limited to namespace ${f.namespace}`,
    );
    // Even a driver told it may go anywhere is stopped by the chart's Role: it has no rights outside its namespace.
    const unbound = f.newDriver({ scope: 'cluster' });
    const refused = unbound.apply(f.desired({ deploymentId: 'dep-other', namespace: other }), ctx());
    await expect(refused).rejects.toThrow(new RegExp(`system:serviceaccount:${f.namespace}:${f.identity.serviceAccount}" cannot (get|list|create) resource "(secrets|namespaces)"`));
    expect(await f.kube.list('Deployment', other)).toEqual([]);
    expect(await f.kube.list('Secret', other, 'owner=helm')).toEqual([]);
    await expect(f.identity.kube.create({ kind: 'Namespace', metadata: { name: `${f.namespace}-x` } })).rejects.toMatchObject({ code: 403 });
  });

  it('follows the logs of the release\'s pods (served by kwok) until aborted', async () => {
    const f = await setup();
    const logs = await podLogs(f.kube, f.namespace, ['web is ready']);
    onCleanup(logs.remove);
    await f.driver.apply(f.desired({ options: waiting() }), ctx());
    const lines = new ObservedList<LogLine>();
    const abort = new AbortController();
    const following = f.driver.followLogs(f.desired(), null, (batch) => lines.push(...batch), abort.signal);
    await lines.until(() => lines.items.some((l) => l.line === 'web is ready'), 'the first log line');
    await logs.append('GET /healthz 200');
    await lines.until(() => lines.items.some((l) => l.line === 'GET /healthz 200'), 'an appended log line');
    const pod = (await f.kube.list('Pod', f.namespace))[0]!.metadata!.name!;
    expect(lines.items.find((l) => l.line === 'GET /healthz 200')).toMatchObject({ deploymentId: 'dep-web', resource: `${pod}/web`, stream: 'stdout' });
    expect(lines.items[0]!.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    abort.abort();
    await following;
    // From a given time on, earlier lines are not repeated.
    const since = lines.items.at(-1)!.timestamp;
    const later = new ObservedList<LogLine>();
    const again = new AbortController();
    const second = f.driver.followLogs(f.desired(), since, (batch) => later.push(...batch), again.signal);
    await logs.append('after since');
    await later.until(() => later.items.some((l) => l.line === 'after since'), 'the line after since');
    again.abort();
    await second;
    expect(later.items.map((l) => l.line)).toEqual(['after since']);
  });

  it('installs an oci:// chart from the real plain-http OCI registry, with credentials in helm\'s registry config', async () => {
    const f = await setup();
    const registry = await startTestRegistry();
    onCleanup(() => registry.stop());
    const chartUrl = await registry.pushChart(path.join(suite.repo.dir, 'web-1.1.0.tgz'));
    // The agent has no registry credentials of its own: an operator logs its helm in.
    const user = registry.users[0]!;
    await execa(f.agentHelm.helmBin, ['registry', 'login', registry.host, '--username', user.username, '--password-stdin', '--insecure'], {
      env: { ...process.env, ...f.agentHelm.env },
      input: user.password,
    });
    const deployment = f.desired({ chart: { type: 'oci', url: chartUrl, name: null, version: '1.1.0', digest: null }, values: { message: 'from-oci' } });
    await f.newDriver({ plainHttp: true }).apply(deployment, ctx());
    const releases = JSON.parse(await f.helm(['list', '-n', f.namespace, '-o', 'json'])) as { name: string; chart: string }[];
    expect(releases).toMatchObject([{ name: 'web', chart: 'web-1.1.0' }]);
    expect((await f.kube.get('ConfigMap', f.namespace, 'web-config'))?.data).toEqual({ MESSAGE: 'from-oci' });
    expect((await observeUntil(f.driver, deployment, (s) => s.phase === 'healthy')).phase).toBe('healthy');
    expect(registry.output()).toContain('/v2/charts/web/blobs/sha256:');
  });
});
