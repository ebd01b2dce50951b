/** The client's public shapes: the generated fragment types under plain names, and the SDK's request objects. */
import type {
  ApiKeyFieldsFragment,
  ApplicationFieldsFragment,
  ApplicationVersionFieldsFragment,
  ChartType,
  ComposeType,
  DeploymentFieldsFragment,
  DeploymentPhase,
  DeploymentStatusFieldsFragment,
  DeploymentTargetFieldsFragment,
  DeploymentType,
  HelmOptionsInput,
  Role,
  TargetScope,
  ValidationResultFieldsFragment,
} from './generated/graphql.js';

export type { ChartType, ComposeType, DeploymentPhase, DeploymentType, HelmOptionsInput, Role, TargetScope };
export type ApiKey = ApiKeyFieldsFragment;
export type Application = ApplicationFieldsFragment;
export type ApplicationVersion = ApplicationVersionFieldsFragment;
export type ApplicationWithVersions = Application & { versions: ApplicationVersion[] };
export type DeploymentTarget = DeploymentTargetFieldsFragment;
export type Deployment = DeploymentFieldsFragment;
export type DeploymentStatus = DeploymentStatusFieldsFragment;
/** The findings of a check: `ok` is false when one of them is an error. */
export type ValidationResult = ValidationResultFieldsFragment;
export type ValidationFinding = ValidationResult['findings'][number];

export interface DistrServiceOptions {
  /** The hub's base URL (e.g. https://hub.example.com); defaults to $DISTR_HUB_URL. */
  hubUrl?: string;
  /** A vendor API key; defaults to $DISTR_API_KEY. */
  apiKey?: string;
}

export interface DockerVersionContent {
  composeFile: string;
  envTemplate?: string;
}

export interface KubernetesVersionContent {
  chartType: ChartType;
  chartUrl: string;
  /** Required for repository charts. */
  chartName?: string;
  chartVersion: string;
  baseValues?: string;
  valuesTemplate?: string;
}

export interface NewDeploymentTarget {
  name: string;
  type: DeploymentType;
  /** Kubernetes only: the namespace the agent deploys into. */
  namespace?: string;
  /** Kubernetes only; defaults to `namespace`. */
  scope?: TargetScope;
  logsEnabled?: boolean;
  /** The product doc's spelling (`kubernetes: { namespace }`), accepted as an alternative to the flat fields. */
  kubernetes?: { namespace: string; scope?: TargetScope };
}

export interface DeploymentTargetAccess {
  targetId: string;
  /** The agent's secret; shown only once. */
  secret: string;
  /** The same secret under the product document's name (`--set hub.token=${access.token}`). */
  token: string;
  hubUrl: string;
  /** `docker run …` (docker) or `helm install …` (kubernetes) that installs the agent with this secret. */
  installCommand: string;
}

/** The target: a new one (`target`), or an existing one by id (`targetId`, or `deploymentTargetId` as updateDeployment spells it). */
export type CreateDeploymentRequest = (
  | { target: NewDeploymentTarget; targetId?: never; deploymentTargetId?: never }
  | { targetId: string; target?: never; deploymentTargetId?: never }
  | { deploymentTargetId: string; target?: never; targetId?: never }
) & {
  application: { versionId: string };
  /** Required for docker applications. */
  dockerDeployment?: { composeType: ComposeType; envFile?: string };
  /** Required for kubernetes applications. */
  kubernetesDeployment?: { releaseName: string; valuesYaml?: string; helmOptions?: HelmOptionsInput };
};

/**
 * Which deployment: `deploymentId`, or — as the product document writes it — `deploymentTargetId`,
 * meaning the target's one deployment of the application `application.versionId` belongs to (or its
 * only deployment, without a version). Several fitting deployments: DistrAmbiguousError; none:
 * DistrNotFoundError.
 */
export type UpdateDeploymentRequest = ({ deploymentId: string; deploymentTargetId?: string } | { deploymentTargetId: string; deploymentId?: never }) & {
  /** Switch to this version of the same application. */
  application?: { versionId: string };
  dockerDeployment?: { envFile: string };
  kubernetesDeployment?: { valuesYaml?: string; helmOptions?: HelmOptionsInput };
};

export interface NewApiKey {
  name: string;
  /** The key's rights, at most the caller's role (default: the caller's role). */
  roleCap?: Role;
  /** Date or ISO 8601 time; never expires when omitted. */
  expiresAt?: Date | string;
}

export interface CreatedApiKey {
  apiKey: ApiKey;
  /** `Authorization: Bearer <secret>`; shown only once. */
  secret: string;
}

export interface RolloutResult {
  count: number;
  deployments: Deployment[];
}

/** How "latest" is decided: highest semantic version (non-semver names skipped), or newest created. */
export type VersionOrder = 'semver' | 'chronological';

/** A status transition of one deployment, as streamed by the hub's organizationEvents subscription. */
export interface DeploymentStatusEvent {
  deploymentId: string;
  targetId: string;
  phase: DeploymentPhase;
  message: string;
  revisionId: string;
  changedAt: string;
}

/** A running subscription: iterate it with `for await`; `close()` ends the iteration and the socket. */
export interface DeploymentStatusWatch extends AsyncIterable<DeploymentStatusEvent> {
  close(): Promise<void>;
}

/** One stored log line of a deployment (ids increase in storage order). */
export interface DeploymentLogLine {
  id: string;
  resource: string;
  stream: string;
  timestamp: string;
  line: string;
}

export interface DeploymentLogStream extends AsyncIterable<DeploymentLogLine> {
  close(): Promise<void>;
}
