/**
 * The agent contract: one small vocabulary that neither side owns. The hub (server/) and the
 * agents (agent/) both import it from here, never from each other.
 *
 * - The wire shapes come from GraphQL Code Generator (protocol/operations/agent.graphql →
 *   protocol/generated/agent.ts): the hub builds exactly `WireDesiredState`, the agent receives it,
 *   and a schema change that breaks either side fails `tsc`.
 * - The agent's runtime shape (`DesiredDeployment`, a discriminated union) is derived from the wire
 *   shape by type operators, not written again; `fromWire` maps one onto the other.
 * - Close codes, limits and the env parser are shared constants and code.
 * docs/agent-protocol.md describes every field and code.
 */
import type {
  AgentLogLineInput,
  AgentResourceStatusInput,
  AgentStatusReportInput,
  DeploymentPhase,
  DeploymentType,
  DesiredDeploymentFieldsFragment,
  DesiredStateFieldsFragment,
  RuntimePreviewRequestFieldsFragment,
} from './generated/agent.js';

export * from './generated/agent.js';
export * from './close-codes.js';
export * from './limits.js';
export { ConfigError, parseEnvironment } from './env.js';
export * from './redact.js';

export type { DeploymentPhase };

/** The desired state of one target exactly as the hub sends it (and builds it). */
export type WireDesiredState = DesiredStateFieldsFragment;
/** A pending runtime preview the desired state carries, as sent. */
export type WireRuntimePreviewRequest = RuntimePreviewRequestFieldsFragment;
/** One deployment of it, as sent. */
export type WireDeployment = DesiredDeploymentFieldsFragment;

type WireKubernetes = NonNullable<WireDeployment['kubernetes']>;
type HelmOptionKeys = 'timeoutSeconds' | 'atomic' | 'wait' | 'ignoreDrift';
type DeploymentBase = Omit<WireDeployment, 'type' | 'docker' | 'kubernetes'>;

export type ChartRef = WireKubernetes['chart'];
/** Credentials for one registry host (images, OCI and repository charts). Never logged. */
export type RegistryAuth = WireDeployment['registryAuths'][number];
export type KubernetesOptions = Pick<WireKubernetes, HelmOptionKeys>;
export type DockerDesiredDeployment = DeploymentBase & { type: Extract<DeploymentType, 'docker'> } & NonNullable<WireDeployment['docker']>;
export type KubernetesDesiredDeployment = DeploymentBase & { type: Extract<DeploymentType, 'kubernetes'> } & Omit<WireKubernetes, HelmOptionKeys> & {
  options: KubernetesOptions;
};
/** What an agent runs for one deployment: the wire shape as a union discriminated by `type`. */
export type DesiredDeployment = DockerDesiredDeployment | KubernetesDesiredDeployment;
/** A deployment deleted recently; tells the agent whether to remove its data as well. */
export type DeletedDeployment = WireDesiredState['deleted'][number];
export type DesiredState = Omit<WireDesiredState, 'deployments'> & { deployments: DesiredDeployment[] };

/** One workload/container the driver looked at, for per-resource status detail. */
export type ResourceStatus = AgentResourceStatusInput;
export type StatusReport = AgentStatusReportInput;
export type LogLine = Omit<AgentLogLineInput, 'stream'> & { stream: 'stdout' | 'stderr' };

/** The wire shape of a deployment → the agent's discriminated union. */
export function fromWire(d: WireDeployment): DesiredDeployment {
  const { type, docker, kubernetes, ...base } = d;
  if (type === 'docker') {
    if (!docker) throw new Error(`deployment ${d.deploymentId}: type docker without docker settings`);
    return { ...base, type, ...docker };
  }
  if (!kubernetes) throw new Error(`deployment ${d.deploymentId}: type kubernetes without kubernetes settings`);
  const { timeoutSeconds, atomic, wait, ignoreDrift, ...release } = kubernetes;
  return { ...base, type, ...release, options: { timeoutSeconds, atomic, wait, ignoreDrift } };
}

export function desiredStateFromWire(state: WireDesiredState): DesiredState {
  return { ...state, deployments: state.deployments.map(fromWire) };
}
