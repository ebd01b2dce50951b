import { resolveOffsetConnection } from '@pothos/plugin-relay';
import { builder, vendorOf } from '../schema/builder.js';
import { DeletedRef, MUTATION_ERRORS } from '../schema/errors.js';
import { byId, loadByIds } from '../schema/loaders.js';
import { Application, ApplicationVersion, CHART_TYPES, DEPLOYMENT_TYPES, type ApplicationRow, type ApplicationVersionRow } from './entities.js';
import { ApplicationService } from './service.js';
import { checkSettings } from '../validation/settings.js';
import type { Finding } from '../validation/findings.js';
import { FindingRef } from '../validation/finding-type.js';

export const DeploymentTypeEnum = builder.enumType('DeploymentType', { values: DEPLOYMENT_TYPES });
export const ChartTypeEnum = builder.enumType('ChartType', { values: CHART_TYPES });

export const ApplicationRef = builder.loadableObjectRef<ApplicationRow, string>('Application', {
  load: loadByIds(Application),
  sort: byId,
});
export const ApplicationVersionRef = builder.loadableObjectRef<ApplicationVersionRow, string>('ApplicationVersion', {
  load: loadByIds(ApplicationVersion),
  sort: byId,
});

ApplicationRef.implement({
  description: 'Something a vendor ships; its type (docker or kubernetes) is fixed at creation.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    type: t.field({ type: DeploymentTypeEnum, resolve: (a) => a.type }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
    versions: t.loadableGroup({
      type: ApplicationVersionRef,
      description: 'All versions, oldest first (archived ones included; see archivedAt).',
      load: (ids: string[], ctx) => ctx.em.find(ApplicationVersion, { application: { $in: ids } }, { orderBy: { createdAt: 'asc', id: 'asc' } }),
      group: (v) => (v as ApplicationVersion).application.id,
      resolve: (a) => a.id,
    }),
  }),
});

ApplicationVersionRef.implement({
  description: 'An immutable version: a compose file and .env template (docker) or a Helm chart reference and values (kubernetes).',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    application: t.field({ type: ApplicationRef, resolve: (v) => v.joined?.application ?? v.application.id }),
    composeFile: t.string({ nullable: true, resolve: (v) => v.composeFile ?? null }),
    envTemplate: t.string({ nullable: true, resolve: (v) => v.envTemplate ?? null }),
    chartType: t.field({ type: ChartTypeEnum, nullable: true, resolve: (v) => v.chartType ?? null }),
    chartUrl: t.string({ nullable: true, resolve: (v) => v.chartUrl ?? null }),
    chartName: t.string({ nullable: true, resolve: (v) => v.chartName ?? null }),
    chartVersion: t.string({ nullable: true, resolve: (v) => v.chartVersion ?? null }),
    baseValues: t.string({ nullable: true, resolve: (v) => v.baseValues ?? null }),
    valuesTemplate: t.string({ nullable: true, resolve: (v) => v.valuesTemplate ?? null }),
    chartDigest: t.string({ nullable: true, description: 'Digest of the chart archive checked at creation; the agent installs exactly this one.', resolve: (v) => v.chartDigest ?? null }),
    warnings: t.field({
      type: [FindingRef],
      description: 'Warnings of the checks at creation (a version with errors is never created).',
      resolve: (v) => (v.findings ?? []) as Finding[],
    }),
    archivedAt: t.field({ type: 'DateTime', nullable: true, resolve: (v) => v.archivedAt ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (v) => v.createdAt }),
  }),
});

builder.queryFields((t) => ({
  applications: t.connection({
    type: ApplicationRef,
    authScopes: { vendor: true },
    resolve: (_root, args, ctx) =>
      resolveOffsetConnection({ args }, ({ limit, offset }) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).listApplications(limit, offset)),
  }),
  application: t.field({
    type: ApplicationRef,
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).getApplication(String(args.id)),
  }),
  applicationVersion: t.field({
    type: ApplicationVersionRef,
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).getVersion(String(args.id)),
  }),
}));

const CreateApplicationInput = builder.inputType('CreateApplicationInput', {
  fields: (t) => ({ name: t.string({ required: true }), type: t.field({ type: DeploymentTypeEnum, required: true }) }),
});

const CreateDockerVersionInput = builder.inputType('CreateDockerApplicationVersionInput', {
  fields: (t) => ({
    applicationId: t.id({ required: true }),
    name: t.string({ required: true }),
    composeFile: t.string({ required: true, description: 'docker-compose YAML with at least one service.' }),
    envTemplate: t.string({ description: '.env template: default entries a deployment may override.' }),
  }),
});

const CreateKubernetesVersionInput = builder.inputType('CreateKubernetesApplicationVersionInput', {
  fields: (t) => ({
    applicationId: t.id({ required: true }),
    name: t.string({ required: true }),
    chartType: t.field({ type: ChartTypeEnum, required: true }),
    chartUrl: t.string({ required: true, description: 'oci://registry/repo/chart, or the http(s) URL of a chart repository.' }),
    chartName: t.string({ description: 'Required for repository charts.' }),
    chartVersion: t.string({ required: true }),
    baseValues: t.string({ description: 'Values YAML every deployment starts from.' }),
    valuesTemplate: t.string({ description: 'Values YAML offered to deployments as a starting point.' }),
  }),
});

builder.mutationFields((t) => ({
  createApplication: t.field({
    type: ApplicationRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateApplicationInput, required: true }) },
    resolve: (_root, { input }, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).createApplication(input),
  }),
  renameApplication: t.field({
    type: ApplicationRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), name: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).renameApplication(String(args.id), args.name),
  }),
  deleteApplication: t.field({
    type: DeletedRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).deleteApplication(String(args.id)).then((id) => ({ id })),
  }),
  createDockerApplicationVersion: t.field({
    type: ApplicationVersionRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateDockerVersionInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).createDockerVersion(String(input.applicationId), input),
  }),
  createKubernetesApplicationVersion: t.field({
    type: ApplicationVersionRef,
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateKubernetesVersionInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).createKubernetesVersion(String(input.applicationId), input),
  }),
  archiveApplicationVersion: t.field({
    type: ApplicationVersionRef,
    description: 'Archive (or with archived: false, restore) a version. Its content never changes.',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), archived: t.arg.boolean({ defaultValue: true }) },
    resolve: (_root, args, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).setVersionArchived(String(args.id), args.archived ?? true),
  }),
  deleteApplicationVersion: t.field({
    type: DeletedRef,
    description: 'Delete a version no deployment revision uses.',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new ApplicationService(ctx.em, vendorOf(ctx), checkSettings(ctx.hub.env), ctx.hub.keyring).deleteVersion(String(args.id)).then((id) => ({ id })),
  }),
}));
