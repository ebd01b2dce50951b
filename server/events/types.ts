import type { EntityManager } from '@mikro-orm/postgresql';
import { PushChannel } from '../agents/channel.js';
import type { BusTopics } from './bus.js';
import { builder, vendorOf } from '../schema/builder.js';
import { DeploymentPhaseEnum, DeploymentRef } from '../deployments/types.js';
import { DeploymentTargetRef } from '../targets/types.js';
import { DeploymentStatus } from '../deployments/entities.js';
import { DeploymentService } from '../deployments/service.js';

/**
 * One status load per notification: the bus hands the same payload object to every dashboard
 * subscription of this process, so they share one query. Keyed by the event, not the deployment,
 * so a later transition never reuses an earlier read.
 */
const loads = new WeakMap<BusTopics['statusChanged'], Promise<DeploymentStatus | null>>();

/** The status as committed now (a fresh fork, never a request's cache). */
function statusAsCommitted(rootEm: EntityManager, event: BusTopics['statusChanged']): Promise<DeploymentStatus | null> {
  let pending = loads.get(event);
  if (!pending) {
    pending = rootEm.fork().findOne(DeploymentStatus, { deployment: event.deploymentId });
    loads.set(event, pending);
  }
  return pending;
}

type OrgEvent =
  | { kind: 'status'; targetId: string; deploymentId: string; status: DeploymentStatus | null }
  | { kind: 'liveness'; targetId: string; connected: boolean }
  | { kind: 'resync'; targetId: null };

const EventKind = builder.enumType('OrganizationEventKind', {
  values: {
    status: { description: 'A deployment status transition.' },
    liveness: { description: 'An agent connected or disconnected.' },
    resync: {
      description:
        'The hub may have missed events (its change-bus connection dropped and is back): re-read what you show. A subscription for one deployment also gets its current status right after.',
    },
  } as const,
});

const StatusSnapshotRef = builder.objectRef<DeploymentStatus>('DeploymentStatusSnapshot').implement({
  description: 'The status as stored when the event was sent.',
  fields: (t) => ({
    revisionId: t.exposeID('revisionId'),
    phase: t.field({ type: DeploymentPhaseEnum, resolve: (s) => s.phase }),
    message: t.exposeString('message'),
    changedAt: t.field({ type: 'DateTime', resolve: (s) => s.changedAt }),
  }),
});

const OrgEventRef = builder.objectRef<OrgEvent>('OrganizationEvent').implement({
  description: 'A deployment status transition or an agent (dis)connecting, in the caller\'s organization.',
  fields: (t) => ({
    kind: t.field({ type: EventKind, resolve: (e) => e.kind }),
    targetId: t.id({ nullable: true, description: 'Null only for resync events.', resolve: (e) => e.targetId }),
    target: t.field({ type: DeploymentTargetRef, nullable: true, resolve: (e) => e.targetId }),
    deploymentId: t.id({ nullable: true, resolve: (e) => (e.kind === 'status' ? e.deploymentId : null) }),
    deployment: t.field({ type: DeploymentRef, nullable: true, resolve: (e) => (e.kind === 'status' ? e.deploymentId : null) }),
    status: t.field({ type: StatusSnapshotRef, nullable: true, resolve: (e) => (e.kind === 'status' ? e.status : null) }),
    connected: t.boolean({ nullable: true, resolve: (e) => (e.kind === 'liveness' ? e.connected : null) }),
  }),
});

builder.subscriptionFields((t) => ({
  organizationEvents: t.field({
    type: OrgEventRef,
    description: 'Status transitions and agent liveness changes of your organization, as they commit: dashboards need not poll.',
    authScopes: { vendor: true },
    args: {
      deploymentId: t.arg.id({
        description: "Only this deployment's status events; the first event is then its current status (if it has one), so a watcher misses nothing between a query and the subscription.",
      }),
    },
    subscribe: async (_r, args, ctx) => {
      const organizationId = vendorOf(ctx).organizationId;
      const only = args.deploymentId ? String(args.deploymentId) : null;
      const initial = only ? await new DeploymentService(ctx.em.fork(), vendorOf(ctx), ctx.hub).getDeployment(only) : null;
      const offs: (() => void)[] = [];
      const channel = new PushChannel<OrgEvent>({ latestOnly: false, maxQueue: 1000, onClose: () => offs.forEach((off) => off()) });
      offs.push(
        ctx.hub.bus.on('statusChanged', (e: BusTopics['statusChanged']) => {
          if (e.organizationId !== organizationId || (only && e.deploymentId !== only)) return;
          void statusAsCommitted(ctx.hub.rootEm, e)
            .then((status) => channel.push({ kind: 'status', targetId: e.targetId, deploymentId: e.deploymentId, status }))
            .catch(() => {});
        }),
        ctx.hub.bus.on('livenessChanged', (e: BusTopics['livenessChanged']) => {
          if (e.organizationId === organizationId && !only) channel.push({ kind: 'liveness', targetId: e.targetId, connected: e.connected });
        }),
      );
      const pushCurrent = async () => {
        if (!initial) return;
        const status = await ctx.hub.rootEm.fork().findOne(DeploymentStatus, { deployment: initial.id });
        if (status) channel.push({ kind: 'status', targetId: initial.target.id, deploymentId: initial.id, status });
      };
      offs.push(
        // Transitions committed while the bus was away were missed: say so, and resend what is current.
        ctx.hub.bus.on('busReconnected', () => {
          channel.push({ kind: 'resync', targetId: null });
          void pushCurrent().catch(() => {});
        }),
      );
      await pushCurrent();
      return channel;
    },
    resolve: (e: OrgEvent) => e,
  }),
}));
