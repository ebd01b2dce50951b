/**
 * The organization at a glance, counted in SQL (the console's Overview at 10 000 deployments reads
 * two small rows instead of every deployment): deployments per phase ("pending": no status yet)
 * and targets with and without a live agent.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { builder, vendorOf } from '../schema/builder.js';
import { CONNECTION_STALE_SECONDS } from '../targets/service.js';

export interface FleetSummary {
  deploymentsByPhase: { phase: string; count: number }[];
  targets: number;
  targetsConnected: number;
}

export async function fleetSummary(em: EntityManager, organizationId: string): Promise<FleetSummary> {
  const phases: { phase: unknown; count: unknown }[] = await em.execute(
    `/* fleetSummaryPhases */ select coalesce(s.phase::text, 'pending') as phase, count(*)::int as count
     from deployment d left join deployment_status s on s.deployment_id = d.id
     where d.organization_id = ? group by 1 order by 1`,
    [organizationId],
  );
  const since = new Date(Date.now() - CONNECTION_STALE_SECONDS * 1000);
  const [targets]: { total: unknown; connected: unknown }[] = await em.execute(
    `/* fleetSummaryTargets */ select count(*)::int as total,
       count(*) filter (where exists (select 1 from agent_connection c where c.target_id = t.id and c.heartbeat_at >= ?))::int as connected
     from deployment_target t where t.organization_id = ?`,
    [since, organizationId],
  );
  const int = (x: unknown) => {
    if (typeof x !== 'number' || !Number.isInteger(x)) throw new Error(`fleetSummary: expected an integer count, got ${JSON.stringify(x)}`);
    return x;
  };
  return {
    deploymentsByPhase: phases.map((r) => ({ phase: String(r.phase), count: int(r.count) })),
    targets: int(targets?.total),
    targetsConnected: int(targets?.connected),
  };
}

const PhaseCountRef = builder.objectRef<{ phase: string; count: number }>('PhaseCount').implement({
  fields: (t) => ({
    phase: t.exposeString('phase', { description: 'A deployment phase, or "pending" (no status reported yet).' }),
    count: t.exposeInt('count'),
  }),
});

const FleetSummaryRef = builder.objectRef<FleetSummary>('FleetSummary').implement({
  description: 'Counts over the whole organization.',
  fields: (t) => ({
    deploymentsByPhase: t.field({ type: [PhaseCountRef], resolve: (s) => s.deploymentsByPhase }),
    targets: t.exposeInt('targets'),
    targetsConnected: t.exposeInt('targetsConnected', { description: 'Targets with a live agent socket on any hub replica.' }),
  }),
});

builder.queryFields((t) => ({
  fleetSummary: t.field({
    type: FleetSummaryRef,
    authScopes: { vendor: true },
    description: 'Deployments per phase and targets connected, counted over the whole organization.',
    resolve: (_root, _args, ctx) => fleetSummary(ctx.em, vendorOf(ctx).organizationId),
  }),
}));
