import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import type { EventBus } from '../events/bus.js';
import { InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { findOwned, isUuid } from '../scoping.js';
import { Application, ApplicationVersion } from '../applications/entities.js';
import { matchesSelector, parseSelector } from '../labels/labels.js';
import { Rollout, RolloutEvent, RolloutMember, type RolloutState } from './entities.js';
import { validateStrategy, waveSizes, type StrategyInput } from './plan.js';
import { appendCopiesOf } from './revisions.js';
import { requireConfigurationsFit } from '../deployments/version-fit.js';

export interface CreateRolloutInput {
  applicationId: string;
  versionId: string;
  /** Exactly one of selector, deploymentIds, all. */
  selector?: string | null;
  deploymentIds?: string[] | null;
  all?: boolean | null;
  strategy?: StrategyInput | null;
  /** Start at once (default false: the plan waits as pending). */
  start?: boolean | null;
}

/** Rollouts a deployment may belong to only one of at a time. */
export const ACTIVE_STATES: RolloutState[] = ['pending', 'running', 'paused', 'halted'];

export type RolloutAction = 'start' | 'pause' | 'resume' | 'abort' | 'retry';
const TRANSITIONS: Record<RolloutAction, { from: RolloutState[]; to: RolloutState }> = {
  start: { from: ['pending'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  abort: { from: ['pending', 'running', 'paused', 'halted'], to: 'aborted' },
  retry: { from: ['halted'], to: 'running' },
};

/** Record a transition (who, when, from what to what) in the caller's transaction. */
export function recordEvent(em: EntityManager, rollout: Rollout, e: { actor: string; action: string; from: RolloutState | null; to: RolloutState; wave?: number | null; detail?: string | null }): void {
  em.create(RolloutEvent, { rollout, at: new Date(), actor: e.actor, action: e.action, fromState: e.from, toState: e.to, wave: e.wave ?? null, detail: e.detail ?? null });
}

export class RolloutService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
  ) {}

  getRollout(id: string, em: EntityManager = this.em): Promise<Rollout> {
    return findOwned(em, Rollout, 'rollout', id, { organization: this.actor.organizationId });
  }

  listRollouts(filter: { applicationId?: string | null; state?: RolloutState | null }, limit: number, offset: number): Promise<Rollout[]> {
    if (filter.applicationId && !isUuid(filter.applicationId)) throw new NotFoundError('application', filter.applicationId);
    return this.em.find(
      Rollout,
      { organization: this.actor.organizationId, ...(filter.applicationId ? { application: filter.applicationId } : {}), ...(filter.state ? { state: filter.state } : {}) },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit, offset },
    );
  }

  async createRollout(input: CreateRolloutInput): Promise<Rollout> {
    const given = [input.selector != null, input.deploymentIds != null, input.all === true].filter(Boolean).length;
    if (given !== 1) throw new InvalidInputError('selection', 'give exactly one of selector, deploymentIds or all: true');
    const strategy = validateStrategy(input.strategy ?? {});
    const selector = input.selector != null ? parseSelector('selector', input.selector) : null;
    return this.em.transactional(async (em) => {
      const app = await findOwned(em, Application, 'application', input.applicationId, { organization: this.actor.organizationId });
      const version = await findOwned(em, ApplicationVersion, 'application version', input.versionId, { application: { organization: this.actor.organizationId } }, ['application']);
      if (version.application.id !== app.id) {
        throw new RuleViolationError('version_of_other_application', `version "${version.name}" belongs to application "${version.application.name}", not to "${app.name}"`);
      }
      if (version.archivedAt) throw new RuleViolationError('version_archived', `version "${version.name}" is archived and cannot be rolled out`);
      for (const id of input.deploymentIds ?? []) if (!isUuid(id)) throw new NotFoundError('deployment', id);
      const candidates: { id: string; application_id: string; target_name: string; labels: Record<string, string>; version_id: string; env_file: string | null }[] = await em.execute(
        `select d.id, d.application_id, t.name as target_name, t.labels, r.version_id, r.env_file
         from deployment d join deployment_target t on t.id = d.target_id join deployment_revision r on r.id = d.current_revision_id
         where d.organization_id = ? and ${input.deploymentIds ? 'd.id in (?)' : 'd.application_id = ?'}
         order by t.name, d.id`,
        [this.actor.organizationId, input.deploymentIds ? (input.deploymentIds.length > 0 ? input.deploymentIds : ['00000000-0000-0000-0000-000000000000']) : app.id],
      );
      if (input.deploymentIds) {
        const found = new Map(candidates.map((c) => [c.id, c]));
        for (const id of input.deploymentIds) {
          const c = found.get(id);
          if (!c) throw new NotFoundError('deployment', id);
          if (c.application_id !== app.id) throw new RuleViolationError('deployment_of_other_application', `deployment ${id} runs another application than "${app.name}"`);
        }
        if (new Set(input.deploymentIds).size !== input.deploymentIds.length) throw new InvalidInputError('deploymentIds', 'a deployment is listed twice');
      }
      const selected = selector ? candidates.filter((c) => matchesSelector(selector, c.labels ?? {})) : candidates;
      if (selected.length === 0) {
        const what = selector ? `the selector "${selector.source}" matches no target with a deployment of "${app.name}"` : `application "${app.name}" has no deployments`;
        throw new RuleViolationError('selection_empty', `nothing to roll out: ${what}`);
      }
      const plan = selected.filter((c) => c.version_id !== version.id);
      if (plan.length === 0) throw new RuleViolationError('nothing_to_roll_out', `every selected deployment (${selected.length}) already runs version "${version.name}"`);
      // Each moved deployment's env file must set what the new version's compose file requires.
      await requireConfigurationsFit(version, plan.map((c) => ({ id: c.id, targetName: c.target_name, envFile: c.env_file })));
      const busy: { deployment_id: string; rollout_id: string }[] = await em.execute(
        `select m.deployment_id, m.rollout_id from rollout_member m join rollout r on r.id = m.rollout_id
         where m.deployment_id in (?) and r.state in (?) limit 1`,
        [plan.map((c) => c.id), ACTIVE_STATES],
      );
      if (busy.length > 0) {
        throw new RuleViolationError('deployment_in_active_rollout', `deployment ${busy[0]!.deployment_id} is already in rollout ${busy[0]!.rollout_id}, which has not finished; abort it or wait for it`);
      }
      const sizes = waveSizes(plan.length, strategy);
      const rollout = em.create(Rollout, {
        organization: this.actor.organizationId,
        application: app,
        version,
        selection: { selector: selector?.source ?? null, deploymentIds: input.deploymentIds ?? null, all: input.all === true },
        strategy,
        state: 'pending',
        currentWave: 0,
        waveCount: sizes.length,
        createdBy: this.actor.label,
      });
      let position = 0;
      sizes.forEach((size, wave) => {
        for (let k = 0; k < size; k++, position++) {
          em.create(RolloutMember, { rollout, deployment: plan[position]!.id, wave, position, state: 'pending' });
        }
      });
      recordEvent(em, rollout, { actor: this.actor.label, action: 'created', from: null, to: 'pending', detail: `${plan.length} deployments in ${sizes.length} waves (${sizes.join(', ')})` });
      if (input.start) {
        rollout.state = 'running';
        recordEvent(em, rollout, { actor: this.actor.label, action: 'start', from: 'pending', to: 'running', wave: 0 });
      }
      await em.flush();
      await this.hub.bus.publish(em, 'rolloutsChanged', { organizationId: this.actor.organizationId, rolloutIds: [rollout.id] });
      return rollout;
    });
  }

  /** start / pause / resume / abort / retry: a state transition under the rollout's row lock. */
  async act(id: string, action: RolloutAction): Promise<Rollout> {
    return this.em.transactional(async (em) => {
      if (!isUuid(id)) throw new NotFoundError('rollout', id);
      const rollout = await em.findOne(Rollout, { id, organization: this.actor.organizationId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!rollout) throw new NotFoundError('rollout', id);
      const t = TRANSITIONS[action];
      if (!t.from.includes(rollout.state)) {
        throw new RuleViolationError('invalid_transition', `cannot ${action} a rollout that is ${rollout.state} (${action} applies to ${t.from.join(' or ')} rollouts)`);
      }
      const from = rollout.state;
      let detail: string | null = null;
      if (action === 'retry') {
        // The failed (and rolled back) deployments of the halted wave are moved again.
        const reset = await em.nativeUpdate(
          RolloutMember,
          { rollout: rollout.id, wave: rollout.currentWave, state: { $in: ['failed', 'rolled_back'] } },
          { state: 'pending', toRevisionId: null, movedAt: null, healthySince: null, finishedAt: null, message: null },
        );
        detail = `${reset} deployment(s) of wave ${rollout.currentWave} will be updated again`;
        rollout.haltReason = null;
      }
      rollout.state = t.to;
      rollout.updatedAt = new Date();
      recordEvent(em, rollout, { actor: this.actor.label, action, from, to: t.to, wave: rollout.currentWave, detail });
      await em.flush();
      await this.hub.bus.publish(em, 'rolloutsChanged', { organizationId: this.actor.organizationId, rolloutIds: [rollout.id] });
      await this.hub.bus.publish(em, 'rolloutProgressed', { organizationId: this.actor.organizationId, rolloutId: rollout.id });
      return rollout;
    });
  }

  /** Roll back every deployment the rollout moved (that nobody changed since) to its revision before the rollout. */
  async rollBack(id: string): Promise<Rollout> {
    return this.em.transactional(async (em) => {
      if (!isUuid(id)) throw new NotFoundError('rollout', id);
      const rollout = await em.findOne(Rollout, { id, organization: this.actor.organizationId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!rollout) throw new NotFoundError('rollout', id);
      if (!['halted', 'aborted', 'paused'].includes(rollout.state)) {
        throw new RuleViolationError('invalid_transition', `a ${rollout.state} rollout cannot be rolled back: pause, abort or let it halt first`);
      }
      const count = await rollBackMembers(em, rollout, { actor: this.actor.label }, null, this.hub.bus);
      const from = rollout.state;
      // A paused rollout that is rolled back does not go on.
      if (rollout.state === 'paused') rollout.state = 'aborted';
      rollout.updatedAt = new Date();
      recordEvent(em, rollout, { actor: this.actor.label, action: 'rollback', from, to: rollout.state, detail: `${count} deployment(s) rolled back` });
      await em.flush();
      await this.hub.bus.publish(em, 'rolloutProgressed', { organizationId: this.actor.organizationId, rolloutId: rollout.id });
      return rollout;
    });
  }
}

/**
 * Return moved members (of `wave`, or all when null) to their revision before the rollout, when
 * their deployment still runs the rollout's revision; in the caller's transaction.
 */
export async function rollBackMembers(em: EntityManager, rollout: Rollout, by: { actor: string }, wave: number | null, bus: EventBus): Promise<number> {
  const rows: { id: string; deployment_id: string; from_revision_id: string }[] = await em.execute(
    `select m.id, m.deployment_id, m.from_revision_id from rollout_member m join deployment d on d.id = m.deployment_id
     where m.rollout_id = ? and m.to_revision_id is not null and m.state <> 'rolled_back' and d.current_revision_id = m.to_revision_id
     ${wave === null ? '' : 'and m.wave = ?'}`,
    wave === null ? [rollout.id] : [rollout.id, wave],
  );
  if (rows.length === 0) return 0;
  const moved = await appendCopiesOf(em, rows.map((r) => ({ deploymentId: r.deployment_id, revisionId: r.from_revision_id })), `${by.actor} (rollback of rollout ${rollout.id})`);
  await em.execute(`update rollout_member set state = 'rolled_back', finished_at = now() where id in (?)`, [rows.map((r) => r.id)]);
  await bus.publish(em, 'targetsChanged', { targetIds: moved.map((m) => m.targetId) });
  return rows.length;
}
