/**
 * The rollout controller. One hub replica at a time leads (a PostgreSQL session advisory lock
 * held on a connection of its own: when the process dies, the lock goes to a waiting replica);
 * the leader steps running rollouts when a status of one of their deployments changes, when a
 * rollout is acted on, and at the times a step asked to be woken (soak end, progress deadline,
 * window opening), all derived from stored timestamps, so a restarted or new leader resumes
 * exactly where the last one was. Each step runs under the rollout's row lock and decides from
 * what is stored, so even two controllers could never advance a wave twice.
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import type { HubMetrics } from '../metrics/metrics.js';
import { Rollout } from './entities.js';
import { decideStep, type MemberView } from './plan.js';
import { appendVersionRevisions } from './revisions.js';
import { recordEvent, rollBackMembers } from './service.js';
import { isWindowOpen, nextWindowOpening, type MaintenanceWindow } from './windows.js';

/** Advisory lock key of the controller's leadership ("rlot"). */
const LEADER_LOCK_KEY = 0x726c6f74;
/** Longest a timer is set for; a longer wait is re-planned then. */
const MAX_TIMER_MS = 3_600_000;

interface MemberRow {
  id: string;
  deployment_id: string;
  state: MemberView['state'];
  to_revision_id: string | null;
  moved_at: Date | null;
  healthy_since: Date | null;
  status_revision_id: string | null;
  phase: string | null;
  message: string | null;
  changed_at: Date | null;
  time_zone: string;
  maintenance_windows: MaintenanceWindow[] | null;
}

export class RolloutController {
  private leader = false;
  private stopped = false;
  private lockClient: pg.Client | null = null;
  /** Deployment id → running rollout id, for the status events that concern rollouts. */
  private index = new Map<string, string>();
  private readonly pending = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private working = false;
  private scheduled = false;
  readonly actor: string;

  constructor(
    private readonly rootEm: EntityManager,
    private readonly bus: EventBus,
    private readonly databaseUrl: string,
    instanceId: string,
    private readonly logger: Logger,
    private readonly metrics?: HubMetrics,
  ) {
    this.actor = `controller@${instanceId.slice(0, 8)}`;
    bus.on('statusChanged', ({ deploymentId }) => {
      const rolloutId = this.index.get(deploymentId);
      if (rolloutId) this.enqueue(rolloutId);
    });
    bus.on('rolloutsChanged', ({ rolloutIds }) => {
      if (rolloutIds.includes('*')) void this.reloadAll();
      else for (const id of rolloutIds) this.enqueue(id, true);
    });
    // The bus reconnected: events may have been missed meanwhile.
    bus.on('targetsChanged', ({ targetIds }) => targetIds.includes('*') && void this.reloadAll());
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Contend for leadership in the background (returns at once). */
  start(): void {
    void this.contend();
  }

  private async contend(): Promise<void> {
    while (!this.stopped) {
      const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'distr-rollout-controller' });
      try {
        const lost = new Promise<void>((resolve) => {
          client.on('error', () => resolve());
          client.on('end', () => resolve());
        });
        await client.connect();
        this.lockClient = client;
        // Blocks until this replica holds the lock (the leader's session ends, or it stops).
        await client.query('select pg_advisory_lock($1)', [LEADER_LOCK_KEY]);
        if (this.stopped) break;
        this.leader = true;
        this.logger.info('rollout controller leads');
        await this.reloadAll();
        await lost;
      } catch (err) {
        if (!this.stopped) this.logger.warn({ err: (err as Error).message }, 'rollout controller lost its lock connection');
      } finally {
        this.stepDown();
        await client.end().catch(() => {});
        this.lockClient = null;
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private stepDown(): void {
    this.leader = false;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stepDown();
    await this.lockClient?.end().catch(() => {});
    while (this.working) await new Promise((r) => setTimeout(r, 20));
  }

  /** Re-read which rollouts run and step every one of them. */
  private async reloadAll(): Promise<void> {
    if (!this.leader) return;
    try {
      const ids = await this.refreshIndex();
      for (const id of ids) this.enqueue(id);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'loading running rollouts failed');
    }
  }

  private async refreshIndex(): Promise<string[]> {
    const rows: { deployment_id: string; rollout_id: string }[] = await this.rootEm.fork().execute(
      `select m.deployment_id, m.rollout_id from rollout_member m join rollout r on r.id = m.rollout_id where r.state = 'running'`,
    );
    this.index = new Map(rows.map((r) => [r.deployment_id, r.rollout_id]));
    const running: { id: string }[] = await this.rootEm.fork().execute(`select id from rollout where state = 'running'`);
    return running.map((r) => r.id);
  }

  private enqueue(rolloutId: string, refresh = false): void {
    if (!this.leader) return;
    if (refresh) this.pending.add(`refresh:${rolloutId}`);
    this.pending.add(rolloutId);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.work();
    });
  }

  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      while (this.leader && this.pending.size > 0) {
        const refresh = [...this.pending].some((p) => p.startsWith('refresh:'));
        const batch = [...this.pending].filter((p) => !p.startsWith('refresh:'));
        this.pending.clear();
        if (refresh) await this.refreshIndex().catch((err: Error) => this.logger.error({ err: err.message }, 'refreshing the rollout index failed'));
        for (const id of batch) {
          if (!this.leader) break;
          try {
            const outcome = await this.timedStep(id);
            this.schedule(id, outcome.wakeAt);
            if (outcome.stateChanged) await this.refreshIndex();
          } catch (err) {
            this.logger.error({ err: (err as Error).message, rolloutId: id }, 'rollout step failed; retrying');
            this.schedule(id, new Date(Date.now() + 1000));
          }
        }
      }
    } finally {
      this.working = false;
    }
  }

  private schedule(rolloutId: string, at: Date | null): void {
    const old = this.timers.get(rolloutId);
    if (old) clearTimeout(old);
    this.timers.delete(rolloutId);
    if (!at || !this.leader) return;
    const delay = Math.min(Math.max(0, at.getTime() - Date.now()), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(rolloutId);
      this.enqueue(rolloutId);
    }, delay + 5);
    timer.unref();
    this.timers.set(rolloutId, timer);
  }

  /** A step, counted in the metrics (steps, wall time, process CPU meanwhile). */
  private async timedStep(rolloutId: string): Promise<{ wakeAt: Date | null; stateChanged: boolean }> {
    const cpu = process.cpuUsage();
    const started = performance.now();
    try {
      return await this.step(rolloutId);
    } finally {
      const used = process.cpuUsage(cpu);
      this.metrics?.rolloutSteps.inc();
      this.metrics?.rolloutStepSeconds.observe((performance.now() - started) / 1000);
      this.metrics?.rolloutStepCpuSeconds.inc((used.user + used.system) / 1e6);
    }
  }

  /** One step of a rollout, in one transaction under its row lock; what to wake it for next. */
  async step(rolloutId: string): Promise<{ wakeAt: Date | null; stateChanged: boolean }> {
    return this.rootEm.fork().transactional(async (em) => {
      const rollout = await em.findOne(Rollout, { id: rolloutId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!rollout || rollout.state !== 'running') return { wakeAt: null, stateChanged: false };
      const orgId = rollout.organization.id;
      let changedAnything = false;
      let stateChanged = false;
      const targetIds: string[] = [];
      let wakeAt: Date | null = null;
      for (;;) {
        const now = new Date();
        // One round trip: the wave's members with their statuses, and (computed once, as an
        // InitPlan) the failures of earlier waves.
        const rows = await em.execute<(MemberRow & { failed_before: number })[]>(
          `/* rolloutStepMembers */ select m.id, m.deployment_id, m.state, m.to_revision_id, m.moved_at, m.healthy_since,
                  s.revision_id as status_revision_id, s.phase, s.message, s.changed_at, t.time_zone, t.maintenance_windows,
                  (select count(*)::int from rollout_member f where f.rollout_id = ? and f.wave < ? and f.state = 'failed') as failed_before
           from rollout_member m join deployment d on d.id = m.deployment_id join deployment_target t on t.id = d.target_id
           left join deployment_status s on s.deployment_id = m.deployment_id
           where m.rollout_id = ? and m.wave = ? order by m.position`,
          [rollout.id, rollout.currentWave, rollout.id, rollout.currentWave],
        );
        const failed = rows[0]?.failed_before ?? 0;
        const views: MemberView[] = rows.map((r) => {
          const open = isWindowOpen(r.maintenance_windows, r.time_zone, now);
          return {
            id: r.id,
            deploymentId: r.deployment_id,
            state: r.state,
            toRevisionId: r.to_revision_id,
            movedAt: r.moved_at ? new Date(r.moved_at) : null,
            healthySince: r.healthy_since ? new Date(r.healthy_since) : null,
            status: r.status_revision_id ? { revisionId: r.status_revision_id, phase: r.phase!, message: r.message ?? '', changedAt: new Date(r.changed_at!) } : null,
            windowOpen: open,
            nextWindowAt: open ? null : nextWindowOpening(r.maintenance_windows, r.time_zone, now),
          };
        });
        const decision = decideStep(views, rollout.strategy, now, failed);
        if (decision.changes.length > 0) {
          changedAnything = true;
          await em.execute(
            `update rollout_member m set state = c.state::rollout_member_state,
                    healthy_since = case when c.set_healthy then c.healthy_since else m.healthy_since end,
                    finished_at = case when c.set_finished then c.finished_at else m.finished_at end,
                    message = case when c.set_message then c.message else m.message end
             from unnest(?::uuid[], ?::text[], ?::boolean[], ?::timestamptz[], ?::boolean[], ?::timestamptz[], ?::boolean[], ?::text[])
               as c(id, state, set_healthy, healthy_since, set_finished, finished_at, set_message, message)
             where m.id = c.id`,
            [
              pgArray(decision.changes.map((c) => c.id)),
              pgArray(decision.changes.map((c) => c.state)),
              pgArray(decision.changes.map((c) => c.healthySince !== undefined)),
              pgArray(decision.changes.map((c) => c.healthySince?.toISOString() ?? null)),
              pgArray(decision.changes.map((c) => c.finishedAt !== undefined)),
              pgArray(decision.changes.map((c) => c.finishedAt?.toISOString() ?? null)),
              pgArray(decision.changes.map((c) => c.message !== undefined)),
              pgArray(decision.changes.map((c) => c.message ?? null)),
            ],
          );
        }
        if (decision.move.length > 0) {
          changedAnything = true;
          const byMember = new Map(views.map((v) => [v.id, v.deploymentId]));
          const moved = await appendVersionRevisions(em, decision.move.map((id) => byMember.get(id)!), rollout.version.id, `rollout ${rollout.id}`);
          await em.execute(
            `update rollout_member m set state = 'updating', from_revision_id = c.from_id, to_revision_id = c.to_id, moved_at = ?, healthy_since = null, message = null
             from unnest(?::uuid[], ?::uuid[], ?::uuid[]) as c(deployment_id, from_id, to_id)
             where m.rollout_id = ? and m.deployment_id = c.deployment_id`,
            [now, pgArray(moved.map((m) => m.deploymentId)), pgArray(moved.map((m) => m.fromRevisionId)), pgArray(moved.map((m) => m.toRevisionId)), rollout.id],
          );
          targetIds.push(...moved.map((m) => m.targetId));
          // Their deadline runs from now: wake for it.
          const deadline = new Date(now.getTime() + rollout.strategy.progressDeadlineSeconds * 1000);
          decision.wakeAt = decision.wakeAt && decision.wakeAt < deadline ? decision.wakeAt : deadline;
        }
        if (decision.outcome.kind === 'halted') {
          stateChanged = true;
          rollout.state = 'halted';
          rollout.haltReason = `wave ${rollout.currentWave}: ${decision.outcome.reason}`;
          recordEvent(em, rollout, { actor: this.actor, action: 'halt', from: 'running', to: 'halted', wave: rollout.currentWave, detail: `${rollout.haltReason}; failed: ${decision.outcome.failed.join(', ')}` });
          if (rollout.strategy.onFailure === 'halt_and_rollback') {
            // The deployments moved now are rolled back with the rest of the wave.
            if (targetIds.length > 0) await this.bus.publish(em, 'targetsChanged', { targetIds: targetIds.splice(0) });
            const count = await rollBackMembers(em, rollout, { actor: this.actor }, rollout.currentWave, this.bus);
            recordEvent(em, rollout, { actor: this.actor, action: 'rollback', from: 'halted', to: 'halted', wave: rollout.currentWave, detail: `${count} deployment(s) of wave ${rollout.currentWave} rolled back` });
          }
          break;
        }
        if (decision.outcome.kind === 'passed') {
          // A next wave changes no membership: the deployment index stays valid (no refresh).
          changedAnything = true;
          if (rollout.currentWave + 1 >= rollout.waveCount) {
            stateChanged = true;
            rollout.state = 'completed';
            recordEvent(em, rollout, { actor: this.actor, action: 'complete', from: 'running', to: 'completed', wave: rollout.currentWave });
            break;
          }
          rollout.currentWave += 1;
          recordEvent(em, rollout, { actor: this.actor, action: 'wave', from: 'running', to: 'running', wave: rollout.currentWave, detail: `wave ${rollout.currentWave - 1} passed; wave ${rollout.currentWave} starts` });
          continue; // start the next wave in the same step
        }
        wakeAt = decision.wakeAt;
        break;
      }
      if (stateChanged || changedAnything) {
        rollout.updatedAt = new Date();
        await em.flush();
        if (targetIds.length > 0) await this.bus.publish(em, 'targetsChanged', { targetIds });
        await this.bus.publish(em, 'rolloutProgressed', { organizationId: orgId, rolloutId: rollout.id });
      }
      return { wakeAt, stateChanged };
    });
  }
}

/** A PostgreSQL array literal of text values (null allowed), for unnest(?::type[]). */
function pgArray(values: readonly (string | boolean | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : typeof v === 'boolean' ? String(v) : `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}
