/**
 * /metrics (Prometheus text format, prom-client): each metric is scraped before and after the
 * event it counts, against a real hub, real PostgreSQL and a real agent socket.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, createDeployment, gql, ok, seedDockerSetup } from './testkit/flow.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';
import { eventually } from './testkit/agent-process.js';

let pgServer: TestPostgres;
let databaseUrl: string;
let hub: TestHub;
beforeAll(async () => {
  pgServer = await startTestPostgres();
  databaseUrl = await pgServer.freshDatabase('metrics');
  hub = await startTestHub(databaseUrl, { DISTR_KEEPALIVE_SECONDS: '60' });
});
afterAll(async () => {
  await hub?.close();
  await pgServer?.stop();
});

/** Scrape and parse: `name{labels}` → value. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${hub.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}
const value = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

test('every hub metric moves when its event happens', async () => {
  const before = await scrape();
  expect(before.has('distr_agents_connected')).toBe(true);
  expect(value(before, 'distr_http_requests_total{route="metrics",status="200"}')).toBeGreaterThanOrEqual(0);

  const seed = await seedDockerSetup(hub.url, hub.apiKey, 'metrics');
  const access = await createAccess(hub.url, hub.apiKey, seed.target.id);
  const token = await agentLogin(hub.url, seed.target.id, access.secret);
  const agent = subscribeAgent(hub.url, token);
  await agent.next(); // the initial desired state (not counted as a push after a change)
  const connected = await scrape();
  expect(value(connected, 'distr_agents_connected')).toBe(value(before, 'distr_agents_connected') + 1);
  expect(value(connected, 'distr_ws_connections_total{outcome="accepted"}')).toBe(value(before, 'distr_ws_connections_total{outcome="accepted"}') + 1);
  expect(value(connected, 'distr_ws_operations_total{outcome="started"}')).toBe(value(before, 'distr_ws_operations_total{outcome="started"}') + 1);
  expect(value(connected, 'distr_http_requests_total{route="graphql",status="200"}')).toBeGreaterThan(value(before, 'distr_http_requests_total{route="graphql",status="200"}'));
  expect(value(connected, 'distr_desired_state_pushes_total')).toBe(value(before, 'distr_desired_state_pushes_total'));

  // A committed change pushed to the agent: a push and a latency observation.
  const d = await createDeployment(hub.url, hub.apiKey, { targetId: seed.target.id, versionId: seed.version.id, docker: { composeType: 'compose' } });
  await agent.next();
  const pushed = await scrape();
  expect(value(pushed, 'distr_desired_state_pushes_total')).toBe(value(connected, 'distr_desired_state_pushes_total') + 1);
  expect(value(pushed, 'distr_desired_state_push_seconds_count')).toBe(value(connected, 'distr_desired_state_push_seconds_count') + 1);
  expect(value(pushed, 'distr_desired_state_push_seconds_bucket{le="+Inf"}')).toBe(value(pushed, 'distr_desired_state_push_seconds_count'));
  expect(value(pushed, 'distr_deployments{phase="unknown"}')).toBe(1);

  // Status reports: one accepted, one ignored (a deployment that is not the agent's).
  const report = await ok(
    hub.url,
    `mutation($r: [AgentStatusReportInput!]!) { agentReportStatus(reports: $r) { __typename ... on AgentStatusReportResult { accepted ignored } } }`,
    {
      r: [
        { deploymentId: d.id, revisionId: d.currentRevision.id, phase: 'healthy', message: 'ok' },
        { deploymentId: '00000000-0000-4000-8000-000000000000', revisionId: d.currentRevision.id, phase: 'healthy', message: 'ok' },
      ],
    },
    token,
  );
  expect(report.agentReportStatus).toMatchObject({ accepted: 1, ignored: 1 });
  const reported = await scrape();
  expect(value(reported, 'distr_status_reports_total{outcome="accepted"}')).toBe(value(pushed, 'distr_status_reports_total{outcome="accepted"}') + 1);
  expect(value(reported, 'distr_status_reports_total{outcome="ignored"}')).toBe(value(pushed, 'distr_status_reports_total{outcome="ignored"}') + 1);
  expect(value(reported, 'distr_deployments{phase="healthy"}')).toBe(1);
  expect(value(reported, 'distr_deployments{phase="unknown"}')).toBe(0);

  // Log lines (stored only while the target has logs switched on).
  await ok(hub.url, `mutation($id: ID!) { updateDeploymentTarget(id: $id, input: { logsEnabled: true }) { __typename } }`, { id: seed.target.id }, hub.apiKey);
  const now = new Date().toISOString();
  await ok(
    hub.url,
    `mutation($l: [AgentLogLineInput!]!) { agentPushLogs(lines: $l) { __typename } }`,
    { l: [1, 2, 3].map((n) => ({ deploymentId: d.id, resource: 'web', stream: 'stdout', timestamp: now, line: `line ${n}` })) },
    token,
  );
  const logged = await scrape();
  expect(value(logged, 'distr_log_lines_total')).toBe(value(reported, 'distr_log_lines_total') + 3);

  // HTTP outcomes other than 200, and a refused socket.
  const unauthorized = await gql(hub.url, '{ viewer { role } }', {}, 'distr_not-a-key');
  expect(unauthorized.status).toBe(401);
  const refused = subscribeAgent(hub.url, 'distr_not-a-key');
  await refused.closed;
  const failed = await scrape();
  expect(value(failed, 'distr_http_requests_total{route="graphql",status="401"}')).toBe(value(logged, 'distr_http_requests_total{route="graphql",status="401"}') + 1);
  expect(value(failed, 'distr_ws_connections_total{outcome="refused"}')).toBe(value(logged, 'distr_ws_connections_total{outcome="refused"}') + 1);

  // The agent leaves: its subscription completes, the gauge drops.
  await agent.close();
  const left = await eventually(async () => {
    const m = await scrape();
    return value(m, 'distr_agents_connected') === value(before, 'distr_agents_connected') ? m : null;
  }, 'the agent gauge to drop');
  expect(value(left, 'distr_ws_operations_total{outcome="completed"}') + value(left, 'distr_ws_operations_total{outcome="error"}')).toBeGreaterThan(
    value(failed, 'distr_ws_operations_total{outcome="completed"}') + value(failed, 'distr_ws_operations_total{outcome="error"}'),
  );
});

test('distr_bus_reconnects_total counts the change bus reconnecting after its connection is killed', async () => {
  const before = value(await scrape(), 'distr_bus_reconnects_total');
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    const killed = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'LISTEN%' and pid <> pg_backend_pid()`);
    expect(killed.rowCount).toBeGreaterThanOrEqual(1);
  } finally {
    await admin.end();
  }
  await eventually(async () => value(await scrape(), 'distr_bus_reconnects_total') === before + 1, 'the bus to reconnect');
});
