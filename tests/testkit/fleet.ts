/**
 * A fleet of simulated docker agents for rollout tests: N targets (with labels), one deployment
 * each, and per target an agent speaking the real protocol over a real websocket (graphql-ws,
 * reconnecting, so it follows a hub restart) that reports a status for every revision it
 * receives, as the test's policy says.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { DESIRED_STATE_SUBSCRIPTION } from '../../agent/core/hub-client.js';
import { agentLogin, reportStatus } from './agent-socket.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createTarget, ok, COMPOSE_TWO_SERVICES } from './flow.js';

export type Phase = 'healthy' | 'running' | 'progressing' | 'error';
/** What an agent reports for a revision it received: a phase, or null (nothing, for now). */
export type Policy = (agent: FleetAgent, received: { revisionId: string; versionName: string }) => Phase | null;

export class FleetAgent {
  client: Client | null = null;
  token = '';
  /** Every desired revision received, in order. */
  readonly received: { revisionId: string; versionName: string }[] = [];
  private readonly waiters: { check: () => boolean; resolve: () => void }[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly index: number,
    readonly targetId: string,
    readonly deploymentId: string,
    private readonly secret: string,
    private readonly hubUrl: () => string,
    public policy: Policy,
  ) {}

  get current() {
    return this.received.at(-1) ?? null;
  }

  async connect(): Promise<void> {
    this.token = await agentLogin(this.hubUrl(), this.targetId, this.secret);
    let first!: () => void;
    const connected = new Promise<void>((r) => (first = r));
    this.client = createClient({
      url: () => `${this.hubUrl().replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: () => ({ token: this.token }),
      retryAttempts: Infinity,
      retryWait: () => new Promise((r) => setTimeout(r, 200)),
      shouldRetry: () => true,
      lazy: false,
      onNonLazyError: () => {},
    });
    this.client.subscribe(
      { query: DESIRED_STATE_SUBSCRIPTION },
      {
        next: (v: any) => {
          const d = v.data?.agentDesiredState?.deployments?.find((x: any) => x.deploymentId === this.deploymentId);
          first();
          if (!d) return;
          const item = { revisionId: d.revisionId as string, versionName: d.versionName as string };
          this.received.push(item);
          this.settle();
          const phase = this.policy(this, item);
          if (phase) {
            const report = this.report(phase).catch(() => {});
            this.inFlight.add(report);
            void report.finally(() => this.inFlight.delete(report));
          }
        },
        error: () => {},
        complete: () => {},
      },
    );
    await connected;
  }

  /** Report a phase for the revision last received (over HTTP, as the real agent may). */
  async report(phase: Phase, message = `simulated ${phase}`): Promise<void> {
    const current = this.current;
    if (!current) throw new Error('no revision received yet');
    const res = await reportStatus(this.hubUrl(), this.token, [{ deploymentId: this.deploymentId, revisionId: current.revisionId, phase, message }]);
    if (res.data?.agentReportStatus?.__typename !== 'AgentStatusReportResult') throw new Error(`report refused: ${JSON.stringify(res)}`);
  }

  /** Resolves once a received revision satisfies `check` (no timer: the test's own timeout bounds it). */
  until(check: (received: FleetAgent['received']) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const w = { check: () => check(this.received), resolve };
      if (w.check()) resolve();
      else this.waiters.push(w);
    });
  }

  private settle(): void {
    for (const w of [...this.waiters]) if (w.check()) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  async close(): Promise<void> {
    await this.client?.dispose();
    await Promise.all([...this.inFlight]);
  }
}

export interface Fleet {
  appId: string;
  v1: string;
  v2: string;
  agents: FleetAgent[];
  /** Point every agent at another hub (after a restart on another port). */
  setHubUrl(url: string): void;
  close(): Promise<void>;
}

/**
 * An application with versions v1 (deployed) and v2, `n` docker targets named edge-00 … with
 * labels from `labels(i)`, one deployment each, and their agents connected and reporting v1
 * healthy. The default policy reports every received revision healthy.
 */
export async function startFleet(
  url: string,
  key: string,
  n: number,
  opts: { labels?: (i: number) => Record<string, string>; policy?: Policy; name?: string; hubOf?: (i: number, url: string) => string } = {},
): Promise<Fleet> {
  let hubUrl = url;
  const name = opts.name ?? 'fleet';
  const app = await createApplication(url, key, name, 'docker');
  const v1 = await createDockerVersion(url, key, app.id, 'v1', COMPOSE_TWO_SERVICES, 'GREETING=one\n');
  const v2 = await createDockerVersion(url, key, app.id, 'v2', COMPOSE_TWO_SERVICES, 'GREETING=two\n');
  const agents: FleetAgent[] = [];
  const policy: Policy = opts.policy ?? (() => 'healthy');
  for (let i = 0; i < n; i++) {
    const labels = Object.entries(opts.labels?.(i) ?? {}).map(([k, value]) => ({ key: k, value }));
    const target = await createTarget(url, key, { name: `${name}-${String(i).padStart(2, '0')}`, type: 'docker', labels });
    if (target.__typename !== 'DeploymentTarget') throw new Error(JSON.stringify(target));
    const deployment = await createDeployment(url, key, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose' } });
    const access = await createAccess(url, key, target.id);
    agents.push(new FleetAgent(i, target.id, deployment.id, access.secret, () => (opts.hubOf ? opts.hubOf(i, hubUrl) : hubUrl), (a, r) => policy(a, r)));
  }
  await Promise.all(agents.map((a) => a.connect()));
  // Everyone healthy at v1 before the test starts.
  await Promise.all(agents.map((a) => a.report('healthy')));
  return {
    appId: app.id,
    v1: v1.id,
    v2: v2.id,
    agents,
    setHubUrl: (u) => (hubUrl = u),
    close: async () => void (await Promise.all(agents.map((a) => a.close()))),
  };
}

export const ROLLOUT_FIELDS = `id state currentWave waveCount haltReason createdBy
  failedDeployments { id }
  strategy { canary soakSeconds maxFailed maxUpdating onFailure waves { count percent } }
  waves { index size state counts }
  members { deploymentId wave state fromRevisionId toRevisionId movedAt healthySince finishedAt message waitingFor maintenanceWindowOpen nextMaintenanceWindowAt }
  events { at actor action fromState toState wave detail }`;

const ERR = '... on Error { __typename message } ... on InvalidInputError { field } ... on RuleViolationError { rule } ... on NotFoundError { entity entityId }';

export async function createRollout(url: string, key: string, input: Record<string, unknown>) {
  const data = await ok(url, `mutation($i: CreateRolloutInput!) { createRollout(input: $i) { __typename ... on Rollout { ${ROLLOUT_FIELDS} } ${ERR} } }`, { i: input }, key);
  return data.createRollout;
}

export async function rolloutAction(url: string, key: string, action: 'startRollout' | 'pauseRollout' | 'resumeRollout' | 'abortRollout' | 'retryRollout' | 'rollBackRollout', id: string) {
  const data = await ok(url, `mutation($id: ID!) { ${action}(id: $id) { __typename ... on Rollout { ${ROLLOUT_FIELDS} } ${ERR} } }`, { id }, key);
  return data[action];
}

export async function getRollout(url: string, key: string, id: string) {
  return (await ok(url, `query($id: ID!) { rollout(id: $id) { ${ROLLOUT_FIELDS} } }`, { id }, key)).rollout;
}

/** Revisions of a deployment appended by rollouts (createdBy "rollout …"), newest first. */
export async function revisions(url: string, key: string, deploymentId: string) {
  const data = await ok(url, `query($id: ID!) { deployment(id: $id) { currentRevision { id version { name } } revisions(first: 50) { nodes { id createdBy version { name } } } } }`, { id: deploymentId }, key);
  return data.deployment as { currentRevision: { id: string; version: { name: string } }; revisions: { nodes: { id: string; createdBy: string; version: { name: string } }[] } };
}
