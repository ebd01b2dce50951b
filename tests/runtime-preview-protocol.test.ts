/**
 * Runtime previews at the protocol level (real hub, real PostgreSQL, simulated agents over real
 * websockets): a request reaches the agent in its desired state (candidate rendered, the secret
 * values to redact), an offline agent's request stays pending and says so and a connecting agent
 * gets it, the answer is stored redacted once more and leaves the state, repeats and expired
 * answers are refused, foreign ids are not found, bad input is a typed error with nothing
 * written, and a pending preview never blocks an update.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { AgentReportRuntimePreviewDocument, type AgentRuntimePreviewReportInput } from '../protocol/index.js';
import { DistrService } from '../client/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { seedOrganization, startTestHub, type TestHub } from './testkit/hub.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createKubernetesVersion, createTarget, gql, ok, updateDeployment } from './testkit/flow.js';

const SECRET = 'proto-preview-Secret-77Hx';
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

const COMPOSE = (release: string) => `services:
  web:
    image: local/busybox:test
    environment:
      RELEASE: ${release}
      PASSWORD: \${PASSWORD}
`;

const REQUEST = `mutation($id: ID!, $input: UpdateDeploymentInput!, $expires: Int) {
  requestRuntimePreview(deploymentId: $id, input: $input, expiresInSeconds: $expires) {
    __typename
    ... on RuntimePreview { id state agentConnected waitingFor expiresAt requestedBy toVersion { name } }
    ... on Error { message }
    ... on InvalidInputError { field }
    ... on RuleViolationError { rule }
    ... on NotFoundError { entity }
  }
}`;
const READ = `query($id: ID!) { runtimePreview(id: $id) {
  __typename
  ... on RuntimePreview { id state diff detail baseRevisionId completedAt services { name change imageBefore imageAfter } }
  ... on NotFoundError { entity entityId }
} }`;

async function setup() {
  const hub: TestHub = await startTestHub(await pg.freshDatabase('runtime_preview_protocol'));
  cleanups.push(() => hub.close());
  const key = hub.apiKey;
  await ok(hub.url, `mutation($input: SetSecretInput!) { setSecret(input: $input) { __typename } }`, { input: { name: 'PASSWORD', value: SECRET } }, key);
  const app = await createApplication(hub.url, key, 'proto-shop', 'docker');
  const v1 = await createDockerVersion(hub.url, key, app.id, 'v1', COMPOSE('v1'));
  const v2 = await createDockerVersion(hub.url, key, app.id, 'v2', COMPOSE('v2'));
  const target = await createTarget(hub.url, key, { name: 'proto-host', type: 'docker' });
  const access = await createAccess(hub.url, key, target.id);
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose', envFile: 'PASSWORD=${{ secrets.PASSWORD }}\n' } });
  const connect = async () => {
    const socket = subscribeAgent(hub.url, await agentLogin(hub.url, target.id, access.secret));
    cleanups.push(() => socket.close());
    return socket;
  };
  const request = async (input: Record<string, unknown>, expires?: number, id: string = d.id, apiKey = key) =>
    (await ok<any>(hub.url, REQUEST, { id, input, expires }, apiKey)).requestRuntimePreview;
  const read = async (id: string, apiKey = key) => (await ok<any>(hub.url, READ, { id }, apiKey)).runtimePreview;
  const answer = async (token: string, report: AgentRuntimePreviewReportInput) => (await ok(hub.url, AgentReportRuntimePreviewDocument, { report }, token)).agentReportRuntimePreview as any;
  const count = async () => Number((await hub.em().execute(`select count(*)::int as n from runtime_preview`))[0].n);
  return { hub, key, app, v1, v2, target, access, d, connect, request, read, answer, count };
}

test('an offline agent: the request stays pending and says so; the agent gets it when it connects, answers once, and the request leaves its state', async () => {
  const s = await setup();
  const pending = await s.request({ versionId: s.v2.id }, 120);
  expect(pending).toMatchObject({ __typename: 'RuntimePreview', state: 'pending', agentConnected: false, toVersion: { name: 'v2' } });
  expect(pending.waitingFor).toBe(`the target's agent, which is offline: the request stays pending until ${pending.expiresAt}, then expires`);

  const socket = await s.connect();
  const first = await socket.next();
  expect(first.runtimePreviews).toHaveLength(1);
  const req = first.runtimePreviews[0];
  expect(req).toMatchObject({ previewId: pending.id, deploymentId: s.d.id, error: null, chart: null, values: null, composeFile: expect.stringContaining('RELEASE: v2') });
  expect(req.envFile).toContain(`PASSWORD=${SECRET}`); // rendered as the agent would run it
  expect(req.redact).toEqual([{ name: 'PASSWORD', value: SECRET }]);
  expect((await s.request({ versionId: s.v2.id })).agentConnected).toBe(true);
  await socket.next(); // the second request's state

  // An agent that forgot to redact: the hub redacts before storing.
  const token = await agentLogin(s.hub.url, s.target.id, s.access.secret);
  const done = await s.answer(token, { previewId: pending.id, baseRevisionId: s.d.currentRevision.id, diff: `-  PASSWORD: ${SECRET}\n+  RELEASE: v2\n`, services: [{ name: 'web', change: 'recreated', imageBefore: 'local/busybox:test', imageAfter: 'local/busybox:test' }] });
  expect(done).toMatchObject({ __typename: 'AgentRuntimePreviewReportResult', previewId: pending.id, state: 'done' });
  const stored = await s.read(pending.id);
  expect(stored).toMatchObject({ state: 'done', baseRevisionId: s.d.currentRevision.id, services: [{ name: 'web', change: 'recreated' }] });
  expect(stored.diff).toBe('-  PASSWORD: [redacted secrets.PASSWORD]\n+  RELEASE: v2\n');
  expect(JSON.stringify(await s.hub.em().execute(`select * from runtime_preview`))).not.toContain(SECRET);
  const after = await socket.next();
  expect(after.runtimePreviews.map((r: any) => r.previewId)).not.toContain(pending.id);

  // Answered already: refused, the stored answer unchanged.
  const again = await s.answer(token, { previewId: pending.id, error: 'late' });
  expect(again).toMatchObject({ __typename: 'RuleViolationError', rule: 'preview_not_pending' });
  expect((await s.read(pending.id)).diff).toBe(stored.diff);
  // The agent's failure is a state too.
  const failed = await s.answer(token, { previewId: after.runtimePreviews[0].previewId, error: `compose refused: ${SECRET} is bad` });
  expect(failed.state).toBe('failed');
  expect((await s.read(after.runtimePreviews[0].previewId)).detail).toBe('compose refused: [redacted secrets.PASSWORD] is bad');
});

test('an expired request: shown expired, left out of the state, its answer refused; a pending one never blocks an update', async () => {
  const s = await setup();
  const p = await s.request({ versionId: s.v2.id });
  await s.hub.em().execute(`update runtime_preview set expires_at = now() - interval '1 second' where id = ?`, [p.id]);
  expect((await s.read(p.id)).state).toBe('expired');
  // The SDK's wait (a subscription) ends with it, as the CLI's does.
  expect((await new DistrService({ hubUrl: s.hub.url, apiKey: s.key }).rollouts.waitForRuntimePreview(p.id)).state).toBe('expired');
  const socket = await s.connect();
  expect((await socket.next()).runtimePreviews).toEqual([]);
  const token = await agentLogin(s.hub.url, s.target.id, s.access.secret);
  expect(await s.answer(token, { previewId: p.id, diff: '' })).toMatchObject({ __typename: 'RuleViolationError', rule: 'preview_expired' });
  expect((await s.hub.em().execute(`select state from runtime_preview where id = ?`, [p.id]))[0].state).toBe('expired');

  const pending = await s.request({ versionId: s.v2.id });
  expect((await socket.next()).runtimePreviews.map((r: any) => r.previewId)).toEqual([pending.id]);
  const updated = await updateDeployment(s.hub.url, s.key, s.d.id, { versionId: s.v2.id });
  expect(updated.currentRevision.version.name).toBe('v2');
  const state = await socket.next();
  expect(state.deployments[0].revisionId).toBe(updated.currentRevision.id);
  expect(state.runtimePreviews.map((r: any) => r.previewId)).toEqual([pending.id]);
  expect((await s.read(pending.id)).state).toBe('pending');
});

test('foreign ids are not found; bad input is a typed error and writes nothing', async () => {
  const s = await setup();
  const other = await seedOrganization(s.hub.em(), 'other-org');
  const mine = await s.request({ versionId: s.v2.id });
  expect(await s.read(mine.id, other.apiKey)).toMatchObject({ __typename: 'NotFoundError', entity: 'runtime preview' });
  expect(await s.request({}, undefined, s.d.id, other.apiKey)).toMatchObject({ __typename: 'NotFoundError', entity: 'deployment' });
  expect(await s.read('not-a-uuid')).toMatchObject({ __typename: 'NotFoundError' });
  const list = `query($id: ID!) { runtimePreviews(deploymentId: $id) { __typename ... on QueryRuntimePreviewsSuccess { data { id } } ... on NotFoundError { entity } } }`;
  expect((await ok<any>(s.hub.url, list, { id: s.d.id }, other.apiKey)).runtimePreviews).toMatchObject({ __typename: 'NotFoundError', entity: 'deployment' });
  expect((await ok<any>(s.hub.url, list, { id: s.d.id }, s.key)).runtimePreviews.data.map((p: any) => p.id)).toEqual([mine.id]);

  // Another target's agent cannot answer it.
  const t2 = await createTarget(s.hub.url, s.key, { name: 'proto-host-2', type: 'docker' });
  const a2 = await createAccess(s.hub.url, s.key, t2.id);
  const token2 = await agentLogin(s.hub.url, t2.id, a2.secret);
  expect(await s.answer(token2, { previewId: mine.id, diff: 'x' })).toMatchObject({ __typename: 'NotFoundError', entity: 'runtime preview' });
  const token = await agentLogin(s.hub.url, s.target.id, s.access.secret);
  expect(await s.answer(token, { previewId: mine.id })).toMatchObject({ __typename: 'InvalidInputError', field: 'report' });
  expect(await s.answer(token, { previewId: mine.id, diff: '', baseRevisionId: 'nope' })).toMatchObject({ __typename: 'InvalidInputError', field: 'report.baseRevisionId' });
  expect((await s.read(mine.id)).state).toBe('pending');
  // A vendor key cannot answer for an agent.
  const asVendor = await gql(s.hub.url, AgentReportRuntimePreviewDocument, { report: { previewId: mine.id, diff: '' } }, s.key);
  expect(asVendor.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

  const before = await s.count();
  expect(await s.request({}, 5)).toMatchObject({ __typename: 'InvalidInputError', field: 'expiresInSeconds' });
  expect(await s.request({ envFile: 'PASSWORD=${{ secrets.MISSING }}\n' })).toMatchObject({ __typename: 'InvalidInputError', field: 'envFile' });
  expect(await s.request({ valuesYaml: 'a: 1' })).toMatchObject({ __typename: 'InvalidInputError', field: 'valuesYaml' });
  const otherApp = await createApplication(s.hub.url, s.key, 'other-app', 'docker');
  const foreignVersion = await createDockerVersion(s.hub.url, s.key, otherApp.id, 'x1', COMPOSE('x1'));
  expect(await s.request({ versionId: foreignVersion.id })).toMatchObject({ __typename: 'RuleViolationError', rule: 'version_of_other_application' });
  expect(await s.count()).toBe(before);

  // At most five pending per deployment.
  for (let i = (await s.count()); i < 5; i++) expect((await s.request({})).__typename).toBe('RuntimePreview');
  expect(await s.request({})).toMatchObject({ __typename: 'RuleViolationError', rule: 'too_many_pending_previews' });
});

test('a kubernetes deployment: the request carries the chart and the merged values, rendered, with the secrets to redact', async () => {
  const hub: TestHub = await startTestHub(await pg.freshDatabase('runtime_preview_k8s'));
  cleanups.push(() => hub.close());
  const key = hub.apiKey;
  await ok(hub.url, `mutation($input: SetSecretInput!) { setSecret(input: $input) { __typename } }`, { input: { name: 'PASSWORD', value: SECRET } }, key);
  const app = await createApplication(hub.url, key, 'proto-k8s', 'kubernetes');
  const chart = { applicationId: app.id, chartType: 'oci', chartUrl: 'oci://127.0.0.1:1/charts/shop' };
  const v1 = await createKubernetesVersion(hub.url, key, { ...chart, name: '1.0.0', chartVersion: '1.0.0', baseValues: 'replicas: 1\ndb:\n  password: ${{ secrets.PASSWORD }}\n' });
  const v2 = await createKubernetesVersion(hub.url, key, { ...chart, name: '1.1.0', chartVersion: '1.1.0', baseValues: 'replicas: 2\ndb:\n  password: ${{ secrets.PASSWORD }}\n' });
  const target = await createTarget(hub.url, key, { name: 'proto-cluster', type: 'kubernetes', namespace: 'shop', scope: 'namespace' });
  const access = await createAccess(hub.url, key, target.id);
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: v1.id, kubernetes: { releaseName: 'shop', valuesYaml: 'ingress:\n  host: a.example\n' } });
  const requested = (await ok<any>(hub.url, REQUEST, { id: d.id, input: { versionId: v2.id, valuesYaml: 'ingress:\n  host: b.example\n' } }, key)).requestRuntimePreview;
  expect(requested.__typename).toBe('RuntimePreview');
  expect((await ok<any>(hub.url, REQUEST, { id: d.id, input: { envFile: 'A=1\n' } }, key)).requestRuntimePreview).toMatchObject({ __typename: 'InvalidInputError', field: 'envFile' });
  const socket = subscribeAgent(hub.url, await agentLogin(hub.url, target.id, access.secret));
  cleanups.push(() => socket.close());
  const [req] = (await socket.next()).runtimePreviews;
  expect(req).toMatchObject({
    previewId: requested.id,
    composeFile: null,
    envFile: null,
    chart: { type: 'oci', url: 'oci://127.0.0.1:1/charts/shop', version: '1.1.0' },
    values: { replicas: 2, db: { password: SECRET }, ingress: { host: 'b.example' } },
    redact: [{ name: 'PASSWORD', value: SECRET }],
  });
  const rows = await hub.em().execute(`select values_yaml, env_file from runtime_preview`);
  expect(rows).toEqual([{ values_yaml: 'ingress:\n  host: b.example\n', env_file: null }]);
});
