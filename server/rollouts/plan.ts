/**
 * Pure decisions of the rollout controller: how a plan splits into waves, and what one step of a
 * running rollout does given what is stored (members, statuses, windows, the clock). The
 * controller (controller.ts) only loads, calls `decideStep` and writes what it returns, so every
 * rule here is unit-tested without a database.
 */
import { InvalidInputError } from '../errors.js';
import type { MemberState, RolloutStrategy, WaveSize } from './entities.js';

export const MAX_WAVES = 20;
/** A soak or deadline longer than a week is a plan nobody will watch. */
const MAX_SECONDS = 7 * 86_400;

export interface StrategyInput {
  canary?: number | null;
  waves?: WaveSize[] | null;
  soakSeconds?: number | null;
  progressDeadlineSeconds?: number | null;
  maxFailed?: number | null;
  maxUpdating?: number | null;
  onFailure?: RolloutStrategy['onFailure'] | null;
}

function wholeNumber(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidInputError(field, `must be a whole number from ${min} to ${max}`);
  return value;
}

export function validateStrategy(input: StrategyInput): RolloutStrategy {
  const waves = (input.waves ?? []).map((w, i) => {
    const hasCount = w.count != null;
    const hasPercent = w.percent != null;
    if (hasCount === hasPercent) throw new InvalidInputError(`strategy.waves[${i}]`, 'give either count or percent');
    return hasCount ? { count: wholeNumber(`strategy.waves[${i}].count`, w.count!, 1, 1_000_000) } : { percent: wholeNumber(`strategy.waves[${i}].percent`, w.percent!, 1, 100) };
  });
  if (waves.length + 1 > MAX_WAVES) throw new InvalidInputError('strategy.waves', `at most ${MAX_WAVES - 1} waves after the canary`);
  return {
    canary: wholeNumber('strategy.canary', input.canary ?? 1, 1, 1_000_000),
    waves,
    soakSeconds: wholeNumber('strategy.soakSeconds', input.soakSeconds ?? 0, 0, MAX_SECONDS),
    progressDeadlineSeconds: wholeNumber('strategy.progressDeadlineSeconds', input.progressDeadlineSeconds ?? 600, 1, MAX_SECONDS),
    maxFailed: wholeNumber('strategy.maxFailed', input.maxFailed ?? 0, 0, 1_000_000),
    maxUpdating: input.maxUpdating == null ? null : wholeNumber('strategy.maxUpdating', input.maxUpdating, 1, 1_000_000),
    onFailure: input.onFailure ?? 'halt',
  };
}

/**
 * The wave of each of `n` deployments, in plan order: the canary takes the first `canary`, each
 * further wave its count or percentage of all `n` (rounded up); what they leave over forms one
 * last wave ("the rest"); waves left empty are dropped. Returns the wave sizes.
 */
export function waveSizes(n: number, strategy: Pick<RolloutStrategy, 'canary' | 'waves'>): number[] {
  const sizes: number[] = [];
  let left = n;
  const take = (k: number) => {
    const t = Math.min(k, left);
    if (t > 0) sizes.push(t);
    left -= t;
  };
  take(strategy.canary);
  for (const w of strategy.waves) take(w.count ?? Math.ceil(((w.percent ?? 0) * n) / 100));
  if (left > 0) sizes.push(left);
  return sizes;
}

const HEALTHY_PHASES = new Set(['healthy', 'running']);

/** A member of the running wave with what is stored about its deployment. */
export interface MemberView {
  id: string;
  deploymentId: string;
  state: MemberState;
  toRevisionId: string | null;
  movedAt: Date | null;
  healthySince: Date | null;
  /** The deployment's latest status, if any. */
  status: { revisionId: string; phase: string; message: string; changedAt: Date } | null;
  /** Whether the target's maintenance window is open now, and when it opens next. */
  windowOpen: boolean;
  nextWindowAt: Date | null;
}

export interface MemberChange {
  id: string;
  state: MemberState;
  healthySince?: Date | null;
  finishedAt?: Date | null;
  message?: string | null;
}

export interface StepDecision {
  changes: MemberChange[];
  /** Pending members to move now (append the new revision). */
  move: string[];
  /** The wave's outcome: still running, passed (every member passed or tolerated), or halted. */
  outcome: { kind: 'running' } | { kind: 'passed' } | { kind: 'halted'; reason: string; failed: string[] };
  /** When the step must run again though no event arrives (soak end, deadline, window opening). */
  wakeAt: Date | null;
}

/**
 * One step of the running wave. `failedElsewhere` counts failures of earlier waves (tolerated
 * ones). Moves respect maxUpdating over the whole rollout (`updatingElsewhere` counts members
 * of other waves still being updated, normally none) and the targets' windows.
 */
export function decideStep(
  members: readonly MemberView[],
  strategy: RolloutStrategy,
  now: Date,
  failedElsewhere = 0,
  updatingElsewhere = 0,
): StepDecision {
  const changes: MemberChange[] = [];
  const states = new Map(members.map((m) => [m.id, m.state]));
  let wakeAt: number | null = null;
  const wake = (t: number) => (wakeAt = wakeAt === null ? t : Math.min(wakeAt, t));
  const soakMs = strategy.soakSeconds * 1000;
  const deadlineMs = strategy.progressDeadlineSeconds * 1000;

  for (const m of members) {
    if (m.state !== 'updating' && m.state !== 'soaking') continue;
    const atNew = m.status !== null && m.status.revisionId === m.toRevisionId;
    const phase = atNew ? m.status!.phase : null;
    if (phase === 'error') {
      const message = m.state === 'soaking' ? `turned error during the soak: ${m.status!.message}` : `reported error: ${m.status!.message}`;
      changes.push({ id: m.id, state: 'failed', finishedAt: now, message });
      states.set(m.id, 'failed');
      continue;
    }
    if (phase !== null && HEALTHY_PHASES.has(phase)) {
      const since = m.healthySince ?? m.status!.changedAt;
      if (since.getTime() + soakMs <= now.getTime()) {
        changes.push({ id: m.id, state: 'passed', healthySince: since, finishedAt: now, message: null });
        states.set(m.id, 'passed');
      } else {
        if (m.state !== 'soaking' || !m.healthySince) changes.push({ id: m.id, state: 'soaking', healthySince: since });
        states.set(m.id, 'soaking');
        wake(since.getTime() + soakMs);
      }
      continue;
    }
    // Not (or no longer) healthy at the new revision: back to updating, under the deadline.
    if (m.state === 'soaking') {
      changes.push({ id: m.id, state: 'updating', healthySince: null });
      states.set(m.id, 'updating');
    }
    const deadline = (m.movedAt?.getTime() ?? now.getTime()) + deadlineMs;
    if (deadline <= now.getTime()) {
      const seen = m.status ? `last status ${m.status.phase}${atNew ? '' : ' at an older revision'}: ${m.status.message}` : 'no status reported';
      changes.push({ id: m.id, state: 'failed', finishedAt: now, message: `not healthy within ${strategy.progressDeadlineSeconds} s (${seen})` });
      states.set(m.id, 'failed');
    } else {
      wake(deadline);
    }
  }

  const failed = members.filter((m) => states.get(m.id) === 'failed');
  if (failed.length + failedElsewhere > strategy.maxFailed) {
    const reason =
      `${failed.length} deployment${failed.length === 1 ? '' : 's'} of the wave failed` +
      (strategy.maxFailed > 0 ? ` (${failed.length + failedElsewhere} in all, more than the ${strategy.maxFailed} tolerated)` : '');
    return { changes, move: [], outcome: { kind: 'halted', reason, failed: failed.map((m) => m.deploymentId) }, wakeAt: null };
  }

  const inFlight = members.filter((m) => ['updating', 'soaking'].includes(states.get(m.id)!)).length + updatingElsewhere;
  let slots = strategy.maxUpdating === null ? Infinity : Math.max(0, strategy.maxUpdating - inFlight);
  const move: string[] = [];
  for (const m of members) {
    if (states.get(m.id) !== 'pending') continue;
    if (!m.windowOpen) {
      if (m.nextWindowAt) wake(m.nextWindowAt.getTime());
      continue;
    }
    if (slots <= 0) break;
    slots--;
    move.push(m.id);
  }

  const settled = members.every((m) => ['passed', 'failed'].includes(states.get(m.id)!));
  return { changes, move, outcome: settled && move.length === 0 ? { kind: 'passed' } : { kind: 'running' }, wakeAt: wakeAt === null ? null : new Date(wakeAt) };
}

/** What a member waits for, in words, for the plan's `waitingFor` (null when it waits for nothing). */
export function waitingFor(
  m: Pick<MemberView, 'state' | 'toRevisionId' | 'healthySince' | 'windowOpen' | 'nextWindowAt'> & { wave: number },
  rollout: { state: string; currentWave: number; strategy: RolloutStrategy },
): string | null {
  if (m.state === 'passed' || m.state === 'failed' || m.state === 'rolled_back') return null;
  if (m.state === 'updating') return `a healthy status at revision ${m.toRevisionId}`;
  if (m.state === 'soaking') return `the soak to end at ${new Date(m.healthySince!.getTime() + rollout.strategy.soakSeconds * 1000).toISOString()}`;
  if (rollout.state === 'pending') return 'the rollout to start';
  if (['halted', 'aborted', 'completed'].includes(rollout.state)) return null;
  if (m.wave > rollout.currentWave) return `wave ${m.wave} (the rollout is in wave ${rollout.currentWave})`;
  if (!m.windowOpen) return `its maintenance window${m.nextWindowAt ? ` (opens at ${m.nextWindowAt.toISOString()})` : ''}`;
  if (rollout.state === 'paused') return 'the rollout to resume';
  return 'a free update slot (maxUpdating)';
}
