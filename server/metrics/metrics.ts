import type { EntityManager } from '@mikro-orm/postgresql';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The hub's Prometheus metrics (prom-client), one registry per hub so several hubs in one process
 * (tests) never share counts. Counters and the push histogram are per process; sum them across
 * replicas. `distr_deployments` is read from the database at scrape time (the same on every replica).
 */
export class HubMetrics {
  readonly registry = new Registry();

  readonly agentsConnected: Gauge;
  readonly deployments: Gauge<'phase'>;
  readonly desiredStatePushes = new Counter({
    name: 'distr_desired_state_pushes_total',
    help: 'Desired states sent to agents after a committed change (initial states on subscribe excluded).',
    registers: [this.registry],
  });
  readonly desiredStatePushSeconds = new Histogram({
    name: 'distr_desired_state_push_seconds',
    help: 'From the commit of a change (its NOTIFY reaching this hub) to the desired-state frame handed to the agent socket.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly statusReports = new Counter({
    name: 'distr_status_reports_total',
    help: 'Status reports received from agents, by outcome (accepted, or ignored: unknown, foreign or malformed deployment).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly logLines = new Counter({ name: 'distr_log_lines_total', help: 'Log lines stored from agents.', registers: [this.registry] });
  readonly busReconnects = new Counter({
    name: 'distr_bus_reconnects_total',
    help: 'Times the change bus (LISTEN connection) reconnected to PostgreSQL.',
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: 'distr_http_requests_total',
    help: 'HTTP requests by route and status code.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly wsConnections = new Counter({
    name: 'distr_ws_connections_total',
    help: 'graphql-ws connection attempts by outcome (accepted, refused).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly wsOperations = new Counter({
    name: 'distr_ws_operations_total',
    help: 'GraphQL operations over websockets by outcome: started, error (refused at start or failed), completed.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly rolloutSteps = new Counter({
    name: 'distr_rollout_steps_total',
    help: 'Rollout controller steps (one transaction under the rollout row lock each) run by this replica.',
    registers: [this.registry],
  });
  readonly rolloutStepSeconds = new Histogram({
    name: 'distr_rollout_step_seconds',
    help: 'Wall time of one controller step, from taking the row lock to the commit (database waits included).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly rolloutStepCpuSeconds = new Counter({
    name: 'distr_rollout_step_cpu_seconds_total',
    help: "Hub process CPU time while controller steps ran: an upper bound of the controller's own (other work interleaves at a step's awaits).",
    registers: [this.registry],
  });

  constructor(sources: { connectedAgents: () => number; rootEm: EntityManager }) {
    this.agentsConnected = new Gauge({
      name: 'distr_agents_connected',
      help: 'Agent sockets open on this hub process.',
      registers: [this.registry],
      collect() {
        this.set(sources.connectedAgents());
      },
    });
    this.deployments = new Gauge({
      name: 'distr_deployments',
      help: 'Deployments by the phase of their latest status (unknown: no report yet).',
      labelNames: ['phase'] as const,
      registers: [this.registry],
      async collect() {
        const rows: { phase: string | null; n: string }[] = await sources.rootEm
          .fork()
          .getConnection()
          .execute('select s.phase::text as phase, count(*) as n from deployment d left join deployment_status s on s.deployment_id = d.id group by 1');
        this.reset();
        for (const r of rows) this.set({ phase: r.phase ?? 'unknown' }, Number(r.n));
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'distr_hub_' });
  }
}

/** A low-cardinality route label for an HTTP request path. */
export function routeOf(url: string): string {
  const pathname = url.split('?')[0]!;
  if (pathname === '/graphql') return 'graphql';
  if (pathname === '/healthz' || pathname === '/readyz' || pathname === '/metrics') return pathname.slice(1);
  if (pathname.startsWith('/auth/')) return 'auth';
  return 'console';
}
