import { resolveOffsetConnection } from '@pothos/plugin-relay';
import { builder, vendorOf } from '../schema/builder.js';
import { DeletedRef, MUTATION_ERRORS } from '../schema/errors.js';
import { byId, loadByIds } from '../schema/loaders.js';
import { ApplicationRef, ApplicationVersionRef } from '../applications/types.js';
import { DeploymentTargetRef } from '../targets/types.js';
import {
  COMPOSE_TYPES,
  Deployment,
  DeploymentRevision,
  DeploymentStatus,
  LogEntry,
  PHASES,
  StatusTransition,
  type DeploymentRevisionRow,
  type DeploymentRow,
  type DeploymentStatusRow,
} from './entities.js';
import { DeploymentService } from './service.js';
import type { Context } from '../context.js';
import { checkSettings } from '../validation/settings.js';

export const ComposeTypeEnum = builder.enumType('ComposeType', { values: COMPOSE_TYPES });
export const DeploymentPhaseEnum = builder.enumType('DeploymentPhase', { values: PHASES });

export const DeploymentRef = builder.loadableObjectRef<DeploymentRow, string>('Deployment', { load: loadByIds(Deployment), sort: byId });
const RevisionRef = builder.loadableObjectRef<DeploymentRevisionRow, string>('DeploymentRevision', {
  load: loadByIds(DeploymentRevision),
  sort: byId,
});
/** Keyed by deployment id (one status row per deployment); null before the first report. */
const StatusRef = builder.loadableObjectRef<DeploymentStatusRow, string>('DeploymentStatus', {
  load: (ids: string[], ctx: Context) => ctx.em.find(DeploymentStatus, { deployment: { $in: ids } }),
  sort: (s) => s.deployment.id,
});
const TransitionRef = builder.objectRef<StatusTransition>('StatusTransition');
export const LogEntryRef = builder.objectRef<LogEntry>('LogEntry');

const HelmOptionsRef = builder.objectRef<NonNullable<Deployment['helmOptions']>>('HelmOptions').implement({
  fields: (t) => ({
    timeoutSeconds: t.exposeInt('timeoutSeconds'),
    atomic: t.exposeBoolean('atomic'),
    wait: t.exposeBoolean('wait'),
    ignoreDrift: t.exposeBoolean('ignoreDrift', { description: 'Do not report an error when the release was changed outside distr.' }),
  }),
});

const ResourceStatusRef = builder.objectRef<{ kind: string; name: string; phase: (typeof PHASES)[number]; message: string }>('ResourceStatus').implement({
  fields: (t) => ({
    kind: t.exposeString('kind'),
    name: t.exposeString('name'),
    phase: t.field({ type: DeploymentPhaseEnum, resolve: (r) => r.phase }),
    message: t.exposeString('message'),
  }),
});

DeploymentRef.implement({
  description: 'An application running on a target; its configuration lives in append-only revisions.',
  fields: (t) => ({
    id: t.exposeID('id'),
    // A listed deployment (./list.ts) has its nested rows joined; an entity loads them by id.
    target: t.field({ type: DeploymentTargetRef, resolve: (d) => d.joined?.target ?? d.target.id }),
    application: t.field({ type: ApplicationRef, resolve: (d) => d.joined?.application ?? d.application.id }),
    composeType: t.field({ type: ComposeTypeEnum, nullable: true, resolve: (d) => d.composeType ?? null }),
    releaseName: t.string({ nullable: true, resolve: (d) => d.releaseName ?? null }),
    helmOptions: t.field({ type: HelmOptionsRef, nullable: true, resolve: (d) => d.helmOptions ?? null }),
    currentRevision: t.field({ type: RevisionRef, resolve: (d) => d.joined?.revision ?? d.currentRevision!.id }),
    status: t.field({
      type: StatusRef,
      nullable: true,
      description: 'The latest status the agent reported; null before the first report.',
      resolve: (d) => (d.joined ? d.joined.status : d.id),
    }),
    revisions: t.connection({
      type: RevisionRef,
      description: 'Newest first.',
      resolve: (d, args, ctx) =>
        resolveOffsetConnection({ args }, ({ limit, offset }) =>
          ctx.em.find(DeploymentRevision, { deployment: d.id }, { orderBy: { createdAt: 'desc', id: 'desc' }, limit, offset }),
        ),
    }),
    statusHistory: t.connection({
      type: TransitionRef,
      description: 'Status transitions, newest first (repeated identical reports add nothing).',
      resolve: (d, args, ctx) =>
        resolveOffsetConnection({ args }, ({ limit, offset }) =>
          ctx.em.find(StatusTransition, { deployment: d.id }, { orderBy: { at: 'desc', id: 'desc' }, limit, offset }),
        ),
    }),
    logs: t.field({
      type: [LogEntryRef],
      description: 'Recent log lines pushed by the agent (when logs are enabled on the target), oldest first.',
      args: { limit: t.arg.int({ defaultValue: 200 }), since: t.arg({ type: 'DateTime' }) },
      resolve: async (d, args, ctx) => {
        const limit = Math.min(Math.max(args.limit ?? 200, 1), 1000);
        const rows = await ctx.em.find(
          LogEntry,
          { deployment: d.id, ...(args.since ? { timestamp: { $gt: args.since } } : {}) },
          { orderBy: { timestamp: 'desc', id: 'desc' }, limit },
        );
        return rows.reverse();
      },
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
  }),
});

RevisionRef.implement({
  description: 'One immutable configuration of a deployment: version plus env file (docker) or values (kubernetes).',
  fields: (t) => ({
    id: t.exposeID('id'),
    version: t.field({ type: ApplicationVersionRef, resolve: (r) => r.joined?.version ?? r.version.id }),
    envFile: t.string({ nullable: true, resolve: (r) => r.envFile ?? null }),
    valuesYaml: t.string({ nullable: true, resolve: (r) => r.valuesYaml ?? null }),
    forceRestart: t.exposeBoolean('forceRestart'),
    createdBy: t.exposeString('createdBy'),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
  }),
});

StatusRef.implement({
  fields: (t) => ({
    revisionId: t.exposeID('revisionId', { description: 'The revision the agent was running when it reported.' }),
    phase: t.field({ type: DeploymentPhaseEnum, resolve: (s) => s.phase }),
    message: t.exposeString('message'),
    resources: t.field({ type: [ResourceStatusRef], resolve: (s) => (s.resources ?? []) as never }),
    reportedAt: t.field({ type: 'DateTime', resolve: (s) => s.reportedAt }),
    changedAt: t.field({ type: 'DateTime', resolve: (s) => s.changedAt }),
  }),
});

TransitionRef.implement({
  fields: (t) => ({
    revisionId: t.exposeID('revisionId'),
    phase: t.field({ type: DeploymentPhaseEnum, resolve: (s) => s.phase }),
    message: t.exposeString('message'),
    at: t.field({ type: 'DateTime', resolve: (s) => s.at }),
  }),
});

LogEntryRef.implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Increases with every stored line of a deployment.' }),
    resource: t.exposeString('resource'),
    stream: t.exposeString('stream'),
    timestamp: t.field({ type: 'DateTime', resolve: (l) => l.timestamp }),
    line: t.exposeString('line'),
  }),
});

const RolloutResultRef = builder.objectRef<{ deployments: Deployment[] }>('RolloutResult').implement({
  fields: (t) => ({
    deployments: t.field({ type: [DeploymentRef], resolve: (r) => r.deployments }),
    count: t.int({ resolve: (r) => r.deployments.length }),
  }),
});

builder.queryFields((t) => ({
  deployments: t.connection({
    type: DeploymentRef,
    authScopes: { vendor: true },
    args: { targetId: t.arg.id(), applicationId: t.arg.id() },
    resolve: (_root, args, ctx) =>
      resolveOffsetConnection({ args }, ({ limit, offset }) =>
        new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).listDeployments(
          { targetId: args.targetId ? String(args.targetId) : null, applicationId: args.applicationId ? String(args.applicationId) : null },
          limit,
          offset,
        ),
      ),
  }),
  deployment: t.field({
    type: DeploymentRef,
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).getDeployment(String(args.id)),
  }),
}));

const HelmOptionsInput = builder.inputType('HelmOptionsInput', {
  fields: (t) => ({
    timeoutSeconds: t.int({ description: 'helm --timeout in seconds (10..3600, default 300).' }),
    atomic: t.boolean({ description: 'helm --atomic: roll back a failed upgrade (default false).' }),
    wait: t.boolean({ description: 'helm --wait (default false; the agent watches readiness itself).' }),
    ignoreDrift: t.boolean({ description: 'Upgrade even when the release was changed outside distr (default false).' }),
  }),
});

const DockerDeploymentInput = builder.inputType('DockerDeploymentInput', {
  fields: (t) => ({
    composeType: t.field({ type: ComposeTypeEnum, required: true }),
    envFile: t.string({ description: '.env entries layered over the version\'s env template.' }),
  }),
});

const KubernetesDeploymentInput = builder.inputType('KubernetesDeploymentInput', {
  fields: (t) => ({
    releaseName: t.string({ required: true, description: 'Helm release name: a DNS-1123 label, unique per target.' }),
    valuesYaml: t.string({ description: "Values deep-merged over the version's base values." }),
    helmOptions: t.field({ type: HelmOptionsInput }),
  }),
});

const CreateDeploymentInput = builder.inputType('CreateDeploymentInput', {
  fields: (t) => ({
    targetId: t.id({ required: true }),
    versionId: t.id({ required: true }),
    docker: t.field({ type: DockerDeploymentInput, description: 'Required for docker applications.' }),
    kubernetes: t.field({ type: KubernetesDeploymentInput, description: 'Required for kubernetes applications.' }),
  }),
});

export const UpdateDeploymentInput = builder.inputType('UpdateDeploymentInput', {
  fields: (t) => ({
    versionId: t.id({ description: 'Switch to this version of the same application.' }),
    envFile: t.string(),
    valuesYaml: t.string(),
    helmOptions: t.field({ type: HelmOptionsInput }),
  }),
});

builder.mutationFields((t) => ({
  createDeployment: t.field({
    type: DeploymentRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateDeploymentInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).createDeployment({
        targetId: String(input.targetId),
        versionId: String(input.versionId),
        docker: input.docker,
        kubernetes: input.kubernetes ? { ...input.kubernetes, ...(input.kubernetes.helmOptions ?? {}) } : null,
      }),
  }),
  updateDeployment: t.field({
    type: DeploymentRef,
    description: 'Switch version and/or change configuration; appends a revision the agent applies.',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateDeploymentInput, required: true }) },
    resolve: (_root, args, ctx) =>
      new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).updateDeployment(String(args.id), {
        ...args.input,
        versionId: args.input.versionId ? String(args.input.versionId) : null,
      }),
  }),
  forceRestartDeployment: t.field({
    type: DeploymentRef,
    description: "Restart the deployment's containers / workloads without changing them.",
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).forceRestart(String(args.id)),
  }),
  deleteDeployment: t.field({
    type: DeletedRef,
    description: 'Undeploy. Named volumes (docker) are kept unless removeVolumes is true.',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), removeVolumes: t.arg.boolean({ defaultValue: false }) },
    resolve: (_root, args, ctx) => new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).deleteDeployment(String(args.id), args.removeVolumes ?? false).then((id) => ({ id })),
  }),
  rolloutApplicationVersion: t.field({
    type: RolloutResultRef,
    description: 'Move every deployment of an application (optionally only on the given targets) to a version, in one transaction.',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { applicationId: t.arg.id({ required: true }), versionId: t.arg.id({ required: true }), targetIds: t.arg.idList() },
    resolve: (_root, args, ctx) =>
      new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env)).rollout(
        String(args.applicationId),
        String(args.versionId),
        args.targetIds?.map(String) ?? null,
      ).then((deployments) => ({ deployments })),
  }),
}));
