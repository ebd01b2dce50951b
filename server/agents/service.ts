import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import { MAX_LOG_BATCH, type DeploymentPhase, type LogLine, type ResourceStatus } from '../../protocol/index.js';
import type { AgentPrincipal, HubRuntime } from '../context.js';
import { InvalidInputError } from '../errors.js';
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

/** Longest status message stored; agents may send docker's or helm's whole stderr. */
const MAX_MESSAGE = 4000;
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
    if (target) hub.loginLimiter.recordFailure(targetId);
    throw new GraphQLError('invalid target id or secret', { extensions: { code: 'UNAUTHENTICATED' } });
  }
  hub.loginLimiter.reset(targetId);
  return hub.agentTokens.issue({ targetId: target.id, organizationId: target.organization.id, generation: target.credentialGeneration });
}

/**
 * Store status reports of the agent's own deployments. The latest status is upserted; a history
 * row is written only when phase, message or revision changed, and only then do dashboards hear
 * of it. Reports for deployments that are not on the agent's target (or no longer exist) are
 * skipped and counted.
 */
export async function reportStatus(
  em: EntityManager,
  hub: HubRuntime,
  agent: AgentPrincipal,
  reports: StatusReportInput[],
): Promise<{ accepted: number; changed: number; ignored: number }> {
  if (reports.length > 200) throw new InvalidInputError('reports', 'at most 200 reports per call');
  for (const r of reports) {
    if (!isUuid(r.revisionId)) throw new InvalidInputError('revisionId', `"${r.revisionId}" is not a revision id`);
  }
  // The last report for a deployment in one batch wins.
  const byDeployment = new Map(reports.filter((r) => isUuid(r.deploymentId)).map((r) => [r.deploymentId, r]));
  if (byDeployment.size === 0) {
    hub.metrics.statusReports.inc({ outcome: 'ignored' }, reports.length);
    return { accepted: 0, changed: 0, ignored: reports.length };
  }
  const rows = [...byDeployment.values()].map((r) => ({ ...r, message: r.message.slice(0, MAX_MESSAGE) }));
  const { accepted, changed } = await statusWriterOf(hub).submit(agent, rows);
  hub.metrics.statusReports.inc({ outcome: 'accepted' }, accepted);
  hub.metrics.statusReports.inc({ outcome: 'ignored' }, reports.length - accepted);
  return { accepted, changed, ignored: reports.length - accepted };
}

interface PendingReport {
  agent: AgentPrincipal;
  rows: StatusReportInput[];
  resolve: (r: { accepted: number; changed: number }) => void;
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

  submit(agent: AgentPrincipal, rows: StatusReportInput[]): Promise<{ accepted: number; changed: number }> {
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
      batch.forEach((p, i) => p.resolve(counts[i] ?? { accepted: 0, changed: 0 }));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err as Error);
        return;
      }
      for (const p of batch) {
        await this.store([p]).then(
          (counts) => p.resolve(counts[0] ?? { accepted: 0, changed: 0 }),
          (e: Error) => p.reject(e),
        );
      }
    }
  }

  private async store(batch: PendingReport[]): Promise<{ accepted: number; changed: number }[]> {
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
      `json_build_object('organizationId', i.organization_id, 'targetId', i.target_id, 'deploymentId', i.deployment_id)`,
    );
    const rows: { req: number; accepted: number; changed: number }[] = await this.rootEm.fork().execute(
      `with input (req, deployment_id, target_id, organization_id, revision_id, phase, message, resources, at) as (
         values ${values.join(', ')}
       ),
       owned as (
         select d.id, s.phase, s.message, s.revision_id from deployment d
         left join deployment_status s on s.deployment_id = d.id
         where (d.id, d.target_id) in (select deployment_id, target_id from input)
         for update of d
       ),
       reported as (
         select i.*, (o.phase is distinct from i.phase or o.message is distinct from i.message or o.revision_id is distinct from i.revision_id) as is_change
         from input i join owned o on o.id = i.deployment_id
       ),
       upserted as (
         insert into deployment_status (deployment_id, revision_id, phase, message, resources, reported_at, changed_at)
         select deployment_id, revision_id, phase, message, resources, at, at from reported
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
         select gen_random_uuid(), deployment_id, revision_id, phase, message, at from reported where is_change
         returning deployment_id
       ),
       announced as (select ${notify} from transitions t join input i on i.deployment_id = t.deployment_id)
       select i.req, count(u.deployment_id)::int as accepted, count(t.deployment_id)::int as changed,
              (select count(*) from announced)::int as announced
       from input i
       left join upserted u on u.deployment_id = i.deployment_id
       left join transitions t on t.deployment_id = i.deployment_id
       group by i.req`,
      params,
    );
    const counts: { accepted: number; changed: number }[] = batch.map(() => ({ accepted: 0, changed: 0 }));
    for (const r of rows) counts[r.req] = { accepted: r.accepted, changed: r.changed };
    return counts;
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

/** Append a bounded batch of log lines of the agent's own deployments; prune old lines now and then. */
export async function pushLogs(em: EntityManager, hub: HubRuntime, agent: AgentPrincipal, lines: LogLine[]): Promise<number> {
  if (lines.length > MAX_LOG_BATCH) throw new InvalidInputError('lines', `at most ${MAX_LOG_BATCH} lines per call`);
  const deploymentIds = [...new Set(lines.map((l) => l.deploymentId).filter(isUuid))];
  if (deploymentIds.length === 0) return 0;
  const owned: { id: string }[] = await em.execute('select id from deployment where id in (?) and target_id = ?', [deploymentIds, agent.targetId]);
  const ownedIds = new Set(owned.map((r) => r.id));
  const accepted = lines.filter((l) => ownedIds.has(l.deploymentId) && !Number.isNaN(Date.parse(l.timestamp)));
  if (accepted.length === 0) return 0;
  const params = accepted.flatMap((l) => [l.deploymentId, l.resource.slice(0, 255), l.stream === 'stderr' ? 'stderr' : 'stdout', new Date(l.timestamp), l.line.slice(0, 8192)]);
  // Stored and announced in one statement: followers (deploymentLogs) read the new rows by id.
  await em.execute(
    `with stored as (
       insert into log_entry (deployment_id, resource, stream, timestamp, line) values ${accepted.map(() => '(?, ?, ?, ?, ?)').join(', ')}
       returning deployment_id, id
     )
     select ${EventBus.notifySql('logsAppended', "json_build_object('organizationId', ?::text, 'deploymentId', deployment_id, 'lastId', max(id)::text)")}
     from stored group by deployment_id`,
    [...params, agent.organizationId],
  );
  hub.metrics.logLines.inc(accepted.length);
  if (Math.random() < 0.05) {
    for (const id of ownedIds) {
      await em.execute(
        `delete from log_entry where deployment_id = ? and id < (select id from log_entry where deployment_id = ? order by id desc offset ? limit 1)`,
        [id, id, LOG_RETENTION],
      );
    }
  }
  return accepted.length;
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
