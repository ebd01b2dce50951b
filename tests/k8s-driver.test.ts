/**
 * KubernetesDriver against the REAL helm binary and the REAL @kubernetes/client-node, talking to
 * the stand-in Kubernetes API server (no real API server can run here). Helm keeps its releases
 * in a fresh PostgreSQL database per test (HELM_DRIVER=sql); charts come from a real Helm
 * repository served over HTTP.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ObservedStatus } from '../agent/core/driver.js';
import { PermanentApplyError } from '../agent/core/driver.js';
import type { KubernetesDesiredDeployment, LogLine } from '../agent/core/protocol.js';
import { KubernetesDriver } from '../agent/kubernetes/driver.js';
import { ClusterOwnershipStore, OwnershipConflictError, ownershipObjectName } from '../agent/kubernetes/ownership.js';
import type { ChartRepo } from './k8s-standin/chart-repo.js';
import { serveChartRepo } from './k8s-standin/chart-repo.js';
import type { HelmTestEnv } from './k8s-standin/helm-env.js';
import { createHelmTestEnv } from './k8s-standin/helm-env.js';
import type { KubeStandIn } from './k8s-standin/kube-standin.js';
import { startKubeStandIn } from './k8s-standin/kube-standin.js';
import { serveOciRegistry } from './k8s-standin/oci-registry.js';
import { writeTestChart } from './k8s-standin/test-chart.js';
import type { TestPostgres } from './testkit/postgres.js';
import { startTestPostgres } from './testkit/postgres.js';

let postgres: TestPostgres;
let repo: ChartRepo;
let chartsDir: string;

beforeAll(async () => {
  postgres = await startTestPostgres();
  chartsDir = await mkdtemp(path.join(os.tmpdir(), 'k8s-driver-charts-'));
  repo = await serveChartRepo([await writeTestChart(chartsDir, { version: '1.0.0' }), await writeTestChart(chartsDir, { version: '1.1.0' })]);
});

afterAll(async () => {
  await repo?.close();
  await postgres?.stop();
  await rm(chartsDir, { recursive: true, force: true });
});

interface Fixture {
  kube: KubeStandIn;
  helmEnv: HelmTestEnv;
  driver: KubernetesDriver;
  stateDir: string;
  helm(args: string[]): Promise<string>;
  newDriver(options?: DriverOptions): KubernetesDriver;
  kubeConfig(): KubeConfig;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A new temporary folder, removed after the test. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface DriverOptions {
  scope?: 'namespace' | 'cluster';
  namespace?: string;
  plainHttp?: boolean;
  /** Default: the fixture's state folder. */
  stateDir?: string;
  /** Default: target-a. */
  targetId?: string;
}

async function setup(options: { scope?: 'namespace' | 'cluster'; namespace?: string } = {}): Promise<Fixture> {
  const kube = await startKubeStandIn({ namespaces: ['default', 'apps', 'other'], readiness: { readyAfterMs: 150, progressDeadlineMs: 800 } });
  const helmEnv = await createHelmTestEnv({ kubeconfigPath: kube.kubeconfigPath, databaseUrl: await postgres.freshDatabase('helm') });
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'k8s-driver-state-'));
  cleanups.push(async () => {
    await kube.close();
    await helmEnv.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  const kubeConfig = () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    return kc;
  };
  const newDriver = (o: DriverOptions = {}) => {
    return new KubernetesDriver({
      kubeConfig: kubeConfig(),
      stateDir: o.stateDir ?? stateDir,
      targetId: o.targetId ?? 'target-a',
      scope: o.scope ?? options.scope ?? 'namespace',
      namespace: o.namespace ?? options.namespace ?? 'apps',
      helmBinary: helmEnv.helmBin,
      helmEnv: helmEnv.env,
      disableOpenApiValidation: true,
      plainHttp: o.plainHttp ?? false,
      logs: { flushIntervalMs: 50, relistIntervalMs: 200 },
    });
  };
  const helm = async (args: string[]) => (await execa(helmEnv.helmBin, args, { env: { ...process.env, ...helmEnv.env } })).stdout;
  return { kube, helmEnv, stateDir, helm, newDriver, kubeConfig, driver: newDriver() };
}

function desired(overrides: Partial<KubernetesDesiredDeployment> & { values?: Record<string, unknown> } = {}): KubernetesDesiredDeployment {
  return {
    type: 'kubernetes',
    deploymentId: 'dep-web',
    revisionId: 'rev-1',
    applicationName: 'web',
    versionName: '1.0.0',
    restartMarker: null,
    logsEnabled: true,
    releaseName: 'web',
    namespace: 'apps',
    chart: { type: 'repository', url: repo.url, name: 'web', version: '1.0.0' },
    values: { message: 'hello' },
    options: { timeoutSeconds: 20, atomic: false, wait: false, ignoreDrift: false },
    ...overrides,
  };
}

const ctx = () => ({ signal: new AbortController().signal });

async function observeUntil(driver: KubernetesDriver, deployment: KubernetesDesiredDeployment, done: (s: ObservedStatus) => boolean, timeoutMs = 8_000): Promise<ObservedStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ObservedStatus | null = null;
  while (Date.now() < deadline) {
    last = await driver.observe(deployment);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`observe never reached the expected state; last: ${JSON.stringify(last)}`);
}

async function helmRevision(f: Fixture, release: string, namespace = 'apps'): Promise<number> {
  return (JSON.parse(await f.helm(['status', release, '-n', namespace, '-o', 'json'])) as { version: number }).version;
}

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
    const upgraded = desired({ revisionId: 'rev-2', values: { message: 'changed', replicas: 2 }, chart: { type: 'repository', url: repo.url, name: 'web', version: '1.1.0' } });
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
    // A longer progress deadline: the CrashLoopBackOff window must outlast a slow helm under load.
    f.kube.setReadiness({ neverReady: ['broken'], progressDeadlineMs: 3_000 });
    const deployment = desired({ deploymentId: 'dep-broken', releaseName: 'broken' });
    await f.driver.apply(deployment, ctx());
    const crashing = await observeUntil(f.driver, deployment, (s) => s.phase === 'error');
    expect(crashing.message).toMatch(/^Deployment broken: pod broken-\S+ container web CrashLoopBackOff/);
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
    // Abort while helm waits: once its objects exist (not after a fixed delay, which a slow helm under load may not reach).
    for (let i = 0; i < 200 && !f.kube.get('Deployment', 'apps', 'web'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(f.kube.get('Deployment', 'apps', 'web')).toBeDefined();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    abort.abort(new Error('superseded'));
    await expect(applying).rejects.toThrow('superseded');
    expect(Date.now() - started).toBeLessThan(5_000);
    // helm marks the interrupted install failed; the release is still ours, so this upgrades it.
    f.kube.setReadiness({ neverReady: [] });
    await f.driver.apply(desired({ revisionId: 'rev-2', values: { image: 'example.test/web:2' } }), ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect((await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy')).phase).toBe('healthy');
  });

  it('refuses to upgrade a release changed by hand (drift) unless drift is ignored', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    await f.helm(['upgrade', 'web', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', 'apps', '--reuse-values', '--set', 'message=by-hand', '--disable-openapi-validation']);
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
    await f.driver.restart(desired(), ctx());
    const annotation = () => (f.kube.get('Deployment', 'apps', 'web')?.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
    const first = annotation();
    expect(Date.parse(first!)).toBeGreaterThan(Date.now() - 10_000);
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    expect(f.kube.list('Pod', 'apps').map((p) => p.metadata.name)).not.toEqual(podsBefore);
    await new Promise((r) => setTimeout(r, 5));
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

  it('never touches a release someone else installed', async () => {
    const f = await setup();
    await f.helm(['upgrade', '--install', 'foreign', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', 'apps', '--disable-openapi-validation']);
    await f.driver.apply(desired(), ctx());
    const foreign = desired({ deploymentId: 'dep-foreign', releaseName: 'foreign' });
    await expect(f.driver.apply(foreign, ctx())).rejects.toThrow('release foreign in namespace apps exists but was not installed by distr');
    expect(await f.driver.listManaged()).toEqual(['dep-web']);
    expect((await f.driver.observe(foreign)).phase).toBe('error');
    await f.driver.remove('dep-foreign', { deploymentId: 'dep-foreign', removeVolumes: true }, ctx());
    expect(await helmRevision(f, 'foreign')).toBe(1);
    expect(f.kube.get('Deployment', 'apps', 'foreign')).toBeDefined();
    await expect(f.driver.restart(foreign, ctx())).rejects.toThrow(/not installed by this agent/);
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
    const lines: LogLine[] = [];
    const abort = new AbortController();
    const following = f.driver.followLogs(desired(), null, (batch) => lines.push(...batch), abort.signal);
    const until = async (predicate: () => boolean) => {
      for (let i = 0; i < 100 && !predicate(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(predicate()).toBe(true);
    };
    await until(() => lines.some((l) => l.line === 'web is ready'));
    const pod = f.kube.list('Pod', 'apps')[0]!.metadata.name;
    f.kube.appendPodLog('apps', pod, 'web', 'GET /healthz 200');
    await until(() => lines.some((l) => l.line === 'GET /healthz 200'));
    expect(lines.find((l) => l.line === 'GET /healthz 200')).toMatchObject({ deploymentId: 'dep-web', resource: `${pod}/web`, stream: 'stdout' });
    expect(lines[0]!.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    abort.abort();
    await following;
    // From a given time on, earlier lines are not repeated.
    const since = lines.at(-1)!.timestamp;
    const later: LogLine[] = [];
    const again = new AbortController();
    const second = f.driver.followLogs(desired(), since, (batch) => later.push(...batch), again.signal);
    f.kube.appendPodLog('apps', pod, 'web', 'after since');
    for (let i = 0; i < 100 && !later.some((l) => l.line === 'after since'); i++) await new Promise((r) => setTimeout(r, 50));
    again.abort();
    await second;
    expect(later.map((l) => l.line)).toEqual(['after since']);
  });

  it('installs an oci:// chart from a plain-http OCI registry', async () => {
    const f = await setup();
    const registry = await serveOciRegistry();
    cleanups.push(() => registry.close());
    const chartUrl = await registry.addChart(path.join(repo.dir, 'web-1.1.0.tgz'));
    const deployment = desired({ chart: { type: 'oci', url: chartUrl, name: null, version: '1.1.0' }, values: { message: 'from-oci' } });
    await f.newDriver({ plainHttp: true }).apply(deployment, ctx());
    const releases = JSON.parse(await f.helm(['list', '-n', 'apps', '-o', 'json'])) as { name: string; chart: string }[];
    expect(releases).toMatchObject([{ name: 'web', chart: 'web-1.1.0' }]);
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ MESSAGE: 'from-oci' });
    expect((await observeUntil(f.driver, deployment, (s) => s.phase === 'healthy')).phase).toBe('healthy');
    expect(registry.requests.some((r) => r.startsWith('GET /v2/charts/web/blobs/sha256:'))).toBe(true);
  });

  it('keeps ownership records as ConfigMaps in its namespace: a rescheduled agent (empty state folder) still owns its releases', async () => {
    const f = await setup();
    await f.helm(['upgrade', '--install', 'foreign', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', 'apps', '--disable-openapi-validation']);
    await f.driver.apply(desired(), ctx());
    await observeUntil(f.driver, desired(), (s) => s.phase === 'healthy');
    const record = f.kube.get('ConfigMap', 'apps', 'distr-owner-dep-web');
    expect(record?.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'distr-agent', 'distr.io/target-id': 'target-a', 'distr.io/deployment-id': 'dep-web' });
    expect(record?.data).toMatchObject({ deploymentId: 'dep-web', releaseName: 'web', namespace: 'apps', revision: '1', inFlight: 'false', revisionId: 'rev-1', targetId: 'target-a' });
    expect(await readdir(f.stateDir)).toEqual([]); // nothing load-bearing on local disk

    // The pod is rescheduled: a new driver, a new (empty) state folder, the same cluster.
    const rescheduled = f.newDriver({ stateDir: await tempDir('k8s-driver-rescheduled-') });
    expect(await rescheduled.listManaged()).toEqual(['dep-web']);
    expect((await rescheduled.observe(desired())).phase).toBe('healthy');
    const upgraded = desired({ revisionId: 'rev-2', values: { message: 'after-reschedule' } });
    await rescheduled.apply(upgraded, ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect(f.kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ MESSAGE: 'after-reschedule' });
    expect(f.kube.get('ConfigMap', 'apps', 'distr-owner-dep-web')?.data).toMatchObject({ revision: '2', inFlight: 'false', revisionId: 'rev-2' });
    // Still never touches a release someone else installed.
    const foreign = desired({ deploymentId: 'dep-foreign', releaseName: 'foreign' });
    await expect(rescheduled.apply(foreign, ctx())).rejects.toThrow('release foreign in namespace apps exists but was not installed by distr');
    await rescheduled.remove('dep-foreign', { deploymentId: 'dep-foreign', removeVolumes: true }, ctx());
    expect(await helmRevision(f, 'foreign')).toBe(1);
    // Drift is still measured against the recorded revision, by yet another new pod.
    await f.helm(['upgrade', 'web', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', 'apps', '--reuse-values', '--set', 'message=by-hand', '--disable-openapi-validation']);
    const again = f.newDriver({ stateDir: await tempDir('k8s-driver-rescheduled-') });
    expect(await again.observe(upgraded)).toMatchObject({ phase: 'error', message: 'release web was changed outside distr (helm revision 3, expected 2)' });
    // And it removes its release, record included.
    await again.remove('dep-web', { deploymentId: 'dep-web', removeVolumes: true }, ctx());
    await expect(f.helm(['status', 'web', '-n', 'apps'])).rejects.toThrow(/not found/);
    expect(f.kube.get('ConfigMap', 'apps', 'distr-owner-dep-web')).toBeUndefined();
    expect(await again.listManaged()).toEqual([]);
    expect(f.kube.get('Deployment', 'apps', 'foreign')).toBeDefined();
  });

  it('a rescheduled agent adopts what helm left when the previous pod died mid-apply', async () => {
    const f = await setup();
    f.kube.setReadiness({ neverReady: ['web'] });
    const abort = new AbortController();
    const applying = f.driver.apply(desired({ options: { timeoutSeconds: 30, atomic: false, wait: true, ignoreDrift: false } }), { signal: abort.signal });
    for (let i = 0; i < 200 && !f.kube.get('Deployment', 'apps', 'web'); i++) await new Promise((r) => setTimeout(r, 50));
    abort.abort(new Error('pod killed'));
    await expect(applying).rejects.toThrow('pod killed');
    expect(f.kube.get('ConfigMap', 'apps', 'distr-owner-dep-web')?.data).toMatchObject({ inFlight: 'true', revision: '' });
    f.kube.setReadiness({ neverReady: [] });
    const rescheduled = f.newDriver({ stateDir: await tempDir('k8s-driver-rescheduled-') });
    await rescheduled.apply(desired({ revisionId: 'rev-2' }), ctx());
    expect(await helmRevision(f, 'web')).toBe(2);
    expect(f.kube.get('ConfigMap', 'apps', 'distr-owner-dep-web')?.data).toMatchObject({ inFlight: 'false', revision: '2' });
  });

  it('lists only its own target\'s records, but refuses a release another distr agent owns', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    const otherTarget = f.newDriver({ targetId: 'target-b', stateDir: await tempDir('k8s-driver-other-') });
    expect(await otherTarget.listManaged()).toEqual([]);
    await expect(otherTarget.apply(desired({ deploymentId: 'dep-other' }), ctx())).rejects.toThrow('release web in namespace apps belongs to deployment dep-web');
    expect(await helmRevision(f, 'web')).toBe(1);
  });

  it('writes ownership records with optimistic concurrency (resourceVersion)', async () => {
    const f = await setup();
    const core = f.kubeConfig().makeApiClient(CoreV1Api);
    const a = new ClusterOwnershipStore({ core, namespace: 'apps', targetId: 'target-a' });
    const b = new ClusterOwnershipStore({ core, namespace: 'apps', targetId: 'target-a' });
    const record = { deploymentId: 'dep-x', releaseName: 'x', namespace: 'apps', revision: null, inFlight: true, revisionId: 'rev-1', updatedAt: new Date().toISOString() };
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
    expect(await b.findByRelease('x', 'apps')).toMatchObject({ deploymentId: 'dep-x', revision: 2 });
    expect((await b.all()).map((r) => r.deploymentId)).toEqual(['dep-x']);
    // Ids that are no valid object name are hashed; the record still round-trips.
    const odd = { ...record, deploymentId: 'Dep_X' };
    await a.put(odd);
    expect(ownershipObjectName('Dep_X')).toMatch(/^distr-owner-h-[0-9a-f]{40}$/);
    expect(await b.get('Dep_X')).toEqual(odd);
    await a.delete('dep-x');
    await a.delete('dep-x'); // idempotent
    expect(await b.get('dep-x')).toBeNull();
    expect(f.kube.list('ConfigMap', 'apps', 'app.kubernetes.io/managed-by=distr-agent').map((c) => c.metadata.name)).toEqual([ownershipObjectName('Dep_X')]);
  });

  it('imports the record files an older agent kept in its state folder, once', async () => {
    const f = await setup();
    await f.driver.apply(desired(), ctx());
    // An older agent installed "legacy" and only wrote a file.
    await f.helm(['upgrade', '--install', 'legacy', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', 'apps', '--disable-openapi-validation']);
    const oldDir = await tempDir('k8s-driver-old-state-');
    const legacy = { deploymentId: 'dep-legacy', releaseName: 'legacy', namespace: 'apps', revision: 1, inFlight: false, revisionId: 'rev-1', updatedAt: new Date().toISOString() };
    await writeFile(path.join(oldDir, 'dep-legacy.json'), JSON.stringify(legacy));
    const upgraded = f.newDriver({ stateDir: oldDir });
    expect((await upgraded.listManaged()).sort()).toEqual(['dep-legacy', 'dep-web']);
    expect(await readdir(oldDir)).toEqual(['dep-legacy.json.imported']);
    expect(f.kube.get('ConfigMap', 'apps', 'distr-owner-dep-legacy')?.data).toMatchObject({ releaseName: 'legacy', revision: '1' });
    await upgraded.apply(desired({ deploymentId: 'dep-legacy', releaseName: 'legacy' }), ctx());
    expect(await helmRevision(f, 'legacy')).toBe(2);
  });
});
