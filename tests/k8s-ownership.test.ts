/**
 * KubernetesDriver ownership of helm releases, against the REAL helm binary and the REAL
 * @kubernetes/client-node talking to the tests' real Kubernetes API server (the driver with the
 * agent chart's ServiceAccount and Role; "by hand" is the admin): releases someone else
 * installed, ownership records as ConfigMaps (a rescheduled agent with an empty state folder,
 * another target's agent), the record store itself, and importing an older agent's record files.
 * Setup shared with k8s-driver.test.ts in testkit/k8s-driver.ts.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ClusterOwnershipStore, OwnershipConflictError, ownershipObjectName } from '../agent/kubernetes/ownership.js';
import { ctx, eventually, helmRevision, observeUntil, useKubernetesDriverSuite } from './testkit/k8s-driver.js';


const suite = useKubernetesDriverSuite();
const { setup, tempDir } = suite;

describe('KubernetesDriver ownership of releases with real helm against a real Kubernetes API server', () => {
  it('never touches a release someone else installed', async () => {
    const f = await setup();
    await f.helm(['upgrade', '--install', 'foreign', 'web', '--repo', suite.repo.url, '--version', '1.0.0', '-n', f.namespace]);
    await f.driver.apply(f.desired(), ctx());
    const foreign = f.desired({ deploymentId: 'dep-foreign', releaseName: 'foreign' });
    await expect(f.driver.apply(foreign, ctx())).rejects.toThrow(`release foreign in namespace ${f.namespace} exists but was not installed by distr`);
    expect(await f.driver.listManaged()).toEqual(['dep-web']);
    expect((await f.driver.observe(foreign)).phase).toBe('error');
    await f.driver.remove('dep-foreign', { deploymentId: 'dep-foreign', removeVolumes: true }, ctx());
    expect(await helmRevision(f, 'foreign')).toBe(1);
    expect((await f.kube.get('Deployment', f.namespace, 'foreign'))).toBeDefined();
    await expect(f.driver.restart(foreign, ctx())).rejects.toThrow(/not installed by this agent/);
  });

  it('keeps ownership records as ConfigMaps in its namespace: a rescheduled agent (empty state folder) still owns its releases', async () => {
    const f = await setup();
    await f.helm(['upgrade', '--install', 'foreign', 'web', '--repo', suite.repo.url, '--version', '1.0.0', '-n', f.namespace]);
    await f.driver.apply(f.desired(), ctx());
    await observeUntil(f.driver, f.desired(), (s) => s.phase === 'healthy');
    const record = (await f.kube.get('ConfigMap', f.namespace, 'distr-owner-dep-web'));
    expect(record?.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'distr-agent', 'distr.io/target-id': 'target-a', 'distr.io/deployment-id': 'dep-web' });
    expect(record?.data).toMatchObject({ deploymentId: 'dep-web', releaseName: 'web', namespace: f.namespace, revision: '1', inFlight: 'false', revisionId: 'rev-1', targetId: 'target-a' });
    expect(await readdir(f.stateDir)).toEqual([]); // nothing load-bearing on local disk

    // The pod is rescheduled: a new driver, a new (empty) state folder, the same cluster.
    const rescheduled = f.newDriver({ stateDir: await tempDir('k8s-driver-rescheduled-') });
    expect(await rescheduled.listManaged()).toEqual(['dep-web']);
    expect((await rescheduled.observe(f.desired())).phase).toBe('healthy');
    const upgraded = f.desired({ revisionId: 'rev-2', values: { message: 'after-reschedule' } });
    await rescheduled.apply(upgraded, ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect((await f.kube.get('ConfigMap', f.namespace, 'web-config'))?.data).toEqual({ MESSAGE: 'after-reschedule' });
    expect((await f.kube.get('ConfigMap', f.namespace, 'distr-owner-dep-web'))?.data).toMatchObject({ revision: '2', inFlight: 'false', revisionId: 'rev-2' });
    // Still never touches a release someone else installed.
    const foreign = f.desired({ deploymentId: 'dep-foreign', releaseName: 'foreign' });
    await expect(rescheduled.apply(foreign, ctx())).rejects.toThrow(`release foreign in namespace ${f.namespace} exists but was not installed by distr`);
    await rescheduled.remove('dep-foreign', { deploymentId: 'dep-foreign', removeVolumes: true }, ctx());
    expect(await helmRevision(f, 'foreign')).toBe(1);
    // Drift is still measured against the recorded revision, by yet another new pod.
    await f.helm(['upgrade', 'web', 'web', '--repo', suite.repo.url, '--version', '1.0.0', '-n', f.namespace, '--reuse-values', '--set', 'message=by-hand']);
    const again = f.newDriver({ stateDir: await tempDir('k8s-driver-rescheduled-') });
    expect(await again.observe(upgraded)).toMatchObject({ phase: 'error', message: 'release web was changed outside distr (helm revision 3, expected 2)' });
    // And it removes its release, record included.
    await again.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: true }, ctx());
    await expect(f.helm(['status', 'web', '-n', f.namespace])).rejects.toThrow(/not found/);
    expect((await f.kube.get('ConfigMap', f.namespace, 'distr-owner-dep-web'))).toBeUndefined();
    expect(await again.listManaged()).toEqual([]);
    expect((await f.kube.get('Deployment', f.namespace, 'foreign'))).toBeDefined();
  });

  it('a rescheduled agent adopts what helm left when the previous pod died mid-apply', async () => {
    const f = await setup();
    const abort = new AbortController();
    const neverReady = f.desired({ values: { fault: 'never-ready' }, options: { timeoutSeconds: 60, atomic: false, wait: true, ignoreDrift: false } });
    const applying = f.driver.apply(neverReady, { signal: abort.signal });
    await eventually(() => f.kube.get('Deployment', f.namespace, 'web'), 'helm to create Deployment web');
    abort.abort(new Error('pod killed'));
    await expect(applying).rejects.toThrow('pod killed');
    expect((await f.kube.get('ConfigMap', f.namespace, 'distr-owner-dep-web'))?.data).toMatchObject({ inFlight: 'true', revision: '' });
    const rescheduled = f.newDriver({ stateDir: await tempDir('k8s-driver-rescheduled-') });
    await rescheduled.apply(f.desired({ revisionId: 'rev-2' }), ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect((await f.kube.get('ConfigMap', f.namespace, 'distr-owner-dep-web'))?.data).toMatchObject({ inFlight: 'false', revision: '2' });
  });

  it('lists only its own target\'s records, but refuses a release another distr agent owns', async () => {
    const f = await setup();
    await f.driver.apply(f.desired(), ctx());
    const otherTarget = f.newDriver({ targetId: 'target-b', stateDir: await tempDir('k8s-driver-other-') });
    expect(await otherTarget.listManaged()).toEqual([]);
    await expect(otherTarget.apply(f.desired({ deploymentId: 'dep-other' }), ctx())).rejects.toThrow(`release web in namespace ${f.namespace} belongs to deployment dep-web`);
    expect(await helmRevision(f, 'web')).toBe(1);
  });

  it('writes ownership records with optimistic concurrency (resourceVersion)', async () => {
    const f = await setup();
    const core = f.identity.kube.kubeConfig().makeApiClient(CoreV1Api);
    const a = new ClusterOwnershipStore({ core, namespace: f.namespace, targetId: 'target-a' });
    const b = new ClusterOwnershipStore({ core, namespace: f.namespace, targetId: 'target-a' });
    const record = { deploymentId: 'dep-x', releaseName: 'x', namespace: f.namespace, revision: null, inFlight: true, revisionId: 'rev-1', updatedAt: new Date().toISOString() };
    expect(await a.get('dep-x')).toBeNull();
    expect(await b.get('dep-x')).toBeNull();
    await a.put(record);
    // b believed there was no record: its create conflicts instead of overwriting a's.
    await expect(b.put({ ...record, releaseName: 'other' })).rejects.toBeInstanceOf(OwnershipConflictError);
    expect(await b.get('dep-x')).toEqual(record);
    await b.put({ ...record, revision: 1, inFlight: false });
    // a's resourceVersion is now stale: its replace conflicts; after reading again it succeeds.
    await expect(a.put({ ...record, revision: 7 })).rejects.toThrow(/was changed by someone else meanwhile/);
    expect(await a.get('dep-x')).toMatchObject({ revision: 1, inFlight: false });
    await a.put({ ...record, revision: 2, inFlight: false });
    expect(await b.findByRelease('x', f.namespace)).toMatchObject({ deploymentId: 'dep-x', revision: 2 });
    expect((await b.all()).map((r) => r.deploymentId)).toEqual(['dep-x']);
    // Ids that are no valid object name are hashed; the record still round-trips.
    const odd = { ...record, deploymentId: 'Dep_X' };
    await a.put(odd);
    expect(ownershipObjectName('Dep_X')).toMatch(/^distr-owner-h-[0-9a-f]{40}$/);
    expect(await b.get('Dep_X')).toEqual(odd);
    await a.delete('dep-x');
    await a.delete('dep-x'); // idempotent
    expect(await b.get('dep-x')).toBeNull();
    expect((await f.kube.list('ConfigMap', f.namespace, 'app.kubernetes.io/managed-by=distr-agent')).map((c) => c.metadata?.name)).toEqual([ownershipObjectName('Dep_X')]);
  });

  it('imports the record files an older agent kept in its state folder, once', async () => {
    const f = await setup();
    await f.driver.apply(f.desired(), ctx());
    // An older agent installed "legacy" and only wrote a file.
    await f.helm(['upgrade', '--install', 'legacy', 'web', '--repo', suite.repo.url, '--version', '1.0.0', '-n', f.namespace]);
    const oldDir = await tempDir('k8s-driver-old-state-');
    const legacy = { deploymentId: 'dep-legacy', releaseName: 'legacy', namespace: f.namespace, revision: 1, inFlight: false, revisionId: 'rev-1', updatedAt: new Date().toISOString() };
    await writeFile(path.join(oldDir, 'dep-legacy.json'), JSON.stringify(legacy));
    const upgraded = f.newDriver({ stateDir: oldDir });
    expect((await upgraded.listManaged()).sort()).toEqual(['dep-legacy', 'dep-web']);
    expect(await readdir(oldDir)).toEqual(['dep-legacy.json.imported']);
    expect((await f.kube.get('ConfigMap', f.namespace, 'distr-owner-dep-legacy'))?.data).toMatchObject({ releaseName: 'legacy', revision: '1' });
    await upgraded.apply(f.desired({ deploymentId: 'dep-legacy', releaseName: 'legacy' }), ctx());
    expect(await helmRevision(f, 'legacy')).toBe(2);
  });
});
