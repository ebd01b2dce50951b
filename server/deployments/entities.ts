import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Application, ApplicationVersion, type ApplicationRow, type ApplicationVersionRow } from '../applications/entities.js';
import { Organization } from '../orgs/entities.js';
import { DeploymentTarget, type DeploymentTargetRow } from '../targets/entities.js';

export const COMPOSE_TYPES = ['compose', 'swarm'] as const;
export type ComposeType = (typeof COMPOSE_TYPES)[number];
export const PHASES = ['healthy', 'running', 'progressing', 'error'] as const;

export const Deployment = defineEntity({
  name: 'Deployment',
  uniques: [{ properties: ['target', 'releaseName'] }],
  checks: [
    {
      name: 'deployment_kind_fields',
      expression: '(compose_type is not null and release_name is null) or (compose_type is null and release_name is not null)',
    },
  ],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    target: () => p.manyToOne(DeploymentTarget).deleteRule('cascade').index(),
    application: () => p.manyToOne(Application).index(),
    composeType: p.enum([...COMPOSE_TYPES]).nativeEnumName('compose_type').nullable(),
    releaseName: p.string().nullable(),
    /** Helm options (kubernetes) kept with the deployment: timeout, atomic, wait, ignoreDrift. */
    helmOptions: p.json<{ timeoutSeconds: number; atomic: boolean; wait: boolean; ignoreDrift: boolean }>().nullable(),
    /** The newest revision; revisions are append-only, this moves forward on each update. */
    currentRevision: () => p.manyToOne(DeploymentRevision).nullable().deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Deployment = InferEntity<typeof Deployment>;

/** Append-only: a database trigger refuses updates (see the initial migration). */
export const DeploymentRevision = defineEntity({
  name: 'DeploymentRevision',
  indexes: [{ properties: ['deployment', 'createdAt'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    deployment: () => p.manyToOne(Deployment).deleteRule('cascade'),
    /** Restrict: a version that a revision references cannot be deleted. */
    version: () => p.manyToOne(ApplicationVersion).deleteRule('no action').index(),
    envFile: p.text().nullable(),
    valuesYaml: p.text().nullable(),
    forceRestart: p.boolean().default(false),
    createdBy: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type DeploymentRevision = InferEntity<typeof DeploymentRevision>;

/** The latest observed status of a deployment (one row per deployment). */
export const DeploymentStatus = defineEntity({
  name: 'DeploymentStatus',
  properties: {
    deployment: () => p.oneToOne(Deployment).primary().owner().deleteRule('cascade'),
    revisionId: p.uuid(),
    phase: p.enum([...PHASES]).nativeEnumName('deployment_phase'),
    message: p.text(),
    resources: p.json<unknown[]>().nullable(),
    /** When the agent last confirmed this status (moves on repeated reports). */
    reportedAt: p.datetime(),
    /** When the phase/message last changed. */
    changedAt: p.datetime(),
  },
});
export type DeploymentStatus = InferEntity<typeof DeploymentStatus>;

/**
 * What the GraphQL types read of a deployment, a revision and a status: an entity, or a plain row
 * of the list read (./list.ts), which never goes through the identity map. A listed row carries
 * the rows it was joined with (`joined`), so its nested objects resolve without a statement.
 */
export type DeploymentRow = Pick<Deployment, 'id' | 'composeType' | 'releaseName' | 'helmOptions' | 'createdAt'> & {
  target: { id: string };
  application: { id: string };
  currentRevision?: { id: string } | null;
  joined?: { target: DeploymentTargetRow; application: ApplicationRow; revision: DeploymentRevisionRow | null; status: DeploymentStatusRow | null };
};
export type DeploymentRevisionRow = Pick<DeploymentRevision, 'id' | 'envFile' | 'valuesYaml' | 'forceRestart' | 'createdBy' | 'createdAt'> & {
  version: { id: string };
  joined?: { version: ApplicationVersionRow };
};
export type DeploymentStatusRow = Pick<DeploymentStatus, 'revisionId' | 'phase' | 'message' | 'resources' | 'reportedAt' | 'changedAt'> & { deployment: { id: string } };

/** Status history: a row only when phase, message or revision changes. */
export const StatusTransition = defineEntity({
  name: 'StatusTransition',
  indexes: [{ properties: ['deployment', 'at'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    deployment: () => p.manyToOne(Deployment).deleteRule('cascade'),
    revisionId: p.uuid(),
    phase: p.enum([...PHASES]).nativeEnumName('deployment_phase'),
    message: p.text(),
    at: p.datetime(),
  },
});
export type StatusTransition = InferEntity<typeof StatusTransition>;

/** Recently deleted deployments, so agents learn whether to remove data too. */
export const DeletedDeployment = defineEntity({
  name: 'DeletedDeployment',
  properties: {
    deploymentId: p.uuid().primary(),
    target: () => p.manyToOne(DeploymentTarget).deleteRule('cascade').index(),
    removeVolumes: p.boolean(),
    deletedAt: p.datetime(),
  },
});
export type DeletedDeployment = InferEntity<typeof DeletedDeployment>;

export const LogEntry = defineEntity({
  name: 'LogEntry',
  indexes: [{ properties: ['deployment', 'timestamp'] }],
  properties: {
    id: p.bigint('string').primary().autoincrement(),
    deployment: () => p.manyToOne(Deployment).deleteRule('cascade'),
    resource: p.string(),
    stream: p.string(),
    timestamp: p.datetime(),
    line: p.text(),
  },
});
export type LogEntry = InferEntity<typeof LogEntry>;
