/** Runtime previews on the agent's surface: the requests its desired state carries, and its answer. */
import type { WireRuntimePreviewRequest } from '../../protocol/index.js';
import { agentOf, builder } from '../schema/builder.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { ChartTypeEnum } from '../applications/types.js';
import type { RuntimePreview } from '../rollouts/entities.js';
import { reportRuntimePreview } from './preview-requests.js';

export const ServiceChangeEnum = builder.enumType('RuntimePreviewServiceChangeKind', {
  values: {
    added: { description: 'Not running now; would be created.' },
    removed: { description: 'Running now; not in the candidate: would be removed.' },
    recreated: { description: "Running with another configuration (compose's config hash differs): would be recreated." },
    changed: { description: 'Kubernetes: the live object would be changed in place (server-side dry run differs).' },
    unchanged: { description: 'Running with the same configuration: left alone.' },
  } as const,
});

const PreviewChartRef = builder.objectRef<NonNullable<WireRuntimePreviewRequest['chart']>>('RuntimePreviewChart').implement({
  fields: (t) => ({
    type: t.field({ type: ChartTypeEnum, resolve: (c) => c.type }),
    url: t.exposeString('url'),
    name: t.exposeString('name', { nullable: true }),
    version: t.exposeString('version'),
    digest: t.exposeString('digest', { nullable: true }),
  }),
});

const RedactRef = builder.objectRef<WireRuntimePreviewRequest['redact'][number]>('RuntimePreviewRedaction').implement({
  description: 'A secret value the agent must replace by [redacted secrets.NAME] in what it answers.',
  fields: (t) => ({
    name: t.exposeString('name'),
    value: t.exposeString('value', { authScopes: { agent: true } }),
  }),
});

export const RuntimePreviewRequestRef = builder.objectRef<WireRuntimePreviewRequest>('RuntimePreviewRequest').implement({
  description: 'A pending runtime preview of one of the target\'s deployments: the candidate, rendered as a revision would be. Answer with agentReportRuntimePreview.',
  fields: (t) => ({
    previewId: t.exposeID('previewId'),
    deploymentId: t.exposeID('deploymentId'),
    expiresAt: t.exposeString('expiresAt', { description: 'ISO time after which the answer is refused.' }),
    error: t.exposeString('error', { nullable: true, description: 'Set when the hub cannot render the candidate: answer with it as the error.' }),
    composeFile: t.exposeString('composeFile', { nullable: true }),
    envFile: t.exposeString('envFile', { nullable: true, description: 'The rendered .env of the candidate.' }),
    chart: t.field({ type: PreviewChartRef, nullable: true, resolve: (r) => r.chart }),
    values: t.field({ type: 'JSON', nullable: true, resolve: (r) => r.values }),
    redact: t.field({ type: [RedactRef], authScopes: { agent: true }, resolve: (r) => r.redact }),
  }),
});

const ServiceChangeInput = builder.inputType('AgentRuntimePreviewServiceInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    change: t.field({ type: ServiceChangeEnum, required: true }),
    imageBefore: t.string(),
    imageAfter: t.string(),
  }),
});

const ReportInput = builder.inputType('AgentRuntimePreviewReportInput', {
  fields: (t) => ({
    previewId: t.id({ required: true }),
    baseRevisionId: t.id({ description: 'The revision the agent compared against; null when it runs nothing of the deployment.' }),
    error: t.string({ description: 'Why the agent could not preview; then no diff.' }),
    diff: t.string({ description: 'Unified diff running → candidate of the normalized configuration, secrets redacted.' }),
    services: t.field({ type: [ServiceChangeInput] }),
    message: t.string({ description: 'A note on the comparison (e.g. the project is not running).' }),
  }),
});

const ReportResultRef = builder.objectRef<RuntimePreview>('AgentRuntimePreviewReportResult').implement({
  fields: (t) => ({
    previewId: t.exposeID('id'),
    state: t.exposeString('state'),
  }),
});

builder.mutationFields((t) => ({
  agentReportRuntimePreview: t.field({
    type: ReportResultRef,
    description: 'Answer a pending runtime preview of the target. Refused (typed) when it is not the target\'s, already answered, or expired.',
    authScopes: { agent: true },
    errors: { types: MUTATION_ERRORS },
    args: { report: t.arg({ type: ReportInput, required: true }) },
    resolve: (_r, { report }, ctx) =>
      reportRuntimePreview(ctx.em, ctx.hub, agentOf(ctx), {
        previewId: String(report.previewId),
        baseRevisionId: report.baseRevisionId == null ? null : String(report.baseRevisionId),
        error: report.error ?? null,
        diff: report.diff ?? null,
        services: report.services?.map((s) => ({ name: s.name, change: s.change, imageBefore: s.imageBefore ?? null, imageAfter: s.imageAfter ?? null })) ?? null,
        message: report.message ?? null,
      }),
  }),
}));
