import { resolveOffsetConnection } from '@pothos/plugin-relay';
import { builder, vendorOf } from '../schema/builder.js';
import { DeletedRef, MUTATION_ERRORS } from '../schema/errors.js';
import { byId, loadByIds } from '../schema/loaders.js';
import { DeploymentTypeEnum } from '../applications/types.js';
import { DeploymentTarget, TARGET_SCOPES, type DeploymentTargetRow } from './entities.js';
import { WEEKDAYS, type MaintenanceWindow } from '../rollouts/windows.js';
import { connectedTargetIds, TargetService, type TargetAccess } from './service.js';

export const LabelRef = builder.objectRef<{ key: string; value: string }>('Label').implement({
  fields: (t) => ({ key: t.exposeString('key'), value: t.exposeString('value') }),
});

export const LabelInput = builder.inputType('LabelInput', {
  fields: (t) => ({ key: t.string({ required: true }), value: t.string({ required: true }) }),
});

export const WeekdayEnum = builder.enumType('Weekday', { values: WEEKDAYS });

const MaintenanceWindowRef = builder.objectRef<MaintenanceWindow>('MaintenanceWindow').implement({
  description: "A weekly range in the target's time zone; an end not after the start runs over midnight.",
  fields: (t) => ({
    days: t.field({ type: [WeekdayEnum], resolve: (w) => w.days }),
    start: t.exposeString('start', { description: 'HH:MM, local time.' }),
    end: t.exposeString('end', { description: 'HH:MM, local time.' }),
  }),
});

const MaintenanceWindowInput = builder.inputType('MaintenanceWindowInput', {
  fields: (t) => ({
    days: t.field({ type: [WeekdayEnum], required: true }),
    start: t.string({ required: true, description: 'HH:MM (24 h), local time.' }),
    end: t.string({ required: true, description: 'HH:MM (24 h); not after start: the window runs over midnight.' }),
  }),
});

export const TargetScopeEnum = builder.enumType('TargetScope', { values: TARGET_SCOPES });

export const DeploymentTargetRef = builder.loadableObjectRef<DeploymentTargetRow, string>('DeploymentTarget', {
  load: loadByIds(DeploymentTarget),
  sort: byId,
});

const FailedLoginRef = builder.objectRef<{ at: Date; reason: string }>('AgentFailedLogin').implement({
  fields: (t) => ({ at: t.field({ type: 'DateTime', resolve: (f) => f.at }), reason: t.exposeString('reason') }),
});

const AgentLivenessRef = builder.objectRef<DeploymentTargetRow>('AgentLiveness');
AgentLivenessRef.implement({
  description: "The target's agent: connected while its socket is open on any hub replica.",
  fields: (t) => ({
    connected: t.loadable({
      type: 'Boolean',
      load: async (ids: string[], ctx) => {
        const live = await connectedTargetIds(ctx.em, ids);
        return ids.map((id) => live.has(id));
      },
      resolve: (target) => target.id,
    }),
    lastSeenAt: t.field({ type: 'DateTime', nullable: true, resolve: (t) => t.lastSeenAt ?? null }),
    agentVersion: t.string({ nullable: true, resolve: (t) => t.agentVersion ?? null }),
    agentHost: t.string({ nullable: true, resolve: (t) => t.agentHost ?? null }),
    lastFailedLogin: t.field({
      type: FailedLoginRef,
      nullable: true,
      description: "The last refused login of this target's agent (time and reason): why an agent may never connect.",
      resolve: (t) => (t.lastLoginFailureAt ? { at: t.lastLoginFailureAt, reason: t.lastLoginFailureReason ?? 'unknown' } : null),
    }),
  }),
});

DeploymentTargetRef.implement({
  description: 'A docker host or a kubernetes namespace/cluster where one agent runs deployments.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    type: t.field({ type: DeploymentTypeEnum, resolve: (x) => x.type }),
    namespace: t.string({ nullable: true, resolve: (x) => x.namespace ?? null }),
    scope: t.field({ type: TargetScopeEnum, nullable: true, resolve: (x) => x.scope ?? null }),
    logsEnabled: t.exposeBoolean('logsEnabled'),
    labels: t.field({
      type: [LabelRef],
      description: 'Key/value labels set by the vendor (Kubernetes label syntax), sorted by key; rollouts select targets by them.',
      resolve: (x) => Object.entries(x.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value })),
    }),
    timeZone: t.exposeString('timeZone', { description: 'IANA time zone the maintenance windows are read in.' }),
    maintenanceWindows: t.field({
      type: [MaintenanceWindowRef],
      description: 'Weekly ranges when rollouts may update this target; empty: any time.',
      resolve: (x) => (x.maintenanceWindows ?? []) as never,
    }),
    hasAccess: t.boolean({ description: 'Whether an agent credential has been created.', resolve: (x) => x.credentialHash != null }),
    agent: t.field({ type: AgentLivenessRef, resolve: (x) => x }),
    createdAt: t.field({ type: 'DateTime', resolve: (x) => x.createdAt }),
  }),
});

const TargetAccessRef = builder.objectRef<TargetAccess>('DeploymentTargetAccess').implement({
  description: 'A new agent credential. The secret is shown only here, once.',
  fields: (t) => ({
    target: t.field({ type: DeploymentTargetRef, resolve: (a) => a.target }),
    targetId: t.id({ resolve: (a) => a.target.id }),
    secret: t.exposeString('secret'),
    hubUrl: t.exposeString('hubUrl'),
    installCommand: t.exposeString('installCommand', { description: 'Shell commands that install the agent: they ask for the secret and keep it in a private file (docker run mounts it, helm install --set-file reads it), so it never appears on a command line.' }),
    installComposeFile: t.exposeString('installComposeFile', { nullable: true, description: 'docker targets: the agent as a compose file (next to a target-secret file).' }),
    warnings: t.exposeStringList('warnings', { description: 'Problems with these instructions, e.g. a hub URL agents cannot reach.' }),
  }),
});

builder.queryFields((t) => ({
  deploymentTargets: t.connection({
    type: DeploymentTargetRef,
    authScopes: { vendor: true },
    args: {
      type: t.arg({ type: DeploymentTypeEnum }),
      selector: t.arg.string({ description: 'A label selector, e.g. `region=eu,tier in (gold,silver),!legacy`.' }),
      nameContains: t.arg.string({ description: 'Only targets whose name contains this text (case-insensitive).' }),
    },
    resolve: (_root, args, ctx) =>
      resolveOffsetConnection({ args }, ({ limit, offset }) =>
        new TargetService(ctx.em, vendorOf(ctx), ctx.hub).listTargets(limit, offset, args.type, args.selector, args.nameContains),
      ),
  }),
  deploymentTarget: t.field({
    type: DeploymentTargetRef,
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new TargetService(ctx.em, vendorOf(ctx), ctx.hub).getTarget(String(args.id)),
  }),
}));

const CreateTargetInput = builder.inputType('CreateDeploymentTargetInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    type: t.field({ type: DeploymentTypeEnum, required: true }),
    namespace: t.string({ description: 'Required for kubernetes targets.' }),
    scope: t.field({ type: TargetScopeEnum, description: 'Required for kubernetes targets.' }),
    logsEnabled: t.boolean({ description: 'Stream deployment logs to the hub (default false).' }),
    labels: t.field({ type: [LabelInput] }),
    timeZone: t.string({ description: 'IANA time zone of the maintenance windows (default UTC).' }),
    maintenanceWindows: t.field({ type: [MaintenanceWindowInput] }),
  }),
});

const UpdateTargetInput = builder.inputType('UpdateDeploymentTargetInput', {
  fields: (t) => ({
    name: t.string(),
    logsEnabled: t.boolean(),
    labels: t.field({ type: [LabelInput], description: 'Replaces all labels ([] removes them).' }),
    timeZone: t.string(),
    maintenanceWindows: t.field({ type: [MaintenanceWindowInput], description: 'Replaces all windows ([]: updates any time).' }),
  }),
});

builder.mutationFields((t) => ({
  createDeploymentTarget: t.field({
    type: DeploymentTargetRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateTargetInput, required: true }) },
    resolve: (_root, { input }, ctx) => new TargetService(ctx.em, vendorOf(ctx), ctx.hub).createTarget(input),
  }),
  updateDeploymentTarget: t.field({
    type: DeploymentTargetRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateTargetInput, required: true }) },
    resolve: (_root, args, ctx) => new TargetService(ctx.em, vendorOf(ctx), ctx.hub).updateTarget(String(args.id), args.input),
  }),
  deleteDeploymentTarget: t.field({
    type: DeletedRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new TargetService(ctx.em, vendorOf(ctx), ctx.hub).deleteTarget(String(args.id)).then((id) => ({ id })),
  }),
  createDeploymentTargetAccess: t.field({
    type: TargetAccessRef,
    description: "Create or rotate the target's agent credential. Tokens issued under the old secret stop working at once.",
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { targetId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new TargetService(ctx.em, vendorOf(ctx), ctx.hub).createAccess(String(args.targetId)),
  }),
}));
