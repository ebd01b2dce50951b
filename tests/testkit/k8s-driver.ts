/**
 * Shared setup of the KubernetesDriver tests (tests/k8s-driver.test.ts, tests/k8s-ownership.test.ts,
 * tests/k8s-charts.test.ts): the REAL helm binary and the REAL @kubernetes/client-node against the
 * tests' real Kubernetes control plane (testkit/kube-cluster.ts). The driver runs with the
 * identity the agent's chart gives it (its ServiceAccount's token, bound to the chart's Role or
 * ClusterRole), never as cluster admin; "someone by hand" is the admin. Every test gets its own
 * namespace; helm keeps releases in its default storage (Secrets). Charts come from a real Helm
 * repository served over HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { ObservedStatus } from '../../agent/core/driver.js';
import type { KubernetesDesiredDeployment } from '../../protocol/index.js';
import { KubernetesDriver } from '../../agent/kubernetes/driver.js';
import type { ChartRepo } from './chart-repo.js';
import { serveChartRepo } from './chart-repo.js';
import type { HelmTestEnv } from './helm.js';
import { createHelmTestEnv } from './helm.js';
import type { AgentIdentity, Kube } from './kube-cluster.js';
import { adminKube, agentIdentity, createNamespace } from './kube-cluster.js';
import { writeTestChart } from './test-chart.js';
import { WAIT_BOUND_MS } from './changes.js';

export interface Fixture {
  /** The admin's view of the cluster (for looking, and for changes "by hand"). */
  kube: Kube;
  /** The agent's own namespace (unique per test). */
  namespace: string;
  /** The agent's identity (ServiceAccount token bound to the chart's RBAC). */
  identity: AgentIdentity;
  driver: KubernetesDriver;
  /** The agent's helm environment (its kubeconfig and HELM_*_HOME). */
  agentHelm: HelmTestEnv;
  stateDir: string;
  /** helm as the admin, by hand. */
  helm(args: string[]): Promise<string>;
  newDriver(options?: DriverOptions): KubernetesDriver;
  /** A desired deployment of chart web 1.0.0 into the fixture's namespace, with overrides. */
  desired(overrides?: Partial<KubernetesDesiredDeployment> & { values?: Record<string, unknown> }): KubernetesDesiredDeployment;
  /** Another namespace, deleted after the test. */
  namespaceFor(prefix: string): Promise<string>;
}

export interface DriverOptions {
  scope?: 'namespace' | 'cluster';
  plainHttp?: boolean;
  /** Default: the fixture's state folder. */
  stateDir?: string;
  /** Default: target-a. */
  targetId?: string;
}

export interface KubernetesDriverSuite {
  /** The chart repository (charts web 1.0.0 and 1.1.0), once beforeAll has run. */
  readonly repo: ChartRepo;
  /** A new namespace, agent identity (scope `namespace` by default), helm environment and driver, all removed after the test. */
  setup(options?: { scope?: 'namespace' | 'cluster' }): Promise<Fixture>;
  /** A new temporary folder, removed after the test. */
  tempDir(prefix: string): Promise<string>;
  /** Run `cleanup` after the test (cleanups run in reverse order). */
  onCleanup(cleanup: () => Promise<void>): void;
}

/**
 * Register the suite's hooks in the calling test file: the chart repository for the file
 * (beforeAll/afterAll), and the per-test cleanups (afterEach).
 */
export function useKubernetesDriverSuite(): KubernetesDriverSuite {
  let repo: ChartRepo;
  let chartsDir: string;
  let admin: Kube;

  beforeAll(async () => {
    admin = await adminKube();
    chartsDir = await mkdtemp(path.join(os.tmpdir(), 'k8s-driver-charts-'));
    repo = await serveChartRepo([await writeTestChart(chartsDir, { version: '1.0.0' }), await writeTestChart(chartsDir, { version: '1.1.0' })]);
  });

  afterAll(async () => {
    await repo?.close();
    await rm(chartsDir, { recursive: true, force: true });
  });

  const cleanups: (() => Promise<void>)[] = [];
  const namespaces: string[] = [];
  afterEach(async ({ task }) => {
    // Before the cleanup deletes them: what the control plane made of the failed test's objects.
    if (task.result?.state === 'fail') for (const ns of namespaces) console.log(await admin.describeWorkloads(ns));
    namespaces.splice(0);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  async function namespaceFor(prefix: string): Promise<string> {
    const ns = await createNamespace(admin, prefix);
    cleanups.push(ns.remove);
    namespaces.push(ns.name);
    return ns.name;
  }

  async function setup(options: { scope?: 'namespace' | 'cluster' } = {}): Promise<Fixture> {
    const scope = options.scope ?? 'namespace';
    const namespace = await namespaceFor('apps');
    const identity = await agentIdentity(admin, { namespace, scope });
    cleanups.push(identity.remove);
    const agentHelm = await createHelmTestEnv({ kubeconfigPath: identity.kubeconfigPath });
    const adminHelm = await createHelmTestEnv({ kubeconfigPath: admin.kubeconfigPath });
    const stateDir = await tempDir('k8s-driver-state-');
    cleanups.push(async () => {
      await agentHelm.close();
      await adminHelm.close();
    });
    const newDriver = (o: DriverOptions = {}) =>
      new KubernetesDriver({
        kubeConfig: identity.kube.kubeConfig(),
        stateDir: o.stateDir ?? stateDir,
        targetId: o.targetId ?? 'target-a',
        scope: o.scope ?? scope,
        namespace,
        helmBinary: agentHelm.helmBin,
        helmEnv: agentHelm.env,
        plainHttp: o.plainHttp ?? false,
        logs: { flushIntervalMs: 50, relistIntervalMs: 200 },
      });
    const desired: Fixture['desired'] = (overrides = {}) => ({
      type: 'kubernetes',
      deploymentId: 'dep-web',
      revisionId: 'rev-1',
      applicationName: 'web',
      versionName: '1.0.0',
      restartMarker: null,
      registryAuths: [],
      error: null,
      logsEnabled: true,
      releaseName: 'web',
      namespace,
      chart: { type: 'repository', url: repo.url, name: 'web', version: '1.0.0', digest: null },
      values: { message: 'hello' },
      options: { timeoutSeconds: 60, atomic: false, wait: false, ignoreDrift: false },
      ...overrides,
    });
    return { kube: admin, namespace, identity, agentHelm, stateDir, helm: adminHelm.run, newDriver, desired, namespaceFor, driver: newDriver() };
  }

  return {
    get repo() {
      return repo;
    },
    setup,
    tempDir,
    onCleanup: (cleanup) => void cleanups.push(cleanup),
  };
}

/** An apply/restart/remove context that is never aborted. */
export const ctx = () => ({ signal: new AbortController().signal });

/** observe() every 200 ms until `done`; fails with the last status. The bound is a hang guard (WAIT_BOUND_MS), not a timing claim. */
export async function observeUntil(
  driver: KubernetesDriver,
  deployment: KubernetesDesiredDeployment,
  done: (s: ObservedStatus) => boolean,
  timeoutMs = WAIT_BOUND_MS,
): Promise<ObservedStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ObservedStatus | null = null;
  while (Date.now() < deadline) {
    last = await driver.observe(deployment);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`observe never reached the expected state; last: ${JSON.stringify(last)}`);
}

/** The release's current helm revision (helm status, as the admin). */
export async function helmRevision(f: Fixture, release: string, namespace = f.namespace): Promise<number> {
  return (JSON.parse(await f.helm(['status', release, '-n', namespace, '-o', 'json'])) as { version: number }).version;
}

export { eventually } from './agent-process.js';
