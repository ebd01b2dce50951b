import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub, startTestHub, type HubProcess, type TestHub } from './testkit/hub.js';
import { createAccess, createDeployment, createDockerVersion, createTarget, forceRestart, gql, ok, rollout, seedDockerSetup, updateDeployment, COMPOSE_TWO_SERVICES } from './testkit/flow.js';
import { agentLogin, reportStatus, subscribeAgent, type AgentSocket } from './testkit/agent-socket.js';
import { ObservedList } from './testkit/changes.js';

let pg: TestPostgres;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  pg = await startTestPostgres();
});
afterAll(async () => {
  await pg?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function hubInProcess(): Promise<TestHub> {
  const hub = await startTestHub(await pg.freshDatabase('proto'));
  cleanups.push(() => hub.close());
  return hub;
}

function track(socket: AgentSocket): AgentSocket {
  cleanups.push(() => socket.close());
  return socket;
}

/** A docker target with one deployment, an agent secret and a token. */
async function seedAgent(url: string, key: string, name = 'shop') {
  const { app, version, target } = await seedDockerSetup(url, key, name);
  const deployment = await createDeployment(url, key, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose', envFile: 'GREETING=hi\n' } });
  const access = await createAccess(url, key, target.id);
  const token = await agentLogin(url, target.id, access.secret);
  return { app, version, target, deployment, secret: access.secret, token };
}

describe('desired state over graphql-ws', () => {
  test('the agent gets the whole state at once, then again after each committed change', async () => {
    const hub = await hubInProcess();
    const s = await seedAgent(hub.url, hub.apiKey);
    const socket = track(subscribeAgent(hub.url, s.token));
    const first = await socket.next();
    expect(first.targetId).toBe(s.target.id);
    expect(first.deployments).toHaveLength(1);
    expect(first.deployments[0]).toMatchObject({
      deploymentId: s.deployment.id,
      revisionId: s.deployment.currentRevision.id,
      type: 'docker',
      docker: { composeType: 'compose', composeFile: COMPOSE_TWO_SERVICES, envFile: 'GREETING=hi\n' },
      restartMarker: null,
    });
    const v2 = await createDockerVersion(hub.url, hub.apiKey, s.app.id, 'v2', COMPOSE_TWO_SERVICES, 'GREETING=x\nEXTRA=1\n');
    const updated = await updateDeployment(hub.url, hub.apiKey, s.deployment.id, { versionId: v2.id });
    const second = await socket.next();
    expect(second.deployments[0]).toMatchObject({ revisionId: updated.currentRevision.id, versionName: 'v2', docker: { envFile: 'GREETING=hi\nEXTRA=1\n' } });
    const restarted = await forceRestart(hub.url, hub.apiKey, s.deployment.id);
    const third = await socket.next();
    expect(third.deployments[0].restartMarker).toBe(restarted.currentRevision.id);
    await ok(hub.url, `mutation($id: ID!) { deleteDeployment(id: $id, removeVolumes: true) { __typename } }`, { id: s.deployment.id }, hub.apiKey);
    const fourth = await socket.next();
    expect(fourth.deployments).toEqual([]);
    expect(fourth.deleted).toEqual([{ deploymentId: s.deployment.id, removeVolumes: true }]);
  });

  test('kubernetes desired state carries merged values, chart and namespace', async () => {
    const hub = await hubInProcess();
    const app = (await ok(hub.url, `mutation { createApplication(input: {name: "k", type: kubernetes}) { ... on Application { id } } }`, {}, hub.apiKey)).createApplication;
    const version = (
      await ok(
        hub.url,
        `mutation($i: CreateKubernetesApplicationVersionInput!) { createKubernetesApplicationVersion(input: $i) { ... on ApplicationVersion { id } } }`,
        { i: { applicationId: app.id, name: '1.0.0', chartType: 'repository', chartUrl: 'https://charts.example', chartName: 'web', chartVersion: '1.0.0', baseValues: 'replicas: 1\nimage:\n  tag: a\n  pull: IfNotPresent\n' } },
        hub.apiKey,
      )
    ).createKubernetesApplicationVersion;
    const target = await createTarget(hub.url, hub.apiKey, { name: 'c', type: 'kubernetes', namespace: 'shop', scope: 'namespace' });
    await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, kubernetes: { releaseName: 'web', valuesYaml: 'image:\n  tag: b\n', helmOptions: { atomic: true, timeoutSeconds: 60 } } });
    const access = await createAccess(hub.url, hub.apiKey, target.id);
    const socket = track(subscribeAgent(hub.url, await agentLogin(hub.url, target.id, access.secret)));
    const state = await socket.next();
    expect(state).toMatchObject({ targetType: 'kubernetes', namespace: 'shop', scope: 'namespace' });
    expect(state.deployments[0].kubernetes).toEqual({
      releaseName: 'web',
      namespace: 'shop',
      chart: { type: 'repository', url: 'https://charts.example', name: 'web', version: '1.0.0', digest: null },
      values: { replicas: 1, image: { tag: 'b', pull: 'IfNotPresent' } },
      timeoutSeconds: 60,
      atomic: true,
      wait: false,
      ignoreDrift: false,
    });
  });

  test('a rollout moves every deployment of an application in one transaction and every agent hears of it', async () => {
    const hub = await hubInProcess();
    const { app, version } = await seedDockerSetup(hub.url, hub.apiKey, 'fleet');
    const sockets: { socket: AgentSocket; targetId: string }[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await createTarget(hub.url, hub.apiKey, { name: `edge-${i}`, type: 'docker' });
      await createDeployment(hub.url, hub.apiKey, { targetId: t.id, versionId: version.id, docker: { composeType: 'compose' } });
      const access = await createAccess(hub.url, hub.apiKey, t.id);
      const socket = track(subscribeAgent(hub.url, await agentLogin(hub.url, t.id, access.secret)));
      await socket.next();
      sockets.push({ socket, targetId: t.id });
    }
    const v2 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v2', COMPOSE_TWO_SERVICES);
    const result = await rollout(hub.url, hub.apiKey, app.id, v2.id, sockets.slice(0, 3).map((s) => s.targetId));
    expect(result).toMatchObject({ __typename: 'RolloutResult', count: 3 });
    for (const { socket } of sockets.slice(0, 3)) expect((await socket.next()).deployments[0].versionName).toBe('v2');
    const all = await rollout(hub.url, hub.apiKey, app.id, v2.id);
    expect(all.count).toBe(5);
    for (const { socket } of sockets.slice(3)) expect((await socket.next()).deployments[0].versionName).toBe('v2');
  });
});

describe('credentials', () => {
  test('login failures are refused, then rate-limited per target', async () => {
    const hub = await hubInProcess();
    const s = await seedAgent(hub.url, hub.apiKey);
    const codes: unknown[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await gql(hub.url, `mutation($t: ID!) { agentLogin(targetId: $t, secret: "wrong") { token } }`, { t: s.target.id });
      codes.push(res.errors?.[0]?.extensions?.code);
    }
    expect(codes.slice(0, 10).every((c) => c === 'UNAUTHENTICATED')).toBe(true);
    expect(codes[10]).toBe('RATE_LIMITED');
    const right = await gql(hub.url, `mutation($t: ID!, $s: String!) { agentLogin(targetId: $t, secret: $s) { token } }`, { t: s.target.id, s: s.secret });
    expect(right.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  test('rotating the secret closes the socket with 4403 and the old token no longer connects', async () => {
    const hub = await hubInProcess();
    const s = await seedAgent(hub.url, hub.apiKey);
    const socket = track(subscribeAgent(hub.url, s.token));
    await socket.next();
    await createAccess(hub.url, hub.apiKey, s.target.id);
    expect((await socket.closed).code).toBe(4403);
    const again = track(subscribeAgent(hub.url, s.token));
    expect((await again.closed).code).toBe(4403);
    const res = await reportStatus(hub.url, s.token, [{ deploymentId: s.deployment.id, revisionId: s.deployment.currentRevision.id, phase: 'healthy', message: 'x' }]);
    expect(res.status).toBe(401);
  });

  test('a bad token closes with 4401; an agent token reads only its own target and calls no vendor operation', async () => {
    const hub = await hubInProcess();
    const a = await seedAgent(hub.url, hub.apiKey, 'a');
    const b = await seedAgent(hub.url, hub.apiKey, 'b');
    expect((await track(subscribeAgent(hub.url, 'x.y.z')).closed).code).toBe(4401);
    const socket = track(subscribeAgent(hub.url, a.token));
    const state = await socket.next();
    expect(state.targetId).toBe(a.target.id);
    expect(state.deployments.map((d: any) => d.deploymentId)).toEqual([a.deployment.id]);
    const vendorQuery = await gql(hub.url, `{ deployments { edges { node { id } } } }`, {}, a.token);
    expect(vendorQuery.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const vendorMutation = await gql(hub.url, `mutation($id: ID!) { deleteDeployment(id: $id) { __typename } }`, { id: b.deployment.id }, a.token);
    expect(vendorMutation.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const dashboard = track(subscribeAgent(hub.url, a.token, `subscription { organizationEvents { kind } }`));
    await expect(dashboard.next()).rejects.toThrow(/FORBIDDEN|may not perform/);
    // Status for another target's deployment is ignored, not stored.
    const res = await reportStatus(hub.url, a.token, [{ deploymentId: b.deployment.id, revisionId: b.deployment.currentRevision.id, phase: 'error', message: 'evil' }]);
    expect(res.data?.agentReportStatus).toMatchObject({ accepted: 0, ignored: 1 });
    const bStatus = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { status { phase } } }`, { id: b.deployment.id }, hub.apiKey);
    expect(bStatus.deployment.status).toBeNull();
  });
});

describe('status, liveness and dashboards', () => {
  test('status transitions reach the dashboard subscription; repeated identical reports write no history', async () => {
    const hub = await hubInProcess();
    const s = await seedAgent(hub.url, hub.apiKey);
    // The organization-wide stream sends no initial event: it is live once the hub listens for status changes.
    const live = hub.nextBusListener('statusChanged');
    const dashboard = track(subscribeAgent(hub.url, hub.apiKey, `subscription { organizationEvents { kind targetId deploymentId connected status { phase message revisionId } } }`));
    await live;
    const report = { deploymentId: s.deployment.id, revisionId: s.deployment.currentRevision.id, phase: 'progressing', message: 'applying' };
    expect((await reportStatus(hub.url, s.token, [report])).data?.agentReportStatus).toMatchObject({ accepted: 1, changed: 1 });
    const event = await dashboard.next();
    expect(event.organizationEvents).toMatchObject({ kind: 'status', deploymentId: s.deployment.id, status: { phase: 'progressing', message: 'applying' } });
    for (let i = 0; i < 3; i++) expect((await reportStatus(hub.url, s.token, [report])).data?.agentReportStatus).toMatchObject({ accepted: 1, changed: 0 });
    await reportStatus(hub.url, s.token, [{ ...report, phase: 'healthy', message: '2 healthy' }]);
    expect((await dashboard.next()).organizationEvents.status.phase).toBe('healthy');
    const history = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { status { phase message } statusHistory { edges { node { phase message } } } } }`, { id: s.deployment.id }, hub.apiKey);
    expect(history.deployment.status).toEqual({ phase: 'healthy', message: '2 healthy' });
    expect(history.deployment.statusHistory.edges.map((e: any) => e.node.phase)).toEqual(['healthy', 'progressing']);
    // Watching one deployment starts with its current status, then only its own events.
    const watch = track(subscribeAgent(hub.url, hub.apiKey, `subscription($d: ID) { organizationEvents(deploymentId: $d) { kind deploymentId status { phase } } }`.replace('$d: ID', '$d: ID = "' + s.deployment.id + '"')));
    expect((await watch.next()).organizationEvents).toEqual({ kind: 'status', deploymentId: s.deployment.id, status: { phase: 'healthy' } });
  });

  test('a target shows connected while its socket is open, and last seen after', async () => {
    const hub = await hubInProcess();
    const s = await seedAgent(hub.url, hub.apiKey);
    const q = `query($id: ID!) { deploymentTarget(id: $id) { agent { connected lastSeenAt agentVersion agentHost } } }`;
    expect((await ok(hub.url, q, { id: s.target.id }, hub.apiKey)).deploymentTarget.agent).toMatchObject({ connected: false, lastSeenAt: null });
    const live = hub.nextBusListener('livenessChanged');
    const dashboard = track(subscribeAgent(hub.url, hub.apiKey, `subscription { organizationEvents { kind targetId connected } }`));
    await live;
    const beforeConnect = new Date();
    const socket = track(subscribeAgent(hub.url, s.token));
    await socket.next();
    expect((await dashboard.next()).organizationEvents).toEqual({ kind: 'liveness', targetId: s.target.id, connected: true });
    await ok(hub.url, `mutation { agentReportInfo(version: "0.1.0", host: "edge-1") }`, {}, s.token);
    expect((await ok(hub.url, q, { id: s.target.id }, hub.apiKey)).deploymentTarget.agent).toMatchObject({ connected: true, agentVersion: '0.1.0', agentHost: 'edge-1' });
    await socket.close();
    expect((await dashboard.next()).organizationEvents).toEqual({ kind: 'liveness', targetId: s.target.id, connected: false });
    const after = (await ok(hub.url, q, { id: s.target.id }, hub.apiKey)).deploymentTarget.agent;
    expect(after.connected).toBe(false);
    // Ordering, not a duration: seen at or after the moment this agent connected.
    expect(Date.parse(after.lastSeenAt)).toBeGreaterThanOrEqual(beforeConnect.getTime());
  });

  test('log lines pushed by the agent can be read by the vendor', async () => {
    const hub = await hubInProcess();
    const s = await seedAgent(hub.url, hub.apiKey);
    // Lines are refused while the target has logs switched off (tests/agent-reports.test.ts).
    await ok(hub.url, `mutation($id: ID!) { updateDeploymentTarget(id: $id, input: { logsEnabled: true }) { __typename } }`, { id: s.target.id }, hub.apiKey);
    const lines = [1, 2, 3].map((i) => ({ deploymentId: s.deployment.id, resource: 'web-1', stream: 'stdout', timestamp: new Date(Date.now() + i).toISOString(), line: `line ${i}` }));
    const pushed = await ok(hub.url, `mutation($l: [AgentLogLineInput!]!) { agentPushLogs(lines: $l) { ... on AgentPushLogsResult { stored } } }`, { l: lines }, s.token);
    expect(pushed.agentPushLogs.stored).toBe(3);
    const logs = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { logs { resource line } } }`, { id: s.deployment.id }, hub.apiKey);
    expect(logs.deployment.logs.map((l: any) => l.line)).toEqual(['line 1', 'line 2', 'line 3']);
    const marks = await ok(hub.url, `{ agentLogWatermarks { deploymentId timestamp } }`, {}, s.token);
    expect(marks.agentLogWatermarks).toEqual([{ deploymentId: s.deployment.id, timestamp: lines[2]!.timestamp }]);
  });
});

describe('hub processes', () => {
  async function spawn(databaseUrl: string, port?: number): Promise<HubProcess> {
    const hub = await spawnHub(databaseUrl, { port });
    cleanups.push(() => hub.stop());
    return hub;
  }

  test('after a hub restart the agent reconnects and gets the latest state, including changes made while away', async () => {
    const db = await pg.freshDatabase('restart');
    const first = await spawn(db);
    const key = first.bootstrapKey!;
    const s = await seedAgent(first.url, key);
    const { createClient } = await import('graphql-ws');
    const WebSocket = (await import('ws')).default;
    const states = new ObservedList<any>();
    let connects = 0;
    const client = createClient({
      url: `ws://127.0.0.1:${first.port}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { token: s.token },
      retryAttempts: 100,
      retryWait: () => new Promise((r) => setTimeout(r, 200)),
      shouldRetry: () => true,
      on: { connected: () => connects++ },
    });
    cleanups.push(async () => client.dispose());
    (async () => {
      while (true) {
        try {
          for await (const r of client.iterate({ query: `subscription { agentDesiredState { deployments { revisionId } } }` })) states.push(r.data);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();
    await states.until(() => states.items.length === 1, 'the first desired state');
    await first.stop();
    // A change made while the agent is away, through a hub on another port.
    const other = await spawn(db);
    const updated = await updateDeployment(other.url, key, s.deployment.id, { envFile: 'GREETING=while-away\n' });
    await other.stop();
    await spawn(db, first.port);
    await states.until(() => states.items.some((st) => st.agentDesiredState.deployments[0].revisionId === updated.currentRevision.id), 'the state changed while away');
    expect(connects).toBeGreaterThanOrEqual(2);
  });

  test('with two hub processes on one database, a change made through one reaches an agent on the other', async () => {
    const db = await pg.freshDatabase('replicas');
    const a = await spawn(db);
    const b = await spawn(db);
    const key = a.bootstrapKey!;
    expect(b.bootstrapKey).toBeNull();
    const s = await seedAgent(a.url, key);
    const socket = track(subscribeAgent(b.url, s.token));
    await socket.next();
    const updated = await updateDeployment(a.url, key, s.deployment.id, { envFile: 'GREETING=replica\n' });
    expect((await socket.next()).deployments[0].revisionId).toBe(updated.currentRevision.id);
    // Rotation through b closes a socket on a.
    const onA = track(subscribeAgent(a.url, s.token));
    await onA.next();
    await createAccess(b.url, key, s.target.id);
    expect((await onA.closed).code).toBe(4403);
  });
});
