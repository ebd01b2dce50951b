/**
 * The deployments list as plain rows, in one statement: the page of deployments with their
 * target, application, current revision, version and status (each at most one per deployment; a
 * version's long texts only on the first row using it). Plain SQL because the console reads this
 * list on every visit and refresh: six statements building and hydrating ~120 entities through
 * the identity map cost several times the database work (BENCHMARKS.md, "Hub: per-request
 * cost"). Each deployment carries the rows it was joined with (`joined`: every column the
 * GraphQL types read), so a nested selection (target, application, revision, version, status)
 * resolves from them, without a statement or a loader.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { columnsOf } from '../db/rows.js';
import { CHART_TYPES, DEPLOYMENT_TYPES, type ApplicationRow, type ApplicationVersionRow } from '../applications/entities.js';
import { TARGET_SCOPES, type DeploymentTargetRow } from '../targets/entities.js';
import { COMPOSE_TYPES, PHASES, type Deployment, type DeploymentRevisionRow, type DeploymentRow, type DeploymentStatusRow } from './entities.js';

export interface DeploymentFilter {
  targetId?: string | null;
  applicationId?: string | null;
}

const LIST = 'listDeployments';

/** One page of an organization's deployments, oldest first (created_at, then id). */
export async function loadDeploymentList(em: EntityManager, organizationId: string, filter: DeploymentFilter, limit: number, offset: number): Promise<DeploymentRow[]> {
  // Scoped here, on the page: its target, application, revisions and versions are of the same
  // organization (the database's triggers keep them so), reached only through these deployments.
  const where = ['d.organization_id = ?'];
  const params: unknown[] = [organizationId];
  if (filter.targetId) {
    where.push('d.target_id = ?');
    params.push(filter.targetId);
  }
  if (filter.applicationId) {
    where.push('d.application_id = ?');
    params.push(filter.applicationId);
  }
  // The page first, then its joins; a version's long texts come on the first row that uses it
  // only (20 deployments of one version carry its compose file once).
  const rows: Record<string, unknown>[] = await em.execute(
    `/* ${LIST} */ with page as (
       select d.id, d.target_id, d.application_id, d.compose_type, d.release_name, d.helm_options, d.current_revision_id, d.created_at
       from deployment d where ${where.join(' and ')}
       order by d.created_at asc, d.id asc limit ? offset ?)
     select d.*,
       t.name as t_name, t.type as t_type, t.namespace as t_namespace, t.scope as t_scope, t.logs_enabled as t_logs_enabled,
       t.credential_hash as t_credential_hash, t.agent_version as t_agent_version, t.agent_host as t_agent_host, t.last_seen_at as t_last_seen_at,
       t.labels as t_labels, t.time_zone as t_time_zone, t.maintenance_windows as t_maintenance_windows,
       t.last_login_failure_at as t_last_login_failure_at, t.last_login_failure_reason as t_last_login_failure_reason, t.created_at as t_created_at,
       a.name as a_name, a.type as a_type, a.created_at as a_created_at,
       r.version_id as r_version_id, r.env_file as r_env_file, r.values_yaml as r_values_yaml, r.force_restart as r_force_restart,
       r.created_by as r_created_by, r.created_at as r_created_at,
       row_number() over w = 1 as v_first, v.name as v_name, v.chart_type as v_chart_type, v.chart_url as v_chart_url, v.chart_name as v_chart_name,
       v.chart_version as v_chart_version, v.chart_digest as v_chart_digest, v.archived_at as v_archived_at, v.created_at as v_created_at,
       case when row_number() over w = 1 then v.compose_file end as v_compose_file,
       case when row_number() over w = 1 then v.env_template end as v_env_template,
       case when row_number() over w = 1 then v.base_values end as v_base_values,
       case when row_number() over w = 1 then v.values_template end as v_values_template,
       case when row_number() over w = 1 then v.findings end as v_findings,
       s.deployment_id as s_deployment_id, s.revision_id as s_revision_id, s.phase as s_phase, s.message as s_message, s.resources as s_resources,
       s.reported_at as s_reported_at, s.changed_at as s_changed_at
     from page d
     join deployment_target t on t.id = d.target_id
     join application a on a.id = d.application_id
     left join deployment_revision r on r.id = d.current_revision_id
     left join application_version v on v.id = r.version_id
     left join deployment_status s on s.deployment_id = d.id
     window w as (partition by r.version_id order by d.created_at asc, d.id asc)
     order by d.created_at asc, d.id asc`,
    [...params, limit, offset],
  );
  // Targets, applications and versions are shared by many rows: one object each per page.
  const targets = new Map<string, DeploymentTargetRow>();
  const applications = new Map<string, ApplicationRow>();
  const versions = new Map<string, ApplicationVersionRow>();
  return rows.map((row) => {
    const c = columnsOf(LIST, row);
    const id = c.text('id');
    const targetId = c.text('target_id');
    const applicationId = c.text('application_id');
    const revisionId = c.textOrNull('current_revision_id');
    let target = targets.get(targetId);
    if (!target) targets.set(targetId, (target = targetOf(c, targetId)));
    let application = applications.get(applicationId);
    if (!application) {
      application = { id: applicationId, name: c.text('a_name'), type: c.oneOf('a_type', DEPLOYMENT_TYPES), createdAt: c.date('a_created_at') };
      applications.set(applicationId, application);
    }
    let revision: DeploymentRevisionRow | null = null;
    if (revisionId) {
      const versionId = c.text('r_version_id');
      let version = versions.get(versionId);
      if (!version) {
        // The statement orders its rows as its window does: the first row of a version has its texts.
        if (!c.bool('v_first')) throw new Error(`${LIST}: version ${versionId} first seen on a row without its texts`);
        versions.set(versionId, (version = versionOf(c, versionId, application)));
      }
      revision = {
        id: revisionId,
        version: { id: versionId },
        envFile: c.textOrNull('r_env_file'),
        valuesYaml: c.textOrNull('r_values_yaml'),
        forceRestart: c.bool('r_force_restart'),
        createdBy: c.text('r_created_by'),
        createdAt: c.date('r_created_at'),
        joined: { version },
      };
    }
    const status: DeploymentStatusRow | null =
      row.s_deployment_id === null
        ? null
        : {
            deployment: { id },
            revisionId: c.text('s_revision_id'),
            phase: c.oneOf('s_phase', PHASES),
            message: c.text('s_message'),
            resources: c.jsonOrNull<unknown[]>('s_resources'),
            reportedAt: c.date('s_reported_at'),
            changedAt: c.date('s_changed_at'),
          };
    return {
      id,
      target: { id: targetId },
      application: { id: applicationId },
      composeType: c.oneOfOrNull('compose_type', COMPOSE_TYPES),
      releaseName: c.textOrNull('release_name'),
      helmOptions: c.jsonOrNull<NonNullable<Deployment['helmOptions']>>('helm_options'),
      currentRevision: revisionId ? { id: revisionId } : null,
      createdAt: c.date('created_at'),
      joined: { target, application, revision, status },
    };
  });
}

type Columns = ReturnType<typeof columnsOf>;

function targetOf(c: Columns, id: string): DeploymentTargetRow {
  return {
    id,
    name: c.text('t_name'),
    type: c.oneOf('t_type', DEPLOYMENT_TYPES),
    namespace: c.textOrNull('t_namespace'),
    scope: c.oneOfOrNull('t_scope', TARGET_SCOPES),
    logsEnabled: c.bool('t_logs_enabled'),
    credentialHash: c.textOrNull('t_credential_hash'),
    agentVersion: c.textOrNull('t_agent_version'),
    agentHost: c.textOrNull('t_agent_host'),
    lastSeenAt: c.dateOrNull('t_last_seen_at'),
    labels: c.jsonOrNull<Record<string, string>>('t_labels') ?? {},
    timeZone: c.text('t_time_zone'),
    maintenanceWindows: c.jsonOrNull<{ days: string[]; start: string; end: string }[]>('t_maintenance_windows'),
    lastLoginFailureAt: c.dateOrNull('t_last_login_failure_at'),
    lastLoginFailureReason: c.textOrNull('t_last_login_failure_reason'),
    createdAt: c.date('t_created_at'),
  };
}

function versionOf(c: Columns, id: string, application: ApplicationRow): ApplicationVersionRow {
  return {
    id,
    application: { id: application.id },
    joined: { application },
    name: c.text('v_name'),
    composeFile: c.textOrNull('v_compose_file'),
    envTemplate: c.textOrNull('v_env_template'),
    chartType: c.oneOfOrNull('v_chart_type', CHART_TYPES),
    chartUrl: c.textOrNull('v_chart_url'),
    chartName: c.textOrNull('v_chart_name'),
    chartVersion: c.textOrNull('v_chart_version'),
    baseValues: c.textOrNull('v_base_values'),
    valuesTemplate: c.textOrNull('v_values_template'),
    chartDigest: c.textOrNull('v_chart_digest'),
    findings: c.jsonOrNull<unknown[]>('v_findings'),
    archivedAt: c.dateOrNull('v_archived_at'),
    createdAt: c.date('v_created_at'),
  };
}
