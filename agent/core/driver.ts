import type { AgentRuntimePreviewServiceInput, DeletedDeployment, DesiredDeployment, DeploymentPhase, LogLine, ResourceStatus, WireRuntimePreviewRequest } from '../../protocol/index.js';

/** What a driver observed about one deployment on its runtime. */
export interface ObservedStatus {
  phase: DeploymentPhase;
  message: string;
  resources: ResourceStatus[];
}

export interface DriverContext {
  /** Aborted when a newer desired state supersedes this apply, or the agent stops. */
  signal: AbortSignal;
}

/** A driver's answer to a runtime preview (the core redacts secrets before it leaves the agent). */
export interface RuntimePreviewResult {
  /** The revision whose applied files were compared (null: nothing of the deployment runs here). */
  baseRevisionId: string | null;
  /** Unified diff of the normalized configuration, what runs → the candidate. */
  diff: string;
  services: AgentRuntimePreviewServiceInput[];
  /** A note on the comparison, or null. */
  message: string | null;
}

/**
 * One runtime (docker, kubernetes) behind one interface. agent/core decides *when* to call these;
 * a driver only knows *how*. Every method may throw: the core reports the error message as the
 * deployment's status and retries with backoff.
 */
export interface DeploymentDriver {
  readonly type: 'docker' | 'kubernetes';
  /** Make the runtime match the deployment (compose up / helm upgrade --install). Idempotent. */
  apply(deployment: DesiredDeployment, ctx: DriverContext): Promise<void>;
  /**
   * Optional: the deployment's registry credentials changed but nothing else did: keep whatever
   * holds them on the runtime current (e.g. an image pull secret) without redeploying.
   */
  refreshCredentials?(deployment: DesiredDeployment, ctx: DriverContext): Promise<void>;
  /** Restart the deployment's workloads without changing them (force restart). */
  restart(deployment: DesiredDeployment, ctx: DriverContext): Promise<void>;
  /** Observe the deployment's current status on the runtime. */
  observe(deployment: DesiredDeployment): Promise<ObservedStatus>;
  /** Ids of deployments this agent installed and that still exist on the runtime. */
  listManaged(): Promise<string[]>;
  /** Tear down a deployment this agent installed (compose down / helm uninstall). */
  remove(deploymentId: string, options: DeletedDeployment | null, ctx: DriverContext): Promise<void>;
  /**
   * Follow the deployment's logs from `since` (ISO time, exclusive) until the signal aborts,
   * calling onLines with batches. Optional: a driver without logs omits it.
   */
  followLogs?(
    deployment: DesiredDeployment,
    since: string | null,
    onLines: (lines: LogLine[]) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Optional: resolve only when the signal aborts, calling onChange whenever the runtime reports
   * that something may have changed (a container died, a healthcheck flipped), so status is
   * observed at once instead of at the next tick.
   */
  watch?(onChange: () => void, signal: AbortSignal): Promise<void>;
  /**
   * Optional: what the runtime would do with the candidate of a runtime preview, against what runs
   * for `current` (the deployment as the hub wants it now; null when the state has none). Reads
   * only: changes nothing on the runtime.
   */
  preview?(deploymentId: string, current: DesiredDeployment | null, candidate: WireRuntimePreviewRequest, ctx: DriverContext): Promise<RuntimePreviewResult>;
}

/**
 * An apply failure that retrying the same desired state cannot fix (e.g. a helm --atomic upgrade
 * that failed and rolled back, or a registry refusing the credentials). The core reports it once
 * and waits for a new revision or other registry credentials.
 */
export class PermanentApplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentApplyError';
  }
}

/** What registries answer when credentials are missing or wrong: retrying the same ones cannot help. */
const REGISTRY_AUTH_FAILURE = /unauthorized|authentication required|authorization failed|no basic auth credentials|pull access denied|denied: requested access|401 Unauthorized|403 Forbidden/i;

export function isRegistryAuthFailure(message: string): boolean {
  return REGISTRY_AUTH_FAILURE.test(message);
}
