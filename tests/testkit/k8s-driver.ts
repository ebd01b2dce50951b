/**
 * Shared setup of the KubernetesDriver tests (tests/k8s-driver.test.ts, tests/k8s-ownership.test.ts):
 * the REAL helm binary and the REAL @kubernetes/client-node against the stand-in Kubernetes API
 * server (tests/k8s-standin). Helm keeps its releases in a fresh PostgreSQL database per test
 * (HELM_DRIVER=sql); charts come from a real Helm repository served over HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { ObservedStatus } from '../../agent/core/driver.js';
import type { KubernetesDesiredDeployment } from '../../protocol/index.js';
import { KubernetesDriver } from '../../agent/kubernetes/driver.js';
import type { ChartRepo } from '../k8s-standin/chart-repo.js';
import { serveChartRepo } from '../k8s-standin/chart-repo.js';
import type { HelmTestEnv } from '../k8s-standin/helm-env.js';
import { createHelmTestEnv } from '../k8s-standin/helm-env.js';
import type { KubeStandIn } from '../k8s-standin/kube-standin.js';
import { startKubeStandIn } from '../k8s-standin/kube-standin.js';
import { writeTestChart } from '../k8s-standin/test-chart.js';
import type { TestPostgres } from './postgres.js';
import { startTestPostgres } from './postgres.js';
import { WAIT_BOUND_MS } from './changes.js';

export interface Fixture {
  kube: KubeStandIn;
  helmEnv: HelmTestEnv;
  driver: KubernetesDriver;
  stateDir: string;
  helm(args: string[]): Promise<string>;
  newDriver(options?: DriverOptions): KubernetesDriver;
  kubeConfig(): KubeConfig;
}

export interface DriverOptions {
  scope?: 'namespace' | 'cluster';
  namespace?: string;
  plainHttp?: boolean;
  /** Default: the fixture's state folder. */
  stateDir?: string;
  /** Default: target-a. */
  targetId?: string;
}

export interface KubernetesDriverSuite {
  /** The chart repository (charts web 1.0.0 and 1.1.0), once beforeAll has run. */
  readonly repo: ChartRepo;
  /** A new stand-in, helm environment (own database) and driver, all closed after the test. */
  setup(options?: { scope?: 'namespace' | 'cluster'; namespace?: string }): Promise<Fixture>;
  /** A new temporary folder, removed after the test. */
  tempDir(prefix: string): Promise<string>;
  /** Run `cleanup` after the test (cleanups run in reverse order). */
  onCleanup(cleanup: () => Promise<void>): void;
  /** A desired deployment of chart web 1.0.0 from the suite's repository, with overrides. */
  desired(overrides?: Partial<KubernetesDesiredDeployment> & { values?: Record<string, unknown> }): KubernetesDesiredDeployment;
}

/**
 * Register the suite's hooks in the calling test file: one PostgreSQL and chart repository for the
 * file (beforeAll/afterAll), and the per-test cleanups (afterEach).
 */
export function useKubernetesDriverSuite(): KubernetesDriverSuite {
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

  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
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
      chart: { type: 'repository', url: repo.url, name: 'web', version: '1.0.0', digest: null },
      values: { message: 'hello' },
      options: { timeoutSeconds: 20, atomic: false, wait: false, ignoreDrift: false },
      ...overrides,
    };
  }

  return {
    get repo() {
      return repo;
    },
    setup,
    tempDir,
    onCleanup: (cleanup) => void cleanups.push(cleanup),
    desired,
  };
}

/** An apply/restart/remove context that is never aborted. */
export const ctx = () => ({ signal: new AbortController().signal });

/**
 * observe() every 100 ms until `done`; fails with the last status. The bound is a hang guard
 * (WAIT_BOUND_MS), not a timing claim.
 */
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
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`observe never reached the expected state; last: ${JSON.stringify(last)}`);
}

/** The release's current helm revision (helm status). */
export async function helmRevision(f: Fixture, release: string, namespace = 'apps'): Promise<number> {
  return (JSON.parse(await f.helm(['status', release, '-n', namespace, '-o', 'json'])) as { version: number }).version;
}
