import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import {
  MAX_LOG_BATCH,
  MAX_RESOURCE_FIELD,
  MAX_RESOURCES_PER_REPORT,
  MAX_STATUS_MESSAGE,
  MAX_STATUS_REPORTS,
  type DeploymentPhase,
  type LogLine,
  type ResourceStatus,
} from '../../protocol/index.js';
import type { AgentPrincipal, HubRuntime } from '../context.js';
import { InvalidInputError, RuleViolationError } from '../errors.js';
import { secretMatches } from '../auth/secrets.js';
import { isUuid } from '../scoping.js';
import { DeploymentTarget } from '../targets/entities.js';
import { EventBus } from '../events/bus.js';

export interface StatusReportInput {
  deploymentId: string;
  revisionId: string;
  phase: DeploymentPhase;
  message: string;
  resources?: ResourceStatus[] | null;
}

/** Target secrets are 43 characters; anything much longer is not one. */
const MAX_SECRET_LENGTH = 256;
/** Log lines kept per deployment; older ones are pruned. */
const LOG_RETENTION = 5000;

/** Exchange a target id and its secret for a short-lived agent token. Failures are rate-limited per target. */
export async function agentLogin(em: EntityManager, hub: HubRuntime, targetId: string, secret: string) {
  // A malformed id or secret is refused before the limiter and the database: made-up ids must not
  // cost memory (the limiter only ever holds targets that exist).
  if (!isUuid(targetId) || secret.length > MAX_SECRET_LENGTH) {
    throw new GraphQLError('invalid target id or secret', { extensions: { code: 'UNAUTHENTICATED' } });
  }
  const retryAfter = hub.loginLimiter.retryAfter(targetId);
  if (retryAfter > 0) {
    throw new GraphQLError(`too many failed logins for this target; retry in ${retryAfter} s`, {
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: retryAfter },
    });
  }
  const target = await em.findOne(DeploymentTarget, { id: targetId });
  if (!target || !secretMatches(secret, target.credentialHash ?? null)) {
    if (target) {
      hub.loginLimiter.recordFailure(targetId);
      // Shown to the vendor on the target (never to the caller, who learns nothing about the target).
      const reason = target.credentialHash ? 'the secret does not match the target\'s current access (rotated?)' : 'no agent access has been created for this target';
      await em.nativeUpdate(DeploymentTarget, { id: target.id }, { lastLoginFailureAt: new Date(), lastLoginFailureReason: reason });
    }
    throw new GraphQLError('invalid target id or secret', { extensions: { code: 'UNAUTHENTICATED' } });
  }
  hub.loginLimiter.reset(targetId);
  return hub.agentTokens.issue({ targetId: target.id, organizationId: target.organization.id, generation: target.credentialGeneration });
}

/** A report the hub did not store, and why (the agent drops it: resending cannot help). */
export interface ReportRefusal {
  deploymentId: string;
  revisionId: string;
  reason: 'unknown_revision';
  message: string;
}

export interface ReportOutcome {
  accepted: number;
  changed: number;
  ignored: number;
  historyOnly: number;
  refused: ReportRefusal[];
}

/**
 * Store status reports of the agent's own deployments. A report must name its deployment's
 * current revision: then the latest status is upserted, and a history row is written (and
 * dashboards hear of it) only when phase, message or revision changed. A report naming an older
 * revision of the deployment (an agent that has not yet heard of the new one) is stored as
 * history only; one naming any other revision is refused, with its reason. Reports for
 * deployments that are not on the agent's target (or no longer exist) are skipped and counted.
 */
export async function reportStatus(em: EntityManager, hub: HubRuntime, agent: AgentPrincipal, reports: StatusReportInput[]): Promise<ReportOutcome> {
  if (reports.length > MAX_STATUS_REPORTS) throw new InvalidInputError('reports', `at most ${MAX_STATUS_REPORTS} reports per call`);
  reports.forEach((r, i) => {
    if (!isUuid(r.revisionId)) throw new InvalidInputError(`reports[${i}].revisionId`, `"${r.revisionId}" is not a revision id`);
    const resources = r.resources ?? [];
    if (resources.length > MAX_RESOURCES_PER_REPORT) {
      throw new InvalidInputError(`reports[${i}].resources`, `${resources.length} resources; at most ${MAX_RESOURCES_PER_REPORT} per report`);
    }
    resources.forEach((res, j) => {
      for (const key of ['kind', 'name'] as const) {
        if (res[key].length > MAX_RESOURCE_FIELD) throw new InvalidInputError(`reports[${i}].resources[${j}].${key}`, `longer than ${MAX_RESOURCE_FIELD} characters`);
      }
    });
  });
  // The last report for a deployment in one batch wins.
  const byDeployment = new Map(reports.filter((r) => isUuid(r.deploymentId)).map((r) => [r.deploymentId, r]));
  if (byDeployment.size === 0) {
    hub.metrics.statusReports.inc({ outcome: 'ignored' }, reports.length);
    return { accepted: 0, changed: 0, ignored: reports.length, historyOnly: 0, refused: [] };
  }
  const rows = [...byDeployment.values()].map((r) => ({
    ...r,
    message: r.message.slice(0, MAX_STATUS_MESSAGE),
    resources: (r.resources ?? []).map((res) => ({ ...res, message: res.message.slice(0, MAX_STATUS_MESSAGE) })),
  }));
  const outcome = await statusWriterOf(hub).submit(agent, rows);
  const ignored = reports.length - outcome.accepted - outcome.historyOnly - outcome.refused.length;
  hub.metrics.statusReports.inc({ outcome: 'accepted' }, outcome.accepted);
  hub.metrics.statusReports.inc({ outcome: 'ignored' }, ignored);
  return { ...outcome, ignored };
}

type WriterOutcome = Omit<ReportOutcome, 'ignored'>;
const emptyOutcome = (): WriterOutcome => ({ accepted: 0, changed: 0, historyOnly: 0, refused: [] });

interface PendingReport {
  agent: AgentPrincipal;
  rows: StatusReportInput[];
  resolve: (r: WriterOutcome) => void;
  reject: (err: Error) => void;
}

/** Most report rows written by one statement, and statements in flight at once. */
const MAX_BATCH_ROWS = 1000;
const MAX_IN_FLIGHT = 2;

/**
 * Group commit of status reports. Agents report every few seconds, so this is the hub's hottest
 * write: the reports of all calls arriving together are written by ONE statement (atomic on its
 * own, one round trip, one commit) that locks each reported deployment that is on the reporting
 * agent's own target, compares with the stored status, upserts it, appends a transition for each
 * change and announces those (EventBus.notifySql). Each call still gets its own counts. A
 * deployment appears at most once per statement; a later report of it waits for the next one.
 * Should a batch fail, its calls are retried one by one so that one bad call fails alone.
 */
class StatusWriter {
  private queue: PendingReport[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly rootEm: EntityManager) {}

  submit(agent: AgentPrincipal, rows: StatusReportInput[]): Promise<WriterOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ agent, rows, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
        const batch = this.take();
        this.inFlight++;
        void this.write(batch).finally(() => {
          this.inFlight--;
          this.pump();
        });
      }
    });
  }

  /** The oldest calls that fit one statement, skipping (for now) any that repeats a deployment. */
  private take(): PendingReport[] {
    const batch: PendingReport[] = [];
    const rest: PendingReport[] = [];
    const seen = new Set<string>();
    let rows = 0;
    for (const p of this.queue) {
      const fits = batch.length === 0 || (rows + p.rows.length <= MAX_BATCH_ROWS && !p.rows.some((r) => seen.has(r.deploymentId)));
      if (fits && rest.length === 0) {
        batch.push(p);
        rows += p.rows.length;
        for (const r of p.rows) seen.add(r.deploymentId);
      } else {
        rest.push(p); // keeps order: once one call waits, the later ones wait too
      }
    }
    this.queue = rest;
    return batch;
  }

  private async write(batch: PendingReport[]): Promise<void> {
    try {
      const counts = await this.store(batch);
      batch.forEach((p, i) => p.resolve(counts[i] ?? emptyOutcome()));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err as Error);
        return;
      }
      for (const p of batch) {
        await this.store([p]).then(
          (counts) => p.resolve(counts[0] ?? emptyOutcome()),
          (e: Error) => p.reject(e),
        );
      }
    }
  }

  private async store(batch: PendingReport[]): Promise<WriterOutcome[]> {
    const now = new Date();
    const params: unknown[] = [];
    const values: string[] = [];
    batch.forEach((p, req) => {
      for (const r of p.rows) {
        values.push('(?::int, ?::uuid, ?::uuid, ?::text, ?::uuid, ?::deployment_phase, ?::text, ?::jsonb, ?::timestamptz)');
        params.push(req, r.deploymentId, p.agent.targetId, p.agent.organizationId, r.revisionId, r.phase, r.message, JSON.stringify(r.resources ?? []), now);
      }
    });
    const notify = EventBus.notifySql(
      'statusChanged',
      `json_build_object('organizationId', c.organization_id, 'targetId', c.target_id, 'deploymentId', c.deployment_id)`,
    );
    // current: the report names the deployment's current revision (status + history on change);
    // stale: an older revision of the deployment (history only, once per distinct report);
    // anything else on the agent's target is refused, and other targets' deployments are ignored.
    const rows: { req: number; deployment_id: string; revision_id: string; kind: 'current' | 'stale' | 'unknown_revision' | 'ignored'; changed: boolean }[] =
      await this.rootEm.fork().execute(
        `with input (req, deployment_id, target_id, organization_id, revision_id, phase, message, resources, at) as (
           values ${values.join(', ')}
         ),
         owned as (
           select d.id, d.current_revision_id, s.phase, s.message, s.revision_id from deployment d
           left join deployment_status s on s.deployment_id = d.id
           where (d.id, d.target_id) in (select deployment_id, target_id from input)
           for update of d
         ),
         classified as (
           select i.*,
                  case when o.id is null then 'ignored'
                       when o.current_revision_id = i.revision_id then 'current'
                       when exists (select 1 from deployment_revision r where r.id = i.revision_id and r.deployment_id = i.deployment_id) then 'stale'
                       else 'unknown_revision' end as kind,
                  (o.phase is distinct from i.phase or o.message is distinct from i.message or o.revision_id is distinct from i.revision_id) as is_change
           from input i left join owned o on o.id = i.deployment_id
         ),
         upserted as (
           insert into deployment_status (deployment_id, revision_id, phase, message, resources, reported_at, changed_at)
           select deployment_id, revision_id, phase, message, resources, at, at from classified where kind = 'current'
           on conflict (deployment_id) do update set
             changed_at = case when deployment_status.phase is distinct from excluded.phase
                                or deployment_status.message is distinct from excluded.message
                                or deployment_status.revision_id is distinct from excluded.revision_id
                           then excluded.changed_at else deployment_status.changed_at end,
             revision_id = excluded.revision_id, phase = excluded.phase, message = excluded.message,
             resources = excluded.resources, reported_at = excluded.reported_at
           returning deployment_id
         ),
         transitions as (
           insert into status_transition (id, deployment_id, revision_id, phase, message, at)
           select gen_random_uuid(), c.deployment_id, c.revision_id, c.phase, c.message, c.at from classified c
           where (c.kind = 'current' and c.is_change)
              or (c.kind = 'stale' and not exists (
                    select 1 from status_transition st
                    where st.deployment_id = c.deployment_id and st.revision_id = c.revision_id and st.phase = c.phase and st.message = c.message))
           returning deployment_id
         ),
         announced as (select ${notify} from transitions t join classified c on c.deployment_id = t.deployment_id and c.kind = 'current')
         select c.req, c.deployment_id, c.revision_id, c.kind,
                (c.kind = 'current' and t.deployment_id is not null) as changed,
                (select count(*) from announced)::int as announced,
                (select count(*) from upserted)::int as upserted
         from classified c left join transitions t on t.deployment_id = c.deployment_id`,
        params,
      );
    const outcomes = batch.map(emptyOutcome);
    for (const r of rows) {
      const o = outcomes[r.req]!;
      if (r.kind === 'current') {
        o.accepted++;
        if (r.changed) o.changed++;
      } else if (r.kind === 'stale') {
        o.historyOnly++;
      } else if (r.kind === 'unknown_revision') {
        o.refused.push({
          deploymentId: r.deployment_id,
          revisionId: r.revision_id,
          reason: 'unknown_revision',
          message: `revision ${r.revision_id} is not a revision of deployment ${r.deployment_id}; report against the current revision of the desired state`,
        });
      }
    }
    return outcomes;
  }
}

const statusWriters = new WeakMap<HubRuntime, StatusWriter>();
function statusWriterOf(hub: HubRuntime): StatusWriter {
  let writer = statusWriters.get(hub);
  if (!writer) statusWriters.set(hub, (writer = new StatusWriter(hub.rootEm)));
  return writer;
}

export async function reportInfo(em: EntityManager, agent: AgentPrincipal, info: { version: string; host: string }): Promise<void> {
  await em.nativeUpdate(
    DeploymentTarget,
    { id: agent.targetId },
    { agentVersion: info.version.slice(0, 100), agentHost: info.host.slice(0, 255), lastSeenAt: new Date() },
  );
}

/** A log line the hub did not store, by its index in the batch, and why. */
export interface LogLineRejection {
  index: number;
  reason: 'bad_timestamp' | 'unknown_deployment';
  message: string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text PostgreSQL can store: NUL bytes and lone surrogates become U+FFFD (the line is kept, not the batch refused). */
function storable(text: string): { text: string; changed: boolean } {
  const clean = text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
  const wellFormed = clean.replace(LONE_SURROGATE, '\uFFFD');
  return { text: wellFormed, changed: wellFormed !== text };
}

/**
 * Append a bounded batch of log lines of the agent's own deployments; prune old lines now and
 * then. Refused as a whole when the target has logs switched off. Each line stands alone: one that
 * cannot be stored (a bad timestamp, a deployment not on this target) is named in `rejected`, one
 * with bytes PostgreSQL cannot hold is stored with them replaced and counted in `sanitized`.
 */
export async function pushLogs(
  em: EntityManager,
  hub: HubRuntime,
  agent: AgentPrincipal,
  lines: LogLine[],
): Promise<{ stored: number; sanitized: number; rejected: LogLineRejection[] }> {
  if (lines.length > MAX_LOG_BATCH) throw new InvalidInputError('lines', `at most ${MAX_LOG_BATCH} lines per call`);
  const target: { logs_enabled: boolean }[] = await em.execute('select logs_enabled from deployment_target where id = ?', [agent.targetId]);
  if (!target[0]?.logs_enabled) throw new RuleViolationError('logs_disabled', 'logs are switched off for this target: lines are not stored');
  const deploymentIds = [...new Set(lines.map((l) => l.deploymentId).filter(isUuid))];
  const owned: { id: string }[] =
    deploymentIds.length === 0 ? [] : await em.execute('select id from deployment where id in (?) and target_id = ?', [deploymentIds, agent.targetId]);
  const ownedIds = new Set(owned.map((r) => r.id));
  const rejected: LogLineRejection[] = [];
  const accepted: { deploymentId: string; resource: string; stream: string; timestamp: Date; line: string }[] = [];
  let sanitized = 0;
  lines.forEach((l, index) => {
    if (!ownedIds.has(l.deploymentId)) {
      rejected.push({ index, reason: 'unknown_deployment', message: `deployment ${l.deploymentId} is not on this target` });
      return;
    }
    const timestamp = new Date(l.timestamp);
    if (Number.isNaN(timestamp.getTime())) {
      rejected.push({ index, reason: 'bad_timestamp', message: `timestamp ${JSON.stringify(l.timestamp.slice(0, 64))} is not an ISO date-time` });
      return;
    }
    const resource = storable(l.resource.slice(0, 255));
    const line = storable(l.line.slice(0, 8192));
    if (resource.changed || line.changed) sanitized++;
    accepted.push({ deploymentId: l.deploymentId, resource: resource.text, stream: l.stream === 'stderr' ? 'stderr' : 'stdout', timestamp, line: line.text });
  });
  if (accepted.length > 0) {
    // Stored and announced in one statement: followers (deploymentLogs) read the new rows by id.
    await em.execute(
      `with stored as (
         insert into log_entry (deployment_id, resource, stream, timestamp, line) values ${accepted.map(() => '(?, ?, ?, ?, ?)').join(', ')}
         returning deployment_id, id
       )
       select ${EventBus.notifySql('logsAppended', "json_build_object('organizationId', ?::text, 'deploymentId', deployment_id, 'lastId', max(id)::text)")}
       from stored group by deployment_id`,
      [...accepted.flatMap((l) => [l.deploymentId, l.resource, l.stream, l.timestamp, l.line]), agent.organizationId],
    );
    hub.metrics.logLines.inc(accepted.length);
  }
  if (accepted.length > 0 && Math.random() < 0.05) {
    for (const id of ownedIds) {
      await em.execute(
        `delete from log_entry where deployment_id = ? and id < (select id from log_entry where deployment_id = ? order by id desc offset ? limit 1)`,
        [id, id, LOG_RETENTION],
      );
    }
  }
  return { stored: accepted.length, sanitized, rejected };
}

/** Newest stored log time per deployment of the agent's target, so a reconnecting agent resumes there. */
export async function logWatermarks(em: EntityManager, agent: AgentPrincipal): Promise<{ deploymentId: string; timestamp: Date }[]> {
  const rows: { deployment_id: string; ts: Date }[] = await em.execute(
    `select l.deployment_id, max(l.timestamp) as ts from log_entry l join deployment d on d.id = l.deployment_id
     where d.target_id = ? group by l.deployment_id`,
    [agent.targetId],
  );
  return rows.map((r) => ({ deploymentId: r.deployment_id, timestamp: new Date(r.ts) }));
}
