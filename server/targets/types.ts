import { resolveOffsetConnection } from '@pothos/plugin-relay';
import { builder, vendorOf } from '../schema/builder.js';
import { DeletedRef, MUTATION_ERRORS } from '../schema/errors.js';
import { byId, loadByIds } from '../schema/loaders.js';
import { DeploymentTypeEnum } from '../applications/types.js';
import { DeploymentTarget, TARGET_SCOPES } from './entities.js';
import { connectedTargetIds, TargetService, type TargetAccess } from './service.js';

export const TargetScopeEnum = builder.enumType('TargetScope', { values: TARGET_SCOPES });

export const DeploymentTargetRef = builder.loadableObjectRef<DeploymentTarget, string>('DeploymentTarget', {
  load: loadByIds(DeploymentTarget),
  sort: byId,
});

const AgentLivenessRef = builder.objectRef<DeploymentTarget>('AgentLiveness');
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
  }),
});

builder.queryFields((t) => ({
  deploymentTargets: t.connection({
    type: DeploymentTargetRef,
    authScopes: { vendor: true },
    args: { type: t.arg({ type: DeploymentTypeEnum }) },
    resolve: (_root, args, ctx) =>
      resolveOffsetConnection({ args }, ({ limit, offset }) => new TargetService(ctx.em, vendorOf(ctx), ctx.hub).listTargets(limit, offset, args.type)),
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
  }),
});

const UpdateTargetInput = builder.inputType('UpdateDeploymentTargetInput', {
  fields: (t) => ({ name: t.string(), logsEnabled: t.boolean() }),
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
