/**
 * The dry-run checks as API (the troubleshooting flow): findings for a version or a deployment
 * before it is created, and for an existing deployment. Nothing here writes.
 */
import { builder, vendorOf } from '../schema/builder.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { ApplicationService } from '../applications/service.js';
import { ChartTypeEnum } from '../applications/types.js';
import { DeploymentService } from '../deployments/service.js';
import { ComposeTypeEnum } from '../deployments/types.js';
import { NotFoundError, InvalidInputError } from '../errors.js';
import type { Context } from '../context.js';
import type { Finding } from './findings.js';
import { checkSettings } from './settings.js';
import { FindingRef } from './finding-type.js';

interface ValidationResult {
  findings: Finding[];
  chartDigest: string | null;
}

const ValidationResultRef = builder.objectRef<ValidationResult>('ValidationResult').implement({
  fields: (t) => ({
    ok: t.boolean({ description: 'No finding is an error.', resolve: (r) => !r.findings.some((f) => f.severity === 'error') }),
    findings: t.field({ type: [FindingRef], resolve: (r) => r.findings }),
    chartDigest: t.string({ nullable: true, description: 'Kubernetes versions: the digest of the chart archive the hub resolved.', resolve: (r) => r.chartDigest }),
  }),
});

const ValidateVersionInput = builder.inputType('ValidateApplicationVersionInput', {
  description: 'What createDockerApplicationVersion or createKubernetesApplicationVersion would receive (without a name).',
  fields: (t) => ({
    applicationId: t.id({ required: true }),
    composeFile: t.string(),
    envTemplate: t.string(),
    chartType: t.field({ type: ChartTypeEnum }),
    chartUrl: t.string(),
    chartName: t.string(),
    chartVersion: t.string(),
    baseValues: t.string(),
    valuesTemplate: t.string(),
  }),
});

const ValidateDeploymentInput = builder.inputType('ValidateDeploymentInput', {
  description: 'What createDeployment would receive.',
  fields: (t) => ({
    targetId: t.id({ required: true }),
    versionId: t.id({ required: true }),
    composeType: t.field({ type: ComposeTypeEnum }),
    envFile: t.string(),
    releaseName: t.string(),
    valuesYaml: t.string(),
  }),
});

const applications = (ctx: Context) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring);
const deployments = (ctx: Context) => new DeploymentService(ctx.em, vendorOf(ctx), ctx.hub, checkSettings(ctx.hub.env));

builder.queryFields((t) => ({
  validateApplicationVersion: t.field({
    type: ValidationResultRef,
    description: 'Run the checks createDocker/KubernetesApplicationVersion runs, without creating anything.',
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: ValidateVersionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const service = applications(ctx);
      const app = await service.getApplication(String(input.applicationId));
      if (app.type === 'docker') {
        if (input.composeFile == null) throw new InvalidInputError('composeFile', 'is required for docker applications');
        return { findings: await service.checkDockerVersion(app.id, { composeFile: input.composeFile, envTemplate: input.envTemplate }), chartDigest: null };
      }
      if (!input.chartType) throw new InvalidInputError('chartType', 'is required for kubernetes applications');
      if (input.chartUrl == null) throw new InvalidInputError('chartUrl', 'is required for kubernetes applications');
      if (input.chartVersion == null) throw new InvalidInputError('chartVersion', 'is required for kubernetes applications');
      const { findings, chart } = await service.checkKubernetesVersion(app.id, { ...input, chartType: input.chartType, chartUrl: input.chartUrl, chartVersion: input.chartVersion });
      return { findings, chartDigest: chart?.digest ?? null };
    },
  }),
  validateDeployment: t.field({
    type: ValidationResultRef,
    description: 'Run the checks createDeployment runs (env file against the compose file, values against the chart), without creating anything.',
    authScopes: { vendor: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: ValidateDeploymentInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      findings: await deployments(ctx).validateDeployment({
        targetId: String(input.targetId),
        versionId: String(input.versionId),
        docker: input.composeType || input.envFile != null ? { composeType: input.composeType ?? 'compose', envFile: input.envFile } : null,
        kubernetes: input.releaseName || input.valuesYaml != null ? { releaseName: input.releaseName ?? '', valuesYaml: input.valuesYaml } : null,
      }),
      chartDigest: null,
    }),
  }),
  checkDeployment: t.field({
    type: ValidationResultRef,
    description: "The troubleshooting checks of an existing deployment's current configuration.",
    authScopes: { vendor: true },
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({ findings: await deployments(ctx).checkDeployment(String(args.id)), chartDigest: null }),
  }),
}));
