/**
 * What the hub stores of an agent's reports and logs, and what it refuses (issue 9, items 7, 9,
 * 12, 14, 26): a real hub, real PostgreSQL, the agent's own HubClient over HTTP and websockets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_RESOURCES_PER_REPORT } from '../protocol/index.js';
import { HubClient, HubLoginError, HubRefusal } from '../agent/core/hub-client.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, createDeployment, createDockerVersion, seedDockerSetup, updateDeployment, COMPOSE_TWO_SERVICES } from './testkit/flow.js';
import { agentLogin, reportStatus } from './testkit/agent-socket.js';
import { ok } from './testkit/graphql.js';
import { freePort } from '../server/db/embedded.js';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

let pgServer: TestPostgres;
let hub: TestHub;
let databaseUrl: string;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  pgServer = await startTestPostgres();
  databaseUrl = await pgServer.freshDatabase('reports');
  hub = await startTestHub(databaseUrl);
});
afterAll(async () => {
  await hub?.close();
  await pgServer?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

/** A logger whose lines the test can read. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

async function seed(name: string, logsEnabled = true) {
  const { app, version, target } = await seedDockerSetup(hub.url, hub.apiKey, name);
  if (logsEnabled) await ok(hub.url, `mutation($id: ID!) { updateDeploymentTarget(id: $id, input: { logsEnabled: true }) { __typename } }`, { id: target.id }, hub.apiKey);
  const deployment = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
  const access = await createAccess(hub.url, hub.apiKey, target.id);
  const token = await agentLogin(hub.url, target.id, access.secret);
  const { logger, lines } = capturedLogger();
  const client = new HubClient({ hubUrl: hub.url, targetId: target.id, secret: () => access.secret, agentVersion: 'test', logger });
  return { app, version, target, deployment, secret: access.secret, token, client, logLines: lines };
}

const statusOf = (id: string) =>
  ok(hub.url, `query($id: ID!) { deployment(id: $id) { status { phase message revisionId resources { name } } statusHistory { edges { node { phase message revisionId } } } } }`, { id }, hub.apiKey).then(
    (d) => d.deployment as { status: { phase: string; message: string; revisionId: string; resources: { name: string }[] } | null; statusHistory: { edges: { node: { phase: string; message: string; revisionId: string } }[] } },
  );

describe('item 7: a status report must name its deployment\'s current revision', () => {
  test("another deployment's revision and a made-up one are refused with a reason; nothing is stored", async () => {
    const a = await seed('rev-a');
    const other = await createDeployment(hub.url, hub.apiKey, { targetId: a.target.id, versionId: a.version.id, docker: { composeType: 'compose' } });
    const madeUp = '00000000-0000-4000-8000-000000000001';
    const outcome = await a.client.reportStatus([
      { deploymentId: a.deployment.id, revisionId: other.currentRevision.id, phase: 'healthy', message: 'foreign revision' },
      { deploymentId: other.id, revisionId: madeUp, phase: 'healthy', message: 'made up' },
    ]);
    expect(outcome).toMatchObject({ accepted: 0, changed: 0, historyOnly: 0 });
    expect(outcome.refused).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ deploymentId: a.deployment.id, revisionId: other.currentRevision.id, reason: 'unknown_revision', message: expect.stringMatching(/not a revision of deployment/) }),
        expect.objectContaining({ deploymentId: other.id, revisionId: madeUp, reason: 'unknown_revision' }),
      ]),
    );
    expect((await statusOf(a.deployment.id)).status).toBeNull();
    expect((await statusOf(other.id)).statusHistory.edges).toEqual([]);
  });

  test('an older revision of the deployment is stored as history only; the current one is the status', async () => {
    const a = await seed('rev-old');
    const v2 = await createDockerVersion(hub.url, hub.apiKey, a.app.id, 'v2', COMPOSE_TWO_SERVICES);
    const updated = await updateDeployment(hub.url, hub.apiKey, a.deployment.id, { versionId: v2.id });
    const current = await a.client.reportStatus([{ deploymentId: a.deployment.id, revisionId: updated.currentRevision.id, phase: 'progressing', message: 'applying v2' }]);
    expect(current).toMatchObject({ accepted: 1, changed: 1, historyOnly: 0, refused: [] });
    const old = await a.client.reportStatus([{ deploymentId: a.deployment.id, revisionId: a.deployment.currentRevision.id, phase: 'healthy', message: 'v1 still up' }]);
    expect(old).toMatchObject({ accepted: 0, changed: 0, historyOnly: 1, refused: [] });
    // Repeating it writes no second history row.
    await a.client.reportStatus([{ deploymentId: a.deployment.id, revisionId: a.deployment.currentRevision.id, phase: 'healthy', message: 'v1 still up' }]);
    const after = await statusOf(a.deployment.id);
    expect(after.status).toMatchObject({ phase: 'progressing', revisionId: updated.currentRevision.id });
    expect(after.statusHistory.edges.map((e) => e.node.message).sort()).toEqual(['applying v2', 'v1 still up']);
  });

  test('the per-resource list has a size limit (typed InvalidInputError naming the report, nothing stored)', async () => {
    const a = await seed('rev-res');
    const resources = Array.from({ length: MAX_RESOURCES_PER_REPORT + 1 }, (_, i) => ({ kind: 'container', name: `c${i}`, phase: 'healthy' as const, message: '' }));
    const res = await reportStatus(hub.url, a.token, [{ deploymentId: a.deployment.id, revisionId: a.deployment.currentRevision.id, phase: 'healthy', message: 'x', resources }]);
    expect(res.data?.agentReportStatus).toMatchObject({ __typename: 'InvalidInputError', field: 'reports[0].resources', message: expect.stringMatching(/at most 100/) });
    expect((await statusOf(a.deployment.id)).status).toBeNull();
  });
});

describe('item 9: the agent sees typed refusals', () => {
  test('a refused report batch throws HubRefusal naming the type and field (not success)', async () => {
    const a = await seed('refusal');
    const resources = Array.from({ length: MAX_RESOURCES_PER_REPORT + 1 }, (_, i) => ({ kind: 'container', name: `c${i}`, phase: 'healthy' as const, message: '' }));
    const err = await a.client
      .reportStatus([{ deploymentId: a.deployment.id, revisionId: a.deployment.currentRevision.id, phase: 'healthy', message: 'x', resources }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubRefusal);
    expect((err as HubRefusal).refusal).toMatchObject({ __typename: 'InvalidInputError', field: 'reports[0].resources' });
  });
});

describe('item 12: log lines', () => {
  test('a NUL byte or a lone surrogate is stored replaced, a bad timestamp is named, the rest of the batch is stored', async () => {
    const a = await seed('logs-nul');
    const at = new Date().toISOString();
    const outcome = await a.client.pushLogs([
      { deploymentId: a.deployment.id, resource: 'web', stream: 'stdout', timestamp: at, line: 'before\u0000after' },
      { deploymentId: a.deployment.id, resource: 'web', stream: 'stdout', timestamp: 'yesterday', line: 'when?' },
      { deploymentId: a.deployment.id, resource: 'web\uD800', stream: 'stderr', timestamp: at, line: 'plain' },
    ]);
    expect(outcome).toMatchObject({ stored: 2, sanitized: 2, rejected: [{ index: 1, reason: 'bad_timestamp', message: expect.stringMatching(/yesterday/) }] });
    const data = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { logs { resource line } } }`, { id: a.deployment.id }, hub.apiKey);
    expect(data.deployment.logs.map((l: { line: string }) => l.line).sort()).toEqual(['before\uFFFDafter', 'plain']);
  });

  test('a target with logs switched off refuses lines (RuleViolationError logs_disabled) and stores none', async () => {
    const a = await seed('logs-off', false);
    const err = await a.client
      .pushLogs([{ deploymentId: a.deployment.id, resource: 'web', stream: 'stdout', timestamp: new Date().toISOString(), line: 'secret stuff' }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubRefusal);
    expect((err as HubRefusal).refusal).toMatchObject({ __typename: 'RuleViolationError', rule: 'logs_disabled' });
    const data = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { logs { line } } }`, { id: a.deployment.id }, hub.apiKey);
    expect(data.deployment.logs).toEqual([]);
  });
});

describe('item 14: dashboards after the change bus reconnects', () => {
  test('organizationEvents gets a resync event, then the current status of the watched deployment', async () => {
    const a = await seed('resync');
    await reportStatus(hub.url, a.token, [{ deploymentId: a.deployment.id, revisionId: a.deployment.currentRevision.id, phase: 'progressing', message: 'one' }]);
    // Watching one deployment starts with its current status: that event proves the subscription is live.
    const events: { kind: string; status?: { phase: string; message: string } | null }[] = [];
    let wake: () => void = () => {};
    const client = createClient({ url: `${hub.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { token: hub.apiKey }, retryAttempts: 0 });
    cleanups.push(async () => {
      await client.dispose();
    });
    client.subscribe<{ organizationEvents: (typeof events)[number] }>(
      { query: `subscription($id: ID) { organizationEvents(deploymentId: $id) { kind targetId deploymentId status { phase message } } }`, variables: { id: a.deployment.id } },
      { next: (v) => (v.data && events.push(v.data.organizationEvents), wake()), error: () => {}, complete: () => {} },
    );
    const until = async (what: string, check: () => boolean) => {
      const deadline = Date.now() + 30_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`no ${what}; events: ${JSON.stringify(events)}`);
        await new Promise<void>((r) => ((wake = r), setTimeout(r, 1000)));
      }
    };
    await until('initial status', () => events.some((e) => e.status?.message === 'one'));
    // Drop the hub's LISTEN connection the way a PostgreSQL restart or a network cut would.
    const db = new URL(databaseUrl).pathname.slice(1);
    const su = new pg.Client({ connectionString: databaseUrl });
    await su.connect();
    cleanups.push(() => su.end());
    // Meanwhile a transition commits: its NOTIFY goes nowhere.
    const killed = await su.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query like 'LISTEN%'`, [db]);
    expect(killed.rowCount).toBeGreaterThan(0);
    await reportStatus(hub.url, a.token, [{ deploymentId: a.deployment.id, revisionId: a.deployment.currentRevision.id, phase: 'healthy', message: 'two' }]);
    await until('resync and the status committed meanwhile', () => events.some((e) => e.kind === 'status' && e.status?.message === 'two'));
    const resyncAt = events.findIndex((e) => e.kind === 'resync');
    expect(resyncAt).toBeGreaterThan(0);
    expect(events.slice(resyncAt).some((e) => e.status?.message === 'two')).toBe(true);
  });
});

describe('item 26: an agent that cannot log in says why, and the vendor sees the last failed login', () => {
  test('a wrong secret: the agent names the hub, the reason and what to check; the target shows time and reason in the API', async () => {
    const a = await seed('badlogin', false);
    const { logger } = capturedLogger();
    const wrong = new HubClient({ hubUrl: hub.url, targetId: a.target.id, secret: () => 'not-the-secret', agentVersion: 'test', logger });
    const err = await wrong.validToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubLoginError);
    expect((err as HubLoginError).message).toMatch(new RegExp(`the hub at ${hub.url}/graphql refused the login of target ${a.target.id}: invalid target id or secret`));
    expect((err as HubLoginError).check).toMatch(/DISTR_TARGET_ID and the secret/);
    const data = await ok(hub.url, `query($id: ID!) { deploymentTarget(id: $id) { agent { lastFailedLogin { at reason } } } }`, { id: a.target.id }, hub.apiKey);
    expect(data.deploymentTarget.agent.lastFailedLogin).toMatchObject({ reason: expect.stringMatching(/secret does not match/), at: expect.any(String) });
  });

  test('a server that is not a hub: the message says so, with its HTTP status', async () => {
    const { logger } = capturedLogger();
    const server = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new HubClient({ hubUrl: url, targetId: '00000000-0000-4000-8000-000000000003', secret: () => 'x', agentVersion: 'test', logger });
    const err = (await client.validToken().catch((e: unknown) => e)) as HubLoginError;
    expect(err).toBeInstanceOf(HubLoginError);
    expect(err.message).toBe(`the server at ${url}/graphql did not answer as a distr hub (HTTP 404)`);
    expect(err.check).toMatch(/DISTR_HUB_URL/);
  });

  test('a token the hub no longer accepts (HTTP 401): the client logs in again once and the call succeeds', async () => {
    const a = await seed('relogin');
    let secret = a.secret;
    const { logger, lines } = capturedLogger();
    const client = new HubClient({ hubUrl: hub.url, targetId: a.target.id, secret: () => secret, agentVersion: 'test', logger });
    await client.validToken();
    // Rotating the access cuts off every token issued before it; the new secret is installed.
    secret = (await createAccess(hub.url, hub.apiKey, a.target.id)).secret;
    expect(await client.logWatermarks()).toBeInstanceOf(Map);
    expect(lines.filter((l) => l.msg === 'logged in to hub')).toHaveLength(2);
  });

  test('an unreachable hub: the message names the URL, the error and what to check', async () => {
    const { logger } = capturedLogger();
    const port = await freePort(); // nothing listens there
    const client = new HubClient({ hubUrl: `http://127.0.0.1:${port}`, targetId: '00000000-0000-4000-8000-000000000002', secret: () => 'x', agentVersion: 'test', logger });
    const err = (await client.validToken().catch((e: unknown) => e)) as HubLoginError;
    expect(err).toBeInstanceOf(HubLoginError);
    expect(err.message).toBe(`cannot reach the hub at http://127.0.0.1:${port}/graphql: ECONNREFUSED`);
    expect(err.check).toMatch(/DISTR_HUB_URL/);
  });
});
