import type { WireDeployment, WireDesiredState } from '../../protocol/index.js';
import { agentOf, builder } from '../schema/builder.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { ChartTypeEnum, DeploymentTypeEnum } from '../applications/types.js';
import { ComposeTypeEnum, DeploymentPhaseEnum } from '../deployments/types.js';
import { TargetScopeEnum } from '../targets/types.js';
import { RuntimePreviewRequestRef } from './preview-request-types.js';
import { agentLogin, logWatermarks, pushLogs, reportInfo, reportStatus, type LogLineRejection, type ReportOutcome, type ReportRefusal } from './service.js';

const AgentTokenRef = builder.objectRef<{ token: string; expiresAt: Date }>('AgentToken').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Send in the graphql-ws connection_init payload as { token } and as a Bearer header.' }),
    expiresAt: t.field({ type: 'DateTime', resolve: (x) => x.expiresAt }),
  }),
});

// The parent types are the contract's wire shapes (protocol/generated, from the agent's own
// documents): what the hub builds is what the agent's query selects, checked by tsc.
type WireKubernetes = NonNullable<WireDeployment['kubernetes']>;

const ChartRefType = builder.objectRef<WireKubernetes['chart']>('DesiredChart').implement({
  fields: (t) => ({
    type: t.field({ type: ChartTypeEnum, resolve: (c) => c.type }),
    url: t.exposeString('url'),
    name: t.exposeString('name', { nullable: true }),
    version: t.exposeString('version'),
    digest: t.exposeString('digest', {
      nullable: true,
      description: 'sha256 of the chart archive the hub checked (sha256:…); the agent installs only an archive with this digest. Null: not checked.',
    }),
  }),
});

const DockerDesiredRef = builder.objectRef<NonNullable<WireDeployment['docker']>>('DesiredDockerDeployment').implement({
  fields: (t) => ({
    composeType: t.field({ type: ComposeTypeEnum, resolve: (d) => d.composeType }),
    projectName: t.exposeString('projectName'),
    composeFile: t.exposeString('composeFile'),
    envFile: t.exposeString('envFile', { description: "The rendered .env: the version's template with the revision's entries on top." }),
  }),
});

const KubernetesDesiredRef = builder.objectRef<WireKubernetes>('DesiredKubernetesDeployment').implement({
  fields: (t) => ({
    releaseName: t.exposeString('releaseName'),
    namespace: t.exposeString('namespace'),
    chart: t.field({ type: ChartRefType, resolve: (d) => d.chart }),
    values: t.field({ type: 'JSON', description: 'Base values deep-merged with the revision values.', resolve: (d) => d.values }),
    timeoutSeconds: t.exposeInt('timeoutSeconds'),
    atomic: t.exposeBoolean('atomic'),
    wait: t.exposeBoolean('wait'),
    ignoreDrift: t.exposeBoolean('ignoreDrift', { description: 'Report no drift error when the release was changed by hand.' }),
  }),
});

const RegistryAuthRef = builder.objectRef<WireDeployment['registryAuths'][number]>('DesiredRegistryAuth').implement({
  description: 'Credentials for one registry host, sent only to the agent whose deployment needs them.',
  fields: (t) => ({
    host: t.exposeString('host'),
    username: t.exposeString('username'),
    password: t.exposeString('password', { authScopes: { agent: true } }),
  }),
});

const DesiredDeploymentRef = builder.objectRef<WireDeployment>('DesiredDeployment').implement({
  description: 'What the agent must run for one deployment.',
  fields: (t) => ({
    deploymentId: t.exposeID('deploymentId'),
    revisionId: t.exposeID('revisionId', { description: 'The current revision: the agent reports status against it.' }),
    type: t.field({ type: DeploymentTypeEnum, resolve: (d) => d.type }),
    applicationName: t.exposeString('applicationName'),
    versionName: t.exposeString('versionName'),
    restartMarker: t.exposeString('restartMarker', {
      nullable: true,
      description: 'Id of the newest force-restart revision; restart once whenever it changes.',
    }),
    logsEnabled: t.exposeBoolean('logsEnabled'),
    registryAuths: t.field({ type: [RegistryAuthRef], authScopes: { agent: true }, resolve: (d) => d.registryAuths }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Set when the hub cannot render this deployment (e.g. a referenced secret is gone): report it, change nothing.',
    }),
    docker: t.field({ type: DockerDesiredRef, nullable: true, resolve: (d) => d.docker }),
    kubernetes: t.field({ type: KubernetesDesiredRef, nullable: true, resolve: (d) => d.kubernetes }),
  }),
});

const DeletedDeploymentRef = builder.objectRef<WireDesiredState['deleted'][number]>('DeletedDeploymentNotice').implement({
  fields: (t) => ({ deploymentId: t.exposeID('deploymentId'), removeVolumes: t.exposeBoolean('removeVolumes') }),
});

const DesiredStateRef = builder.objectRef<WireDesiredState>('DesiredState').implement({
  description: "The whole desired state of the agent's target. Level-triggered: each event replaces the previous one.",
  fields: (t) => ({
    targetId: t.exposeID('targetId'),
    targetType: t.field({ type: DeploymentTypeEnum, resolve: (s) => s.targetType }),
    namespace: t.exposeString('namespace', { nullable: true }),
    scope: t.field({ type: TargetScopeEnum, nullable: true, resolve: (s) => s.scope }),
    deployments: t.field({ type: [DesiredDeploymentRef], resolve: (s) => s.deployments }),
    deleted: t.field({ type: [DeletedDeploymentRef], resolve: (s) => s.deleted }),
    runtimePreviews: t.field({
      type: [RuntimePreviewRequestRef],
      description: "Pending runtime previews of the target's deployments: answer each once with agentReportRuntimePreview.",
      resolve: (s) => s.runtimePreviews,
    }),
  }),
});

const StatusReportInput = builder.inputType('AgentStatusReportInput', {
  fields: (t) => ({
    deploymentId: t.id({ required: true }),
    revisionId: t.id({ required: true }),
    phase: t.field({ type: DeploymentPhaseEnum, required: true }),
    message: t.string({ required: true }),
    resources: t.field({ type: [ResourceStatusInput] }),
  }),
});
const ResourceStatusInput = builder.inputType('AgentResourceStatusInput', {
  fields: (t) => ({
    kind: t.string({ required: true }),
    name: t.string({ required: true }),
    phase: t.field({ type: DeploymentPhaseEnum, required: true }),
    message: t.string({ required: true }),
  }),
});

const LogLineInput = builder.inputType('AgentLogLineInput', {
  fields: (t) => ({
    deploymentId: t.id({ required: true }),
    resource: t.string({ required: true }),
    stream: t.string({ required: true }),
    timestamp: t.string({ required: true }),
    line: t.string({ required: true }),
  }),
});

const RefusalReasonEnum = builder.enumType('AgentReportRefusalReason', {
  values: { unknown_revision: { description: "The revision is not one of the deployment's revisions." } } as const,
});

const ReportRefusalRef = builder.objectRef<ReportRefusal>('AgentStatusReportRefusal').implement({
  description: 'A report that was not stored, and why. Resending it cannot help.',
  fields: (t) => ({
    deploymentId: t.exposeID('deploymentId'),
    revisionId: t.exposeID('revisionId'),
    reason: t.field({ type: RefusalReasonEnum, resolve: (r) => r.reason }),
    message: t.exposeString('message'),
  }),
});

const StatusReportResult = builder.objectRef<ReportOutcome>('AgentStatusReportResult').implement({
  fields: (t) => ({
    accepted: t.exposeInt('accepted', { description: "Reports of the deployments' current revisions: stored as their latest status." }),
    changed: t.exposeInt('changed', { description: 'Accepted reports that were transitions (stored in history).' }),
    ignored: t.exposeInt('ignored', { description: "Reports for deployments not on the agent's target." }),
    historyOnly: t.exposeInt('historyOnly', { description: 'Reports naming an older revision of their deployment: stored in its history only, not as its status.' }),
    refused: t.field({ type: [ReportRefusalRef], description: 'Reports naming a revision that is not one of their deployment\'s.', resolve: (r) => r.refused }),
  }),
});

const LogWatermarkRef = builder.objectRef<{ deploymentId: string; timestamp: Date }>('AgentLogWatermark').implement({
  fields: (t) => ({ deploymentId: t.exposeID('deploymentId'), timestamp: t.field({ type: 'DateTime', resolve: (w) => w.timestamp }) }),
});

const LogRejectionReasonEnum = builder.enumType('AgentLogLineRejectionReason', {
  values: {
    bad_timestamp: { description: 'The timestamp is not an ISO date-time.' },
    unknown_deployment: { description: "The deployment is not on the agent's target." },
  } as const,
});

const LogRejectionRef = builder.objectRef<LogLineRejection>('AgentLogLineRejection').implement({
  description: 'A line that was not stored (the others were).',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position of the line in the batch.' }),
    reason: t.field({ type: LogRejectionReasonEnum, resolve: (r) => r.reason }),
    message: t.exposeString('message'),
  }),
});

const PushLogsResultRef = builder.objectRef<{ stored: number; sanitized: number; rejected: LogLineRejection[] }>('AgentPushLogsResult').implement({
  fields: (t) => ({
    stored: t.exposeInt('stored'),
    sanitized: t.exposeInt('sanitized', { description: 'Stored lines whose NUL bytes or lone surrogates were replaced by U+FFFD.' }),
    rejected: t.field({ type: [LogRejectionRef], resolve: (r) => r.rejected }),
  }),
});

builder.mutationFields((t) => ({
  agentLogin: t.field({
    type: AgentTokenRef,
    description: 'Exchange a target id and its secret for a short-lived agent token. Failed attempts are rate-limited per target.',
    args: { targetId: t.arg.id({ required: true }), secret: t.arg.string({ required: true }) },
    resolve: (_r, args, ctx) => agentLogin(ctx.em, ctx.hub, String(args.targetId), args.secret),
  }),
  agentReportStatus: t.field({
    type: StatusReportResult,
    description:
      "Report the observed status of the agent's deployments, each against its deployment's current revision (an older revision of it: history only; any other: refused). Idempotent: repeats write no history.",
    authScopes: { agent: true },
    errors: { types: MUTATION_ERRORS },
    args: { reports: t.arg({ type: [StatusReportInput], required: true }) },
    resolve: (_r, args, ctx) =>
      reportStatus(
        ctx.em,
        ctx.hub,
        agentOf(ctx),
        args.reports.map((r) => ({ ...r, deploymentId: String(r.deploymentId), revisionId: String(r.revisionId) })),
      ),
  }),
  agentReportInfo: t.field({
    type: 'Boolean',
    authScopes: { agent: true },
    args: { version: t.arg.string({ required: true }), host: t.arg.string({ required: true }) },
    resolve: async (_r, args, ctx) => {
      await reportInfo(ctx.em, agentOf(ctx), args);
      return true;
    },
  }),
  agentPushLogs: t.field({
    type: PushLogsResultRef,
    description: 'Append a batch of log lines (at most 500); returns how many were stored.',
    extensions: { textCheckedByField: true },
    authScopes: { agent: true },
    errors: { types: MUTATION_ERRORS },
    args: { lines: t.arg({ type: [LogLineInput], required: true }) },
    resolve: (_r, args, ctx) =>
      pushLogs(ctx.em, ctx.hub, agentOf(ctx), args.lines.map((l) => ({ ...l, deploymentId: String(l.deploymentId), stream: l.stream as 'stdout' | 'stderr' }))),
  }),
}));

builder.queryFields((t) => ({
  agentLogWatermarks: t.field({
    type: [LogWatermarkRef],
    description: "Newest stored log time per deployment of the agent's target, to resume log streaming.",
    authScopes: { agent: true },
    resolve: (_r, _a, ctx) => logWatermarks(ctx.em, agentOf(ctx)),
  }),
}));

builder.subscriptionFields((t) => ({
  agentDesiredState: t.field({
    type: DesiredStateRef,
    description: "The agent's target's whole desired state: first at once, then after every committed change that touches it.",
    authScopes: { agent: true },
    subscribe: (_r, _a, ctx) => ctx.hub.fanout.subscribe(agentOf(ctx).targetId),
    resolve: (state: WireDesiredState) => state,
  }),
}));
