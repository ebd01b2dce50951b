/**
 * KubernetesDriver: deploys vendor Helm charts with the helm CLI and watches their workloads with
 * @kubernetes/client-node. It only touches releases it installed (ownership records: ConfigMaps in
 * its namespace, see ownership.ts), refuses to upgrade releases changed by hand (drift) unless
 * told to ignore that, and in namespace scope never installs outside its namespace.
 */
import { deletePullSecret, pullSecretName, syncPullSecret, withPullSecret } from './pull-secret.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { AppsV1Api, BatchV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { DeploymentDriver, DriverContext, ObservedStatus, RuntimePreviewResult } from '../core/driver.js';
import { isRegistryAuthFailure, PermanentApplyError } from '../core/driver.js';
import type { DeletedDeployment, DesiredDeployment, KubernetesDesiredDeployment, LogLine, ResourceStatus, WireRuntimePreviewRequest } from '../../protocol/index.js';
import type { HelmReleaseStatus } from './helm.js';
import { HelmCli, HelmError } from './helm.js';
import type { FollowLogsOptions } from './logs.js';
import { followReleaseLogs } from './logs.js';
import type { OwnershipRecord, OwnershipStore } from './ownership.js';
import { ClusterOwnershipStore } from './ownership.js';
import { previewManifests } from './preview.js';
import { deleteStatefulSetVolumes, statefulSetVolumeClaims } from './volumes.js';
import type { KubeApis, WorkloadRef } from './workloads.js';
import { observeWorkloads, workloadsInManifest } from './workloads.js';

export interface KubernetesDriverOptions {
  /** Cluster access for reading workloads (loaded from a file, or in-cluster). */
  kubeConfig: KubeConfig;
  /**
   * Folder where older agents kept ownership records as JSON files: imported into the cluster
   * once. The records themselves live in ConfigMaps in `namespace` (see ownership.ts).
   */
  stateDir?: string;
  /** The agent's deployment target id: labels its ownership records. */
  targetId?: string;
  /** 'namespace': install only into `namespace`; 'cluster': any namespace, created on demand. */
  scope: 'namespace' | 'cluster';
  /** The target's namespace (the agent's own): also holds the ownership records. */
  namespace: string;
  /** helm binary; default `helm`. */
  helmBinary?: string;
  /**
   * Extra environment for helm (HELM_*_HOME, KUBECONFIG) over the agent's own, which helm also
   * inherits. Without KUBECONFIG helm uses its own defaults (in-cluster or ~/.kube/config).
   */
  helmEnv?: Record<string, string>;
  /** Pass --plain-http for oci:// charts (registries without TLS). */
  plainHttp?: boolean;
  uninstallTimeoutSeconds?: number;
  logs?: FollowLogsOptions;
}

const RESTARTABLE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
/** How long followLogs trusts a release's workload list before asking helm again. */
const WORKLOAD_CACHE_MS = 30_000;

function asKubernetesDeployment(deployment: DesiredDeployment): KubernetesDesiredDeployment {
  if (deployment.type !== 'kubernetes') {
    throw new Error(`the kubernetes driver cannot handle a ${deployment.type} deployment (${deployment.deploymentId})`);
  }
  return deployment;
}

export function driftMessage(releaseName: string, actual: number, expected: number | null): string {
  return `release ${releaseName} was changed outside distr (helm revision ${actual}, expected ${expected ?? 'none'})`;
}

/**
 * helm --atomic undid a failed change itself: the upgrade was rolled back (or a first install
 * uninstalled). Retrying the same desired state would fail the same way, so it is permanent.
 */
export function isAtomicRollback(error: unknown): boolean {
  return error instanceof HelmError && /has been (rolled back|uninstalled) due to atomic being set/i.test(error.stderr);
}

/**
 * Helm failures that trying the same chart and values again cannot fix: a chart or version that
 * does not exist, a template that does not render, values the chart's schema refuses, manifests
 * the API server cannot accept. Network, registry-availability and cluster errors stay transient.
 */
const PERMANENT_HELM_FAILURE = [
  /chart "[^"]*"( version "[^"]*")? not found/i,
  /no chart (name|version) found/i,
  /manifest unknown/i,
  /failed to fetch .* 404/i,
  /parse error/i,
  /execution error at/i,
  /error converting YAML to JSON/i,
  /values don't meet the specifications of the schema/i,
  /unable to build kubernetes objects from release manifest/i,
];

export function isPermanentHelmFailure(error: unknown): boolean {
  return error instanceof HelmError && PERMANENT_HELM_FAILURE.some((p) => p.test(error.stderr));
}

export class KubernetesDriver implements DeploymentDriver {
  readonly type = 'kubernetes' as const;
  private readonly helm: HelmCli;
  private readonly ownership: OwnershipStore;
  private readonly apis: KubeApis;

  constructor(private readonly options: KubernetesDriverOptions) {
    this.helm = new HelmCli({
      binary: options.helmBinary ?? 'helm',
      env: options.helmEnv ?? {},
      plainHttp: options.plainHttp ?? false,
    });
    const kc = options.kubeConfig;
    this.apis = { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), batch: kc.makeApiClient(BatchV1Api) };
    this.ownership = new ClusterOwnershipStore({ core: this.apis.core, namespace: options.namespace, targetId: options.targetId, importFromDir: options.stateDir });
  }

  private checkNamespace(deployment: KubernetesDesiredDeployment): void {
    if (this.options.scope === 'namespace' && deployment.namespace !== this.options.namespace) {
      throw new Error(
        `deployment ${deployment.deploymentId} targets namespace ${deployment.namespace}, but this agent is limited to namespace ${this.options.namespace}`,
      );
    }
  }

  /**
   * Refuse releases this agent does not own, and (unless ignored) releases changed by hand. Drift
   * is a PermanentApplyError: retrying cannot help until the vendor changes something (a new
   * revision, or ignoreDrift); observe() keeps reporting it meanwhile.
   */
  private checkOwnership(deployment: KubernetesDesiredDeployment, record: OwnershipRecord | null, current: HelmReleaseStatus | null): void {
    if (!current) return;
    if (!record) {
      throw new Error(`release ${deployment.releaseName} in namespace ${deployment.namespace} exists but was not installed by distr; refusing to touch it`);
    }
    if (record.inFlight || deployment.options.ignoreDrift) return;
    if (current.version !== record.revision) throw new PermanentApplyError(driftMessage(deployment.releaseName, current.version, record.revision));
  }

  async apply(desired: DesiredDeployment, ctx: DriverContext): Promise<void> {
    const deployment = asKubernetesDeployment(desired);
    this.checkNamespace(deployment);
    const { releaseName, namespace, deploymentId } = deployment;
    const other = await this.ownership.findByRelease(releaseName, namespace);
    if (other && other.deploymentId !== deploymentId) {
      throw new Error(`release ${releaseName} in namespace ${namespace} belongs to deployment ${other.deploymentId}`);
    }
    const record = await this.ownership.get(deploymentId);
    if (record && (record.releaseName !== releaseName || record.namespace !== namespace)) {
      throw new Error(`deployment ${deploymentId} was installed as release ${record.releaseName} in namespace ${record.namespace}; remove it before renaming`);
    }
    const current = await this.helm.status(releaseName, namespace, ctx.signal);
    this.checkOwnership(deployment, record, current);

    const base = { deploymentId, releaseName, namespace, revisionId: deployment.revisionId };
    await this.ownership.put({ ...base, revision: record?.revision ?? null, inFlight: true, updatedAt: new Date().toISOString() });
    let failure: unknown = null;
    try {
      // Only with credentials: charts whose values schema forbids unknown keys are untouched otherwise.
      const auths = deployment.registryAuths ?? [];
      const pullSecret = auths.length ? await syncPullSecret(this.apis.core, namespace, releaseName, deploymentId, auths, { createNamespace: this.options.scope === 'cluster' }) : null;
      await this.helm.upgradeInstall(
        {
          releaseName,
          namespace,
          chart: deployment.chart,
          values: withPullSecret(deployment.values, pullSecret),
          timeoutSeconds: deployment.options.timeoutSeconds,
          wait: deployment.options.wait,
          atomic: deployment.options.atomic,
          createNamespace: this.options.scope === 'cluster',
          registryAuths: deployment.registryAuths,
        },
        ctx.signal,
      );
    } catch (error) {
      failure = error;
    }
    if (ctx.signal.aborted) throw failure ?? ctx.signal.reason; // leave the record in flight: the next apply adopts
    // Whatever revision exists now is ours (including an atomic rollback), so it is not drift.
    const after = await this.helm.status(releaseName, namespace);
    await this.ownership.put({ ...base, revision: after?.version ?? null, inFlight: false, updatedAt: new Date().toISOString() });
    if (failure && (isAtomicRollback(failure) || isPermanentHelmFailure(failure))) throw new PermanentApplyError((failure as Error).message);
    // A registry refusing the chart: reported once, retried when the credential or revision changes.
    if (failure instanceof HelmError && isRegistryAuthFailure(failure.message)) throw new PermanentApplyError(failure.message);
    if (failure) throw failure;
  }

  /** The candidate's manifests (helm --dry-run=server) against the live objects (server-side dry-run apply); agent/kubernetes/preview.ts. */
  async preview(deploymentId: string, current: DesiredDeployment | null, candidate: WireRuntimePreviewRequest, ctx: DriverContext): Promise<RuntimePreviewResult> {
    if (!current) throw new Error(`deployment ${deploymentId} is not in this agent's desired state`);
    const deployment = asKubernetesDeployment(current);
    this.checkNamespace(deployment);
    if (!candidate.chart || !candidate.values) throw new Error('the kubernetes agent got a runtime preview without a chart');
    const { releaseName, namespace } = deployment;
    const record = await this.ownership.get(deploymentId);
    const auths = deployment.registryAuths ?? [];
    const rendered = await this.helm.dryRunManifest(
      {
        releaseName,
        namespace,
        chart: candidate.chart,
        values: withPullSecret(candidate.values, auths.length ? pullSecretName(releaseName) : null),
        timeoutSeconds: deployment.options.timeoutSeconds,
        createNamespace: this.options.scope === 'cluster',
        registryAuths: auths,
      },
      ctx.signal,
    );
    const released = record ? await this.helm.manifest(releaseName, namespace, ctx.signal).catch(() => '') : '';
    const objects = this.options.kubeConfig.makeApiClient(KubernetesObjectApi);
    const { diff, services } = await previewManifests({ objects, namespace, rendered, released });
    return { baseRevisionId: record?.revisionId ?? null, diff, services, message: record ? null : 'this agent has not installed the release yet: every object is new' };
  }

  async observe(desired: DesiredDeployment): Promise<ObservedStatus> {
    const deployment = asKubernetesDeployment(desired);
    const { releaseName, namespace } = deployment;
    const record = await this.ownership.get(deployment.deploymentId);
    if (!record) return { phase: 'error', message: `release ${releaseName} is not installed by this agent`, resources: [] };
    const current = await this.helm.status(releaseName, namespace);
    if (!current) return { phase: 'error', message: `release ${releaseName} not found in namespace ${namespace}`, resources: [] };
    if (!record.inFlight && !deployment.options.ignoreDrift && current.version !== record.revision) {
      return { phase: 'error', message: driftMessage(releaseName, current.version, record.revision), resources: [] };
    }
    const releaseState = current.info.status;
    if (releaseState === 'failed') {
      return { phase: 'error', message: `release ${releaseName} failed: ${current.info.description ?? 'unknown reason'}`, resources: [] };
    }
    const resources = await observeWorkloads(this.apis, await this.releaseWorkloads(releaseName, namespace));
    return summarize(releaseName, releaseState, current.version, resources);
  }

  async restart(desired: DesiredDeployment, ctx: DriverContext): Promise<void> {
    const deployment = asKubernetesDeployment(desired);
    if (!(await this.ownership.get(deployment.deploymentId))) {
      throw new Error(`release ${deployment.releaseName} is not installed by this agent; nothing to restart`);
    }
    const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date().toISOString() } } } } };
    const patchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    for (const ref of await this.releaseWorkloads(deployment.releaseName, deployment.namespace, ctx.signal)) {
      ctx.signal.throwIfAborted();
      if (!RESTARTABLE_KINDS.has(ref.kind)) continue;
      const params = { name: ref.name, namespace: ref.namespace, body };
      if (ref.kind === 'Deployment') await this.apis.apps.patchNamespacedDeployment(params, patchOptions);
      else if (ref.kind === 'StatefulSet') await this.apis.apps.patchNamespacedStatefulSet(params, patchOptions);
      else await this.apis.apps.patchNamespacedDaemonSet(params, patchOptions);
    }
  }

  async listManaged(): Promise<string[]> {
    const records = await this.ownership.all();
    if (records.length === 0) return [];
    const releases = await this.helm.list(this.options.scope === 'namespace' ? this.options.namespace : null);
    const existing = new Set(releases.map((r) => `${r.namespace}/${r.name}`));
    return records.filter((r) => existing.has(`${r.namespace}/${r.releaseName}`)).map((r) => r.deploymentId);
  }

  /** A rotated credential: the pull secret is replaced in place, no helm upgrade. */
  async refreshCredentials(desired: DesiredDeployment, _ctx?: DriverContext): Promise<void> {
    const deployment = asKubernetesDeployment(desired);
    if (!deployment.registryAuths?.length || !(await this.ownership.get(deployment.deploymentId))) return;
    await syncPullSecret(this.apis.core, deployment.namespace, deployment.releaseName, deployment.deploymentId, deployment.registryAuths ?? []);
  }

  async remove(deploymentId: string, options: DeletedDeployment | null, ctx: DriverContext): Promise<void> {
    const record = await this.ownership.get(deploymentId);
    if (!record) return; // not ours: never uninstall a release this agent did not install
    const claims = options?.removeVolumes
      ? statefulSetVolumeClaims(await this.helm.manifest(record.releaseName, record.namespace, ctx.signal).catch(() => ''), record.namespace)
      : [];
    await this.helm.uninstall(record.releaseName, record.namespace, this.options.uninstallTimeoutSeconds ?? 300, ctx.signal);
    if (claims.length > 0) await deleteStatefulSetVolumes(this.apis, claims);
    await deletePullSecret(this.apis.core, record.namespace, record.releaseName);
    await this.ownership.delete(deploymentId);
  }

  async followLogs(desired: DesiredDeployment, since: string | null, onLines: (lines: LogLine[]) => void, signal: AbortSignal): Promise<void> {
    const deployment = asKubernetesDeployment(desired);
    let cached: { at: number; refs: WorkloadRef[] } | null = null;
    const workloads = async () => {
      if (!cached || Date.now() - cached.at > WORKLOAD_CACHE_MS) {
        cached = { at: Date.now(), refs: await this.releaseWorkloads(deployment.releaseName, deployment.namespace, signal) };
      }
      return cached.refs;
    };
    await followReleaseLogs(this.options.kubeConfig, this.apis, deployment.deploymentId, workloads, since, onLines, signal, this.options.logs);
  }

  private async releaseWorkloads(releaseName: string, namespace: string, signal?: AbortSignal): Promise<WorkloadRef[]> {
    return workloadsInManifest(await this.helm.manifest(releaseName, namespace, signal), namespace);
  }
}

function summarize(releaseName: string, releaseState: string, revision: number, resources: ResourceStatus[]): ObservedStatus {
  const errors = resources.filter((r) => r.phase === 'error');
  if (errors.length > 0) return { phase: 'error', message: errors.map((r) => r.message).join('; '), resources };
  const progressing = resources.filter((r) => r.phase === 'progressing');
  if (releaseState.startsWith('pending') || progressing.length > 0) {
    const detail = progressing.map((r) => `${r.kind} ${r.name}: ${r.message}`).join('; ');
    return { phase: 'progressing', message: detail || `release ${releaseName} is ${releaseState}`, resources };
  }
  const what = resources.length > 0 ? `${resources.length} workload(s) ready` : 'no workloads';
  return { phase: 'healthy', message: `release ${releaseName} revision ${revision} ${releaseState}, ${what}`, resources };
}
