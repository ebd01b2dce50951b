import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { DEPLOYMENT_TYPES } from '../applications/entities.js';
import { Organization } from '../orgs/entities.js';

export const TARGET_SCOPES = ['namespace', 'cluster'] as const;
export type TargetScope = (typeof TARGET_SCOPES)[number];

export const DeploymentTarget = defineEntity({
  name: 'DeploymentTarget',
  uniques: [{ properties: ['organization', 'name'] }],
  checks: [
    {
      name: 'deployment_target_kubernetes_fields',
      expression:
        "(type = 'docker' and namespace is null and scope is null) or (type = 'kubernetes' and namespace is not null and scope is not null)",
    },
  ],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    name: p.string(),
    type: p.enum([...DEPLOYMENT_TYPES]).nativeEnumName('deployment_type'),
    namespace: p.string().nullable(),
    scope: p.enum([...TARGET_SCOPES]).nativeEnumName('target_scope').nullable(),
    logsEnabled: p.boolean().default(false),
    /** SHA-256 of the agent secret; null until access is created. */
    credentialHash: p.string().length(64).nullable(),
    /** Bumped on every rotation; agent tokens carry it, so older tokens die at once. */
    credentialGeneration: p.integer().default(0),
    agentVersion: p.string().nullable(),
    agentHost: p.string().nullable(),
    lastSeenAt: p.datetime().nullable(),
    /** Vendor-set key/value labels (Kubernetes label syntax), selected by rollouts: see server/labels/. */
    labels: p.json<Record<string, string>>().defaultRaw(`'{}'`).onCreate(() => ({})),
    /** IANA time zone the maintenance windows are read in. */
    timeZone: p.string().default('UTC'),
    /** Weekly ranges when the target accepts rollout updates; null or empty: any time. See server/rollouts/windows.ts. */
    maintenanceWindows: p.json<{ days: string[]; start: string; end: string }[]>().nullable(),
    /** The last refused agent login of this target (wrong secret, no access yet), for the vendor to see. */
    lastLoginFailureAt: p.datetime().nullable(),
    lastLoginFailureReason: p.string().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type DeploymentTarget = InferEntity<typeof DeploymentTarget>;

/** What the GraphQL type reads of a target: the entity, or a plain row of a list read (server/deployments/list.ts). */
export type DeploymentTargetRow = Pick<
  DeploymentTarget,
  | 'id' | 'name' | 'type' | 'namespace' | 'scope' | 'logsEnabled' | 'credentialHash' | 'agentVersion' | 'agentHost' | 'lastSeenAt'
  | 'labels' | 'timeZone' | 'maintenanceWindows' | 'lastLoginFailureAt' | 'lastLoginFailureReason' | 'createdAt'
>;

/**
 * An open agent socket on one hub process. Rows are heartbeated by their process, so a crashed
 * replica's rows go stale instead of showing an agent as connected forever.
 */
export const AgentConnection = defineEntity({
  name: 'AgentConnection',
  indexes: [{ properties: ['target'] }],
  properties: {
    id: p.uuid().primary(),
    target: () => p.manyToOne(DeploymentTarget).deleteRule('cascade'),
    hubInstance: p.string(),
    connectedAt: p.datetime(),
    heartbeatAt: p.datetime(),
  },
});
export type AgentConnection = InferEntity<typeof AgentConnection>;
