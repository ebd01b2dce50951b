import { resolveOffsetConnection } from '@pothos/plugin-relay';
import type { EntityManager } from '@mikro-orm/postgresql';
import { PushChannel } from '../agents/channel.js';
import type { BusTopics } from '../events/bus.js';
import { builder, vendorOf } from '../schema/builder.js';
import { MUTATION_ERRORS } from '../schema/errors.js';
import { byId, loadByIds } from '../schema/loaders.js';
import { ApplicationRef, ApplicationVersionRef } from '../applications/types.js';
import { DeploymentRef } from '../deployments/types.js';
import { DeploymentTargetRef } from '../targets/types.js';
import { MEMBER_STATES, ON_FAILURE, ROLLOUT_STATES, Rollout, RolloutEvent, type MemberState, type RolloutStrategy } from './entities.js';
import { waitingFor } from './plan.js';
import { rollbackDeployment } from './rollback.js';
import { RolloutService, type RolloutAction } from './service.js';
import { isWindowOpen, nextWindowOpening, type MaintenanceWindow } from './windows.js';

export const RolloutStateEnum = builder.enumType('RolloutState', { values: ROLLOUT_STATES });
const MemberStateEnum = builder.enumType('RolloutMemberState', { values: MEMBER_STATES });
const OnFailureEnum = builder.enumType('RolloutOnFailure', {
  values: { halt: { value: 'halt' }, halt_and_rollback: { value: 'halt_and_rollback', description: "Halt and roll the failed wave's deployments back." } } as const,
});
void ON_FAILURE;

export const RolloutRef = builder.loadableObjectRef<Rollout, string>('Rollout', { load: loadByIds(Rollout), sort: byId });

/** A member with what its plan line shows: where its target's window stands. */
interface MemberLine {
  id: string;
  deploymentId: string;
  targetId: string;
  wave: number;
  position: number;
  state: MemberState;
  fromRevisionId: string | null;
  toRevisionId: string | null;
  movedAt: Date | null;
  healthySince: Date | null;
  finishedAt: Date | null;
  message: string | null;
  windowOpen: boolean;
  nextWindowAt: Date | null;
  rollout: Rollout;
}

/** Every member of a rollout with its target's window, in plan order: one query. */
const memberLines = new WeakMap<Rollout, Promise<MemberLine[]>>();
function loadMembers(em: EntityManager, rollout: Rollout): Promise<MemberLine[]> {
  let pending = memberLines.get(rollout);
  if (pending) return pending;
  pending = (async () => {
    const now = new Date();
    const rows: any[] = await em.execute(
      `select m.*, d.target_id, t.time_zone, t.maintenance_windows from rollout_member m
       join deployment d on d.id = m.deployment_id join deployment_target t on t.id = d.target_id
       where m.rollout_id = ? order by m.position`,
      [rollout.id],
    );
    return rows.map((r) => {
      const windows = r.maintenance_windows as MaintenanceWindow[] | null;
      const open = isWindowOpen(windows, r.time_zone, now);
      const date = (v: unknown) => (v ? new Date(v as string) : null);
      return {
        id: r.id,
        deploymentId: r.deployment_id,
        targetId: r.target_id,
        wave: r.wave,
        position: r.position,
        state: r.state,
        fromRevisionId: r.from_revision_id,
        toRevisionId: r.to_revision_id,
        movedAt: date(r.moved_at),
        healthySince: date(r.healthy_since),
        finishedAt: date(r.finished_at),
        message: r.message,
        windowOpen: open,
        nextWindowAt: open ? null : nextWindowOpening(windows, r.time_zone, now),
        rollout,
      };
    });
  })();
  memberLines.set(rollout, pending);
  return pending;
}

const WaveSizeRef = builder.objectRef<{ count?: number | null; percent?: number | null }>('RolloutWaveSize').implement({
  fields: (t) => ({
    count: t.int({ nullable: true, resolve: (w) => w.count ?? null }),
    percent: t.int({ nullable: true, resolve: (w) => w.percent ?? null }),
  }),
});

const StrategyRef = builder.objectRef<RolloutStrategy>('RolloutStrategy').implement({
  fields: (t) => ({
    canary: t.exposeInt('canary', { description: 'Deployments in the first wave.' }),
    waves: t.field({ type: [WaveSizeRef], resolve: (s) => s.waves }),
    soakSeconds: t.exposeInt('soakSeconds'),
    progressDeadlineSeconds: t.exposeInt('progressDeadlineSeconds'),
    maxFailed: t.exposeInt('maxFailed'),
    maxUpdating: t.int({ nullable: true, resolve: (s) => s.maxUpdating }),
    onFailure: t.field({ type: OnFailureEnum, resolve: (s) => s.onFailure }),
  }),
});

const SelectionRef = builder.objectRef<Rollout['selection']>('RolloutSelection').implement({
  fields: (t) => ({
    selector: t.string({ nullable: true, resolve: (s) => s.selector }),
    deploymentIds: t.idList({ nullable: true, resolve: (s) => s.deploymentIds }),
    all: t.exposeBoolean('all'),
  }),
});

const MemberRef = builder.objectRef<MemberLine>('RolloutMember').implement({
  description: 'One deployment of the plan: its wave and how far the rollout got with it.',
  fields: (t) => ({
    deployment: t.field({ type: DeploymentRef, resolve: (m) => m.deploymentId }),
    deploymentId: t.id({ resolve: (m) => m.deploymentId }),
    target: t.field({ type: DeploymentTargetRef, resolve: (m) => m.targetId }),
    wave: t.exposeInt('wave'),
    state: t.field({ type: MemberStateEnum, resolve: (m) => m.state }),
    fromRevisionId: t.id({ nullable: true, description: 'The revision before the rollout moved it (what a rollback returns to).', resolve: (m) => m.fromRevisionId }),
    toRevisionId: t.id({ nullable: true, description: 'The revision the rollout appended.', resolve: (m) => m.toRevisionId }),
    movedAt: t.field({ type: 'DateTime', nullable: true, resolve: (m) => m.movedAt }),
    healthySince: t.field({ type: 'DateTime', nullable: true, resolve: (m) => m.healthySince }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (m) => m.finishedAt }),
    message: t.string({ nullable: true, description: 'Why it failed, when it did.', resolve: (m) => m.message }),
    maintenanceWindowOpen: t.boolean({ resolve: (m) => m.windowOpen }),
    nextMaintenanceWindowAt: t.field({ type: 'DateTime', nullable: true, description: "When the target's window opens next, while it is closed.", resolve: (m) => m.nextWindowAt }),
    waitingFor: t.string({
      nullable: true,
      description: 'What this deployment waits for, in words (a wave, its maintenance window, a healthy status, the soak); null when done.',
      resolve: (m) => waitingFor(m, m.rollout),
    }),
  }),
});

const WaveRef = builder.objectRef<{ index: number; members: MemberLine[]; rollout: Rollout }>('RolloutWave').implement({
  fields: (t) => ({
    index: t.exposeInt('index', { description: '0 is the canary.' }),
    size: t.int({ resolve: (w) => w.members.length }),
    state: t.string({
      description: 'pending, running, passed, halted or stopped.',
      resolve: (w) => {
        const r = w.rollout;
        if (w.index < r.currentWave || (w.index === r.currentWave && r.state === 'completed')) return 'passed';
        if (w.index > r.currentWave || r.state === 'pending') return 'pending';
        if (r.state === 'halted') return 'halted';
        if (r.state === 'aborted') return 'stopped';
        return r.state === 'paused' ? 'paused' : 'running';
      },
    }),
    counts: t.field({
      type: 'JSON',
      description: 'Members per state, e.g. {"passed": 3, "updating": 1}.',
      resolve: (w) => w.members.reduce<Record<string, number>>((acc, m) => ((acc[m.state] = (acc[m.state] ?? 0) + 1), acc), {}),
    }),
    members: t.field({ type: [MemberRef], resolve: (w) => w.members }),
  }),
});

const EventRef = builder.objectRef<RolloutEvent>('RolloutEvent').implement({
  description: 'A transition of the rollout: who made it, when.',
  fields: (t) => ({
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    actor: t.exposeString('actor', { description: 'The API key (user) or the controller replica.' }),
    action: t.exposeString('action', { description: 'created, start, pause, resume, abort, retry, wave, halt, rollback, complete.' }),
    fromState: t.field({ type: RolloutStateEnum, nullable: true, resolve: (e) => (e.fromState as never) ?? null }),
    toState: t.field({ type: RolloutStateEnum, resolve: (e) => e.toState as never }),
    wave: t.int({ nullable: true, resolve: (e) => e.wave ?? null }),
    detail: t.string({ nullable: true, resolve: (e) => e.detail ?? null }),
  }),
});

RolloutRef.implement({
  description: 'A staged rollout of one application version over a set of deployments, wave by wave behind health gates.',
  fields: (t) => ({
    id: t.exposeID('id'),
    application: t.field({ type: ApplicationRef, resolve: (r) => r.application.id }),
    version: t.field({ type: ApplicationVersionRef, resolve: (r) => r.version.id }),
    selection: t.field({ type: SelectionRef, resolve: (r) => r.selection }),
    strategy: t.field({ type: StrategyRef, resolve: (r) => r.strategy }),
    state: t.field({ type: RolloutStateEnum, resolve: (r) => r.state }),
    currentWave: t.exposeInt('currentWave', { description: 'The wave being run (0 = canary).' }),
    waveCount: t.exposeInt('waveCount'),
    haltReason: t.string({ nullable: true, resolve: (r) => r.haltReason ?? null }),
    failedDeployments: t.field({
      type: [DeploymentRef],
      resolve: async (r, _a, ctx) => (await loadMembers(ctx.em, r)).filter((m) => m.state === 'failed').map((m) => m.deploymentId),
    }),
    waves: t.field({
      type: [WaveRef],
      resolve: async (r, _a, ctx) => {
        const members = await loadMembers(ctx.em, r);
        return Array.from({ length: r.waveCount }, (_, index) => ({ index, members: members.filter((m) => m.wave === index), rollout: r }));
      },
    }),
    members: t.field({ type: [MemberRef], description: 'Every deployment of the plan, in order.', resolve: (r, _a, ctx) => loadMembers(ctx.em, r) }),
    events: t.field({
      type: [EventRef],
      description: 'Every transition, oldest first.',
      resolve: (r, _a, ctx) => ctx.em.find(RolloutEvent, { rollout: r.id }, { orderBy: { id: 'asc' } }),
    }),
    createdBy: t.exposeString('createdBy'),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
  }),
});

builder.queryFields((t) => ({
  rollouts: t.connection({
    type: RolloutRef,
    description: 'Newest first.',
    authScopes: { vendor: true },
    args: { applicationId: t.arg.id(), state: t.arg({ type: RolloutStateEnum }) },
    resolve: (_root, args, ctx) =>
      resolveOffsetConnection({ args }, ({ limit, offset }) =>
        new RolloutService(ctx.em, vendorOf(ctx), ctx.hub).listRollouts({ applicationId: args.applicationId ? String(args.applicationId) : null, state: args.state }, limit, offset),
      ),
  }),
  rollout: t.field({
    type: RolloutRef,
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new RolloutService(ctx.em, vendorOf(ctx), ctx.hub).getRollout(String(args.id)),
  }),
}));

const WaveSizeInput = builder.inputType('RolloutWaveSizeInput', {
  fields: (t) => ({ count: t.int(), percent: t.int({ description: 'Of all deployments of the plan, rounded up.' }) }),
});

const StrategyInput = builder.inputType('RolloutStrategyInput', {
  fields: (t) => ({
    canary: t.int({ description: 'Deployments in the canary (first) wave (default 1).' }),
    waves: t.field({ type: [WaveSizeInput], description: 'Further waves by count or percentage (of the whole plan); what they leave over forms one last wave.' }),
    soakSeconds: t.int({ description: 'How long each deployment of a wave must stay healthy at the new revision (default 0).' }),
    progressDeadlineSeconds: t.int({ description: 'A moved deployment not healthy within this counts as failed (default 600).' }),
    maxFailed: t.int({ description: 'Failed deployments tolerated before halting (default 0).' }),
    maxUpdating: t.int({ description: 'Deployments being updated at once (default: a whole wave).' }),
    onFailure: t.field({ type: OnFailureEnum, description: 'Default halt.' }),
  }),
});

export const CreateRolloutInput = builder.inputType('CreateRolloutInput', {
  fields: (t) => ({
    applicationId: t.id({ required: true }),
    versionId: t.id({ required: true }),
    selector: t.string({ description: 'Deployments on targets matching this label selector (one of selector, deploymentIds, all).' }),
    deploymentIds: t.idList(),
    all: t.boolean({ description: 'Every deployment of the application.' }),
    strategy: t.field({ type: StrategyInput }),
    start: t.boolean({ description: 'Start at once (default false: pending until startRollout).' }),
  }),
});

const action = (name: string, act: RolloutAction, description: string) =>
  builder.mutationField(name, (t) =>
    t.field({
      type: RolloutRef,
      description,
      authScopes: { writer: true },
      errors: { types: MUTATION_ERRORS },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => new RolloutService(ctx.em, vendorOf(ctx), ctx.hub).act(String(args.id), act),
    }),
  );
action('startRollout', 'start', 'Start a pending rollout: its canary wave is updated at once.');
action('pauseRollout', 'pause', 'Stop moving further deployments; those being updated finish.');
action('resumeRollout', 'resume', 'Go on with a paused rollout where it was.');
action('abortRollout', 'abort', 'Stop for good; deployments already moved stay where they are (see rollBackRollout).');
action('retryRollout', 'retry', 'Retry the halted wave: its failed (or rolled back) deployments are updated again.');

builder.mutationFields((t) => ({
  createRollout: t.field({
    type: RolloutRef,
    description: 'Plan a staged rollout of a version; typed errors name an empty selection, a version of another application, …',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateRolloutInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      new RolloutService(ctx.em, vendorOf(ctx), ctx.hub).createRollout({
        ...input,
        applicationId: String(input.applicationId),
        versionId: String(input.versionId),
        deploymentIds: input.deploymentIds?.map(String) ?? null,
      }),
  }),
  rollBackRollout: t.field({
    type: RolloutRef,
    description: 'Roll every deployment the rollout moved back to its revision before the rollout (halted, paused or aborted rollouts).',
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => new RolloutService(ctx.em, vendorOf(ctx), ctx.hub).rollBack(String(args.id)),
  }),
  rollbackDeployment: t.field({
    type: DeploymentRef,
    description: "Make the deployment's previous revision (or the given earlier one) current again, as a new revision.",
    authScopes: { writer: true },
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }), revisionId: t.arg.id({ description: 'Default: the newest earlier revision whose content differs from the current one.' }) },
    resolve: (_root, args, ctx) => rollbackDeployment(ctx.em, vendorOf(ctx), ctx.hub, String(args.id), args.revisionId ? String(args.revisionId) : null),
  }),
}));

builder.subscriptionFields((t) => ({
  rolloutProgress: t.field({
    type: RolloutRef,
    description: 'The rollout now, then again each time it moves on (members, waves, state) or is acted on.',
    authScopes: { vendor: true },
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_r, args, ctx) => {
      const service = new RolloutService(ctx.em.fork(), vendorOf(ctx), ctx.hub);
      const first = await service.getRollout(String(args.id));
      let off = () => {};
      const channel = new PushChannel<Rollout>({ latestOnly: true, onClose: () => off() });
      const reload = () => void new RolloutService(ctx.hub.rootEm.fork(), vendorOf(ctx), ctx.hub).getRollout(first.id).then((r) => channel.push(r), () => {});
      off = ctx.hub.bus.on('rolloutProgressed', (e: BusTopics['rolloutProgressed']) => e.rolloutId === first.id && reload());
      channel.push(first);
      return channel;
    },
    // A fresh EntityManager per event: the members' and events' reads must not come from a cache.
    resolve: (r: Rollout) => r,
  }),
}));
