/** The preview queries: dry runs of an update or a rollout, as diffs per deployment (nothing written). */
import { builder, vendorOf } from '../schema/builder.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { ApplicationRef, ApplicationVersionRef } from '../applications/types.js';
import { DeploymentRef, UpdateDeploymentInput } from '../deployments/types.js';
import { DeploymentTargetRef } from '../targets/types.js';
import { FindingRef } from '../validation/finding-type.js';
import { checkSettings } from '../validation/settings.js';
import type { Context } from '../context.js';
import { PreviewService, type DeploymentPreview, type PreviewFile, type RolloutPreview } from './preview.js';
import { CreateRolloutInput } from './types.js';

const PreviewFileRef = builder.objectRef<PreviewFile>('PreviewFile').implement({
  description: 'One file of what the agent receives, now and after the change; secrets shown as [redacted secrets.NAME].',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'compose.yaml and .env (docker); chart.yaml, values.yaml and helm-options.yaml (kubernetes).' }),
    before: t.exposeString('before', { description: 'What the agent receives now (its current revision).' }),
    after: t.exposeString('after', { description: 'What it would receive.' }),
    changed: t.boolean({ resolve: (f) => f.diff !== null }),
    diff: t.string({ nullable: true, description: 'Unified diff, null when unchanged.', resolve: (f) => f.diff }),
  }),
});

const DeploymentPreviewRef = builder.objectRef<DeploymentPreview>('DeploymentPreview').implement({
  description: "What one deployment's agent would receive instead of what it has, and the checks of the new configuration.",
  fields: (t) => ({
    deployment: t.field({ type: DeploymentRef, resolve: (p) => p.deploymentId }),
    deploymentId: t.id({ resolve: (p) => p.deploymentId }),
    target: t.field({ type: DeploymentTargetRef, resolve: (p) => p.targetId }),
    wave: t.int({ nullable: true, description: 'Rollout previews: the wave it would be in (0 = canary).', resolve: (p) => p.wave }),
    fromVersion: t.field({ type: ApplicationVersionRef, resolve: (p) => p.fromVersionId }),
    toVersion: t.field({ type: ApplicationVersionRef, resolve: (p) => p.toVersionId }),
    changed: t.boolean({ description: 'Some file changes.', resolve: (p) => p.files.some((f) => f.diff !== null) }),
    files: t.field({ type: [PreviewFileRef], resolve: (p) => p.files }),
    secrets: t.stringList({ description: 'Names of the secrets the new revision renders (never their values).', resolve: (p) => p.secrets }),
    ok: t.boolean({ description: 'No finding is an error.', resolve: (p) => !p.findings.some((f) => f.severity === 'error') }),
    findings: t.field({ type: [FindingRef], resolve: (p) => p.findings }),
  }),
});

const RolloutPreviewRef = builder.objectRef<RolloutPreview>('RolloutPreview').implement({
  description: 'What createRollout would do: its waves and, per deployment in plan order, the diff of what its agent would receive.',
  fields: (t) => ({
    application: t.field({ type: ApplicationRef, resolve: (p) => p.applicationId }),
    version: t.field({ type: ApplicationVersionRef, resolve: (p) => p.versionId }),
    waveSizes: t.intList({ resolve: (p) => p.waveSizes }),
    ok: t.boolean({ description: 'No deployment has an error finding.', resolve: (p) => p.deployments.every((d) => !d.findings.some((f) => f.severity === 'error')) }),
    deployments: t.field({ type: [DeploymentPreviewRef], resolve: (p) => p.deployments }),
  }),
});

const previews = (ctx: Context) => new PreviewService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env));

builder.queryFields((t) => ({
  previewRollout: t.field({
    type: RolloutPreviewRef,
    description: 'Dry run of createRollout: the typed errors it would return, or its plan with a diff per deployment. Nothing is written.',
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateRolloutInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      previews(ctx).previewRollout({
        ...input,
        applicationId: String(input.applicationId),
        versionId: String(input.versionId),
        deploymentIds: input.deploymentIds?.map(String) ?? null,
      }),
  }),
  previewDeploymentUpdate: t.field({
    type: DeploymentPreviewRef,
    description: 'Dry run of updateDeployment: the typed errors it would return, or the diff of what the agent would receive. Nothing is written.',
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateDeploymentInput, required: true }) },
    resolve: (_root, args, ctx) =>
      previews(ctx).previewDeploymentUpdate(String(args.id), { ...args.input, versionId: args.input.versionId ? String(args.input.versionId) : null }),
  }),
}));
