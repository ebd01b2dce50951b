/** Runtime previews on the vendor's surface: request one of a deployment's agent, read and watch it. */
import { PushChannel } from '../agents/channel.js';
import { ServiceChangeEnum } from '../agents/preview-request-types.js';
import type { BusTopics } from '../events/bus.js';
import { builder, vendorOf } from '../schema/builder.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { ApplicationVersionRef } from '../applications/types.js';
import { DeploymentRef, UpdateDeploymentInput } from '../deployments/types.js';
import { connectedTargetIds } from '../targets/service.js';
import { DeploymentTargetRef } from '../targets/types.js';
import { checkSettings } from '../validation/settings.js';
import type { Context } from '../context.js';
import { RUNTIME_PREVIEW_STATES, RuntimePreview, type RuntimePreviewServiceChange } from './entities.js';
import { effectiveState, RuntimePreviewService } from './runtime-preview.js';

const StateEnum = builder.enumType('RuntimePreviewState', {
  values: {
    pending: { description: "Waiting for the deployment's agent (offline agents get it when they connect)." },
    done: { description: 'The agent answered with a diff.' },
    failed: { description: 'The agent could not preview; `message` says why.' },
    expired: { description: 'The agent did not answer before `expiresAt`.' },
  } satisfies Record<(typeof RUNTIME_PREVIEW_STATES)[number], unknown>,
});

const ServiceRef = builder.objectRef<RuntimePreviewServiceChange>('RuntimePreviewService').implement({
  description: 'What one service of the running project would undergo.',
  fields: (t) => ({
    name: t.exposeString('name'),
    change: t.field({ type: ServiceChangeEnum, resolve: (s) => s.change }),
    imageBefore: t.exposeString('imageBefore', { nullable: true, description: 'The image its running container uses.' }),
    imageAfter: t.exposeString('imageAfter', { nullable: true, description: 'The image the candidate names.' }),
    imageChanged: t.boolean({ resolve: (s) => s.imageBefore !== s.imageAfter && s.imageBefore !== null && s.imageAfter !== null }),
  }),
});

const connected = async (ctx: Context, p: RuntimePreview) => (await connectedTargetIds(ctx.em, [p.target.id])).has(p.target.id);

export const RuntimePreviewRef = builder.objectRef<RuntimePreview>('RuntimePreview').implement({
  description: "A runtime preview asked of a deployment's agent: the candidate against what actually runs there. Secrets shown only as [redacted secrets.NAME].",
  fields: (t) => ({
    id: t.exposeID('id'),
    deployment: t.field({ type: DeploymentRef, resolve: (p) => p.deployment.id }),
    target: t.field({ type: DeploymentTargetRef, resolve: (p) => p.target.id }),
    toVersion: t.field({ type: ApplicationVersionRef, resolve: (p) => p.version.id }),
    state: t.field({ type: StateEnum, resolve: (p) => effectiveState(p) }),
    agentConnected: t.boolean({ description: "Whether the target's agent is connected now.", resolve: (p, _a, ctx) => connected(ctx, p) }),
    waitingFor: t.string({
      nullable: true,
      description: 'While pending: what it waits for, in words.',
      resolve: async (p, _a, ctx) => {
        if (effectiveState(p) !== 'pending') return null;
        return (await connected(ctx, p))
          ? "the agent's answer"
          : `the target's agent, which is offline: the request stays pending until ${p.expiresAt.toISOString()}, then expires`;
      },
    }),
    requestedBy: t.exposeString('requestedBy'),
    requestedAt: t.field({ type: 'DateTime', resolve: (p) => p.requestedAt }),
    expiresAt: t.field({ type: 'DateTime', resolve: (p) => p.expiresAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.completedAt ?? null }),
    baseRevisionId: t.exposeID('baseRevisionId', { nullable: true, description: 'The revision the agent ran when it compared; null: none of this deployment ran there.' }),
    diff: t.exposeString('diff', { nullable: true, description: "Unified diff of the normalized configuration, what runs → the candidate (docker: `docker compose config`)." }),
    services: t.field({ type: [ServiceRef], nullable: true, resolve: (p) => p.services ?? null }),
    detail: t.string({ nullable: true, description: "The agent's failure, or a note on the comparison.", resolve: (p) => p.message ?? null }),
  }),
});

const service = (ctx: Context, em = ctx.em) => new RuntimePreviewService(em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env));

builder.mutationFields((t) => ({
  requestRuntimePreview: t.field({
    type: RuntimePreviewRef,
    description:
      "Ask the deployment's agent what its runtime would do with what updateDeployment(id, input) would make current. Answered asynchronously: watch runtimePreviewChanged(id). Never blocks updates.",
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: {
      deploymentId: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateDeploymentInput, required: true }),
      expiresInSeconds: t.arg.int({ description: 'How long the request waits for the agent (10–3600, default 600).' }),
    },
    resolve: (_root, args, ctx) =>
      service(ctx).request(String(args.deploymentId), { ...args.input, versionId: args.input.versionId ? String(args.input.versionId) : null }, args.expiresInSeconds ?? null),
  }),
}));

builder.queryFields((t) => ({
  runtimePreview: t.field({
    type: RuntimePreviewRef,
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => service(ctx).get(String(args.id)),
  }),
  runtimePreviews: t.field({
    type: [RuntimePreviewRef],
    description: "A deployment's runtime previews, newest first.",
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { deploymentId: t.arg.id({ required: true }), limit: t.arg.int({ defaultValue: 20 }) },
    resolve: (_root, args, ctx) => service(ctx).listForDeployment(String(args.deploymentId), Math.min(Math.max(args.limit ?? 20, 1), 100)),
  }),
}));

builder.subscriptionFields((t) => ({
  runtimePreviewChanged: t.field({
    type: RuntimePreviewRef,
    description: 'The runtime preview now, then again when it is answered or expires.',
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_r, args, ctx) => {
      const first = await service(ctx, ctx.em.fork()).get(String(args.id));
      let off = () => {};
      let expiry: NodeJS.Timeout | undefined;
      const channel = new PushChannel<RuntimePreview>({ latestOnly: true, onClose: () => (off(), clearTimeout(expiry)) });
      // A fresh EntityManager per event: the answer must not come from a cache.
      const reload = () => void service(ctx, ctx.hub.rootEm.fork()).get(first.id).then((p) => channel.push(p), () => {});
      off = ctx.hub.bus.on('runtimePreviewChanged', (e: BusTopics['runtimePreviewChanged']) => e.previewId === first.id && reload());
      // Expiry is a stored time, not an event: one timer for it, re-reading the row when it passes.
      if (first.state === 'pending') expiry = setTimeout(reload, Math.max(0, first.expiresAt.getTime() - Date.now()) + 50);
      channel.push(first);
      return channel;
    },
    resolve: (p: RuntimePreview) => p,
  }),
}));
