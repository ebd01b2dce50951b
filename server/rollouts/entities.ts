import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Application, ApplicationVersion } from '../applications/entities.js';
import { Deployment } from '../deployments/entities.js';
import { Organization } from '../orgs/entities.js';
import { DeploymentTarget } from '../targets/entities.js';

export const ROLLOUT_STATES = ['pending', 'running', 'paused', 'halted', 'completed', 'aborted'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
export const MEMBER_STATES = ['pending', 'updating', 'soaking', 'passed', 'failed', 'rolled_back'] as const;
export type MemberState = (typeof MEMBER_STATES)[number];
export const ON_FAILURE = ['halt', 'halt_and_rollback'] as const;
export type OnFailure = (typeof ON_FAILURE)[number];

/** How many deployments a wave after the canary takes: a count, or a percentage of the plan. */
export interface WaveSize {
  count?: number | null;
  percent?: number | null;
}

export interface RolloutStrategy {
  /** Deployments in the first (canary) wave. */
  canary: number;
  /** Further waves; whatever they leave over forms one last wave. */
  waves: WaveSize[];
  /** A deployment must stay healthy at the new revision this long before its wave counts it. */
  soakSeconds: number;
  /** A moved deployment not healthy within this long counts as failed. */
  progressDeadlineSeconds: number;
  /** Failed deployments tolerated before the rollout halts (0: the first one halts it). */
  maxFailed: number;
  /** Deployments of the rollout being updated (moved, not yet passed) at once; null: no limit. */
  maxUpdating: number | null;
  onFailure: OnFailure;
}

export interface RolloutSelection {
  selector: string | null;
  deploymentIds: string[] | null;
  all: boolean;
}

/** A durable rollout plan of one application version over a set of deployments, in waves. */
export const Rollout = defineEntity({
  name: 'Rollout',
  indexes: [{ properties: ['organization', 'createdAt'] }, { properties: ['state'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    application: () => p.manyToOne(Application).deleteRule('cascade'),
    version: () => p.manyToOne(ApplicationVersion).deleteRule('no action'),
    selection: p.json<RolloutSelection>(),
    strategy: p.json<RolloutStrategy>(),
    state: p.enum([...ROLLOUT_STATES]).nativeEnumName('rollout_state'),
    /** The wave being run (0 = canary); meaningful from start on. */
    currentWave: p.integer().default(0),
    waveCount: p.integer(),
    haltReason: p.text().nullable(),
    createdBy: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Rollout = InferEntity<typeof Rollout>;

/** One deployment in a rollout's plan: its wave and how far the rollout got with it. */
export const RolloutMember = defineEntity({
  name: 'RolloutMember',
  uniques: [{ properties: ['rollout', 'deployment'] }],
  indexes: [{ properties: ['rollout', 'wave'] }, { properties: ['deployment'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    rollout: () => p.manyToOne(Rollout).deleteRule('cascade'),
    deployment: () => p.manyToOne(Deployment).deleteRule('cascade'),
    wave: p.integer(),
    position: p.integer(),
    state: p.enum([...MEMBER_STATES]).nativeEnumName('rollout_member_state'),
    /** The deployment's revision when the rollout moved it (what a rollback returns to). */
    fromRevisionId: p.uuid().nullable(),
    /** The revision the rollout appended. */
    toRevisionId: p.uuid().nullable(),
    movedAt: p.datetime().nullable(),
    /** When it was first seen healthy at the new revision (the soak runs from here). */
    healthySince: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
    message: p.text().nullable(),
  },
});
export type RolloutMember = InferEntity<typeof RolloutMember>;

/** Every transition of a rollout, who made it and when. */
export const RolloutEvent = defineEntity({
  name: 'RolloutEvent',
  indexes: [{ properties: ['rollout', 'at'] }],
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    rollout: () => p.manyToOne(Rollout).deleteRule('cascade'),
    at: p.datetime(),
    actor: p.string(),
    action: p.string(),
    fromState: p.string().nullable(),
    toState: p.string(),
    wave: p.integer().nullable(),
    detail: p.text().nullable(),
  },
});
export type RolloutEvent = InferEntity<typeof RolloutEvent>;

export const RUNTIME_PREVIEW_STATES = ['pending', 'done', 'failed', 'expired'] as const;
export type RuntimePreviewState = (typeof RUNTIME_PREVIEW_STATES)[number];

/** What a service of a docker project (or an object of a helm release) would undergo if the candidate were applied. */
export interface RuntimePreviewServiceChange {
  name: string;
  change: 'added' | 'removed' | 'recreated' | 'changed' | 'unchanged';
  imageBefore: string | null;
  imageAfter: string | null;
}

/**
 * A runtime preview asked of a deployment's agent: the candidate configuration (as a revision
 * holds it: secret references, never values), and the agent's answer. Level-triggered: the
 * agent's desired state lists its target's pending requests until it answers or they expire.
 */
export const RuntimePreview = defineEntity({
  name: 'RuntimePreview',
  indexes: [{ properties: ['target', 'state'] }, { properties: ['deployment', 'requestedAt'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    deployment: () => p.manyToOne(Deployment).deleteRule('cascade'),
    target: () => p.manyToOne(DeploymentTarget).deleteRule('cascade'),
    version: () => p.manyToOne(ApplicationVersion).deleteRule('cascade'),
    envFile: p.text().nullable(),
    valuesYaml: p.text().nullable(),
    state: p.enum([...RUNTIME_PREVIEW_STATES]).nativeEnumName('runtime_preview_state'),
    requestedBy: p.string(),
    requestedAt: p.datetime().onCreate(() => new Date()),
    /** Still pending then: expired (the agent stayed away); its answer is refused after. */
    expiresAt: p.datetime(),
    completedAt: p.datetime().nullable(),
    /** The revision the agent was running when it compared (null: it ran nothing of this deployment). */
    baseRevisionId: p.uuid().nullable(),
    /** Unified diff of the normalized configuration (running → candidate), secrets redacted. */
    diff: p.text().nullable(),
    services: p.json<RuntimePreviewServiceChange[]>().nullable(),
    /** The agent's failure, or a note on the comparison. */
    message: p.text().nullable(),
  },
});
export type RuntimePreview = InferEntity<typeof RuntimePreview>;
