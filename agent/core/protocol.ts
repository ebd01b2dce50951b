/**
 * The agent protocol's shared vocabulary: what the hub sends (desired state), what the agent
 * reports (status), and the websocket close codes. Hub and agents both import this file, so the
 * two sides cannot drift apart. The GraphQL surface itself is documented in docs/agent-protocol.md.
 */

/** graphql-ws close codes used by the hub when it refuses or ends an agent socket. */
export const AgentCloseCode = {
  /** No token, malformed token, bad signature or expired token: log in again. */
  Unauthorized: 4401,
  /** Token valid but revoked (credential rotated) or not allowed for this operation. */
  Forbidden: 4403,
} as const;

export type DeploymentPhase = 'healthy' | 'running' | 'progressing' | 'error';

export interface ChartRef {
  type: 'oci' | 'repository';
  /** oci://registry/repo/chart for OCI, the repository base URL for repository charts. */
  url: string;
  /** Chart name inside the repository; null for OCI charts. */
  name: string | null;
  version: string;
}

export interface KubernetesOptions {
  timeoutSeconds: number;
  atomic: boolean;
  wait: boolean;
  /** Report no drift error when the release was changed by hand. */
  ignoreDrift: boolean;
}

/** Credentials for one registry host (images, OCI and repository charts). Never logged. */
export interface RegistryAuth {
  /** As image references name it: `ghcr.io`, `127.0.0.1:5000`, `docker.io`. */
  host: string;
  username: string;
  password: string;
}

interface DesiredDeploymentBase {
  deploymentId: string;
  /** The current revision: the agent reports status against it. */
  revisionId: string;
  applicationName: string;
  versionName: string;
  /**
   * Id of the newest revision created as a force restart, or null. When it differs from the
   * marker the agent last acted on, the agent restarts the deployment's workloads once.
   */
  restartMarker: string | null;
  logsEnabled: boolean;
  /**
   * The registry credentials this deployment may use: docker gets those of its images' hosts,
   * kubernetes every one its application and target admit (images are known only to the chart).
   * Not part of what is applied: a change alone does not redeploy (see the worker).
   */
  registryAuths: RegistryAuth[];
  /**
   * Set when the hub could not render this deployment (e.g. a secret it references is gone): the
   * agent reports it as the deployment's error and leaves what runs untouched.
   */
  error: string | null;
}

export interface DockerDesiredDeployment extends DesiredDeploymentBase {
  type: 'docker';
  composeType: 'compose' | 'swarm';
  /** Compose project (or swarm stack) name; stable for the deployment's life. */
  projectName: string;
  composeFile: string;
  /** The rendered .env file for this revision. */
  envFile: string;
}

export interface KubernetesDesiredDeployment extends DesiredDeploymentBase {
  type: 'kubernetes';
  releaseName: string;
  namespace: string;
  chart: ChartRef;
  /** Version base values deep-merged with the revision's values. */
  values: Record<string, unknown>;
  options: KubernetesOptions;
}

export type DesiredDeployment = DockerDesiredDeployment | KubernetesDesiredDeployment;

/** A deployment deleted recently; tells the agent whether to remove its data as well. */
export interface DeletedDeployment {
  deploymentId: string;
  removeVolumes: boolean;
}

export interface DesiredState {
  targetId: string;
  targetType: 'docker' | 'kubernetes';
  /** Namespace of a kubernetes target; null for docker. */
  namespace: string | null;
  scope: 'namespace' | 'cluster' | null;
  deployments: DesiredDeployment[];
  deleted: DeletedDeployment[];
}

/** One workload/container the driver looked at, for per-resource status detail. */
export interface ResourceStatus {
  kind: string;
  name: string;
  phase: DeploymentPhase;
  message: string;
}

export interface StatusReport {
  deploymentId: string;
  revisionId: string;
  phase: DeploymentPhase;
  message: string;
  resources?: ResourceStatus[];
}

export interface LogLine {
  deploymentId: string;
  /** Container or pod the line came from. */
  resource: string;
  stream: 'stdout' | 'stderr';
  /** ISO timestamp as reported by the runtime. */
  timestamp: string;
  line: string;
}

/** Largest log batch the hub accepts in one agentPushLogs call. */
export const MAX_LOG_BATCH = 500;
