import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { eventually } from './testkit/agent-process.js';
import { createApplication, createDockerVersion, gql, ok } from './testkit/flow.js';
import { createRollout, getRollout, revisions, rolloutAction, startFleet, type Fleet, type FleetAgent } from './testkit/fleet.js';

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
  const hub = await startTestHub(await pg.freshDatabase('rollout'));
  cleanups.push(() => hub.close());
  return hub;
}

async function fleet(hub: TestHub, n: number, opts: Parameters<typeof startFleet>[3] = {}): Promise<Fleet> {
  const f = await startFleet(hub.url, hub.apiKey, n, opts);
  cleanups.push(() => f.close());
  return f;
}

const waitState = (hub: TestHub, id: string, state: string, timeoutMs = 30_000) =>
  eventually(async () => {
    const r = await getRollout(hub.url, hub.apiKey, id);
    return r.state === state ? r : null;
  }, `rollout ${id} to be ${state}`, timeoutMs);

const waitFor = (hub: TestHub, id: string, what: string, check: (r: any) => boolean) =>
  eventually(async () => {
    const r = await getRollout(hub.url, hub.apiKey, id);
    return check(r) ? r : null;
  }, what, 30_000);

const atV2 = (a: FleetAgent) => a.until((rs) => rs.some((r) => r.versionName === 'v2'));

describe('staged rollouts over simulated agents', () => {
  test('a 3-wave rollout over 20 targets completes wave by wave, each deployment moved once', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 20, { labels: (i) => ({ region: i % 2 ? 'eu' : 'us', tier: 'gold' }) });
    const created = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 2, waves: [{ percent: 40 }] }, start: true });
    expect(created.__typename).toBe('Rollout');
    expect(created.waves.map((w: any) => w.size)).toEqual([2, 8, 10]);
    const done = await waitState(hub, created.id, 'completed');
    await Promise.all(f.agents.map(atV2));
    // In order: every deployment of wave k was moved after every one of wave k-1 had passed.
    for (let k = 1; k < 3; k++) {
      const prevDone = Math.max(...done.members.filter((m: any) => m.wave === k - 1).map((m: any) => Date.parse(m.finishedAt)));
      const moved = Math.min(...done.members.filter((m: any) => m.wave === k).map((m: any) => Date.parse(m.movedAt)));
      expect(moved).toBeGreaterThanOrEqual(prevDone);
    }
    expect(done.members.every((m: any) => m.state === 'passed')).toBe(true);
    expect(done.events.map((e: any) => `${e.action}:${e.wave ?? ''}`)).toEqual(['created:', 'start:0', 'wave:1', 'wave:2', 'complete:2']);
    expect(done.events[0].actor).toMatch(/admin/i);
    for (const a of f.agents) {
      const r = await revisions(hub.url, hub.apiKey, a.deploymentId);
      expect(r.revisions.nodes.filter((n) => n.createdBy.startsWith('rollout'))).toHaveLength(1);
      expect(r.currentRevision.version.name).toBe('v2');
    }
  });

  test('a canary reporting error halts the rollout and leaves the other waves untouched; halt_and_rollback returns it', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 6, { policy: (a, r) => (r.versionName === 'v2' && a.index === 0 ? 'error' : 'healthy') });
    const r = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1, waves: [{ count: 2 }], onFailure: 'halt_and_rollback' }, start: true });
    const halted = await waitState(hub, r.id, 'halted');
    expect(halted.haltReason).toMatch(/wave 0: 1 deployment of the wave failed/);
    expect(halted.failedDeployments).toEqual([]); // rolled back: no longer "failed"
    expect(halted.members[0]).toMatchObject({ deploymentId: f.agents[0]!.deploymentId, state: 'rolled_back' });
    expect(halted.members.slice(1).every((m: any) => m.state === 'pending' && m.toRevisionId === null)).toBe(true);
    expect(halted.events.map((e: any) => e.action)).toEqual(['created', 'start', 'halt', 'rollback']);
    // The canary's agent receives v1 again, as a new revision; nobody else ever saw v2.
    await f.agents[0]!.until((rs) => rs.length >= 3 && rs.at(-1)!.versionName === 'v1');
    for (const a of f.agents.slice(1)) expect(a.received.map((x) => x.versionName)).toEqual(['v1']);
    const rev = await revisions(hub.url, hub.apiKey, f.agents[0]!.deploymentId);
    expect(rev.revisions.nodes.map((n) => n.version.name)).toEqual(['v1', 'v2', 'v1']);
  });

  test('halt (without rollback) names the failed deployments; retry updates them again', async () => {
    const hub = await hubInProcess();
    let canaryPhase: 'error' | 'healthy' = 'error';
    const f = await fleet(hub, 3, { policy: (a, r) => (r.versionName === 'v2' && a.index === 0 ? canaryPhase : 'healthy') });
    const r = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1 }, start: true });
    const halted = await waitState(hub, r.id, 'halted');
    expect(halted.failedDeployments).toEqual([{ id: f.agents[0]!.deploymentId }]);
    expect(halted.members[0].message).toMatch(/reported error: simulated error/);
    canaryPhase = 'healthy';
    expect((await rolloutAction(hub.url, hub.apiKey, 'retryRollout', r.id)).state).toBe('running');
    const done = await waitState(hub, r.id, 'completed');
    expect(done.events.map((e: any) => e.action)).toEqual(['created', 'start', 'halt', 'retry', 'wave', 'complete']);
  });

  test('the soak is honoured: a deployment that flips to error during its soak halts the rollout', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 3);
    const r = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1, soakSeconds: 3600 }, start: true });
    const soaking = await waitFor(hub, r.id, 'the canary to soak', (x) => x.members[0].state === 'soaking');
    expect(soaking.members[0].waitingFor).toMatch(/the soak to end at/);
    expect(soaking.members[1].waitingFor).toMatch(/wave 1/);
    await f.agents[0]!.report('error', 'crashed after start');
    const halted = await waitState(hub, r.id, 'halted');
    expect(halted.members[0]).toMatchObject({ state: 'failed', message: 'turned error during the soak: crashed after start' });
    expect(f.agents[1]!.received.map((x) => x.versionName)).toEqual(['v1']);
  });

  test('a wave passes only after its soak (timer from the stored healthy time)', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 2);
    const r = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1, soakSeconds: 1 }, start: true });
    const done = await waitState(hub, r.id, 'completed');
    for (const m of done.members) expect(Date.parse(m.finishedAt) - Date.parse(m.healthySince)).toBeGreaterThanOrEqual(1000);
  });

  test('pause, resume and abort; invalid transitions are typed errors', async () => {
    const hub = await hubInProcess();
    let release = false;
    const f = await fleet(hub, 4, { policy: (a, r) => (r.versionName === 'v2' && a.index <= 1 && !release ? null : 'healthy') });
    const r = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1, waves: [{ count: 1 }] } });
    expect(r.state).toBe('pending');
    expect(r.waves.map((w: any) => w.size)).toEqual([1, 1, 2]);
    expect(r.members[0].waitingFor).toBe('the rollout to start');
    expect(await rolloutAction(hub.url, hub.apiKey, 'resumeRollout', r.id)).toMatchObject({ __typename: 'RuleViolationError', rule: 'invalid_transition' });
    await rolloutAction(hub.url, hub.apiKey, 'startRollout', r.id);
    await atV2(f.agents[0]!);
    expect((await rolloutAction(hub.url, hub.apiKey, 'pauseRollout', r.id)).state).toBe('paused');
    await f.agents[0]!.report('healthy');
    // Paused: the canary's health is stored, but no wave moves until resume.
    const paused = await getRollout(hub.url, hub.apiKey, r.id);
    expect(paused.members[1]).toMatchObject({ state: 'pending', toRevisionId: null, waitingFor: 'wave 1 (the rollout is in wave 0)' });
    expect((await rolloutAction(hub.url, hub.apiKey, 'resumeRollout', r.id)).state).toBe('running');
    await atV2(f.agents[1]!);
    const inWave1 = await waitFor(hub, r.id, 'wave 1 to be updating', (x) => x.currentWave === 1 && x.members[1].state === 'updating');
    expect(inWave1.members[0].state).toBe('passed');
    expect((await rolloutAction(hub.url, hub.apiKey, 'abortRollout', r.id)).state).toBe('aborted');
    release = true;
    await f.agents[1]!.report('healthy');
    // Aborted: the rest is never touched, and the rollout cannot be started again.
    const aborted = await getRollout(hub.url, hub.apiKey, r.id);
    expect(aborted.members.filter((m: any) => m.wave === 2).every((m: any) => m.state === 'pending' && m.toRevisionId === null)).toBe(true);
    expect((await rolloutAction(hub.url, hub.apiKey, 'startRollout', r.id)).__typename).toBe('RuleViolationError');
    expect(aborted.events.map((e: any) => `${e.action}:${e.fromState ?? ''}>${e.toState}`)).toEqual([
      'created:>pending',
      'start:pending>running',
      'pause:running>paused',
      'resume:paused>running',
      'wave:running>running',
      'abort:running>aborted',
    ]);
    for (const a of f.agents.slice(2)) expect(a.received.map((x) => x.versionName)).toEqual(['v1']);
    // A rollback of the aborted rollout returns the two moved deployments to v1.
    const rolledBack = await rolloutAction(hub.url, hub.apiKey, 'rollBackRollout', r.id);
    expect(rolledBack.members.filter((m: any) => m.state === 'rolled_back')).toHaveLength(2);
    await f.agents[1]!.until((rs) => rs.length >= 3 && rs.at(-1)!.versionName === 'v1');
  });

  test('a closed maintenance window delays a target, the plan says so, and an opened window lets it go', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 3);
    // A window on a day that is not today (in UTC): closed now.
    const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const other = days[(new Date().getUTCDay() + 3) % 7];
    const windows = [{ days: [other], start: '01:00', end: '02:00' }];
    const upd = await ok(
      hub.url,
      `mutation($id: ID!, $i: UpdateDeploymentTargetInput!) { updateDeploymentTarget(id: $id, input: $i) { ... on DeploymentTarget { timeZone maintenanceWindows { days start end } } } }`,
      { id: f.agents[2]!.targetId, i: { timeZone: 'UTC', maintenanceWindows: windows } },
      hub.apiKey,
    );
    expect(upd.updateDeploymentTarget.maintenanceWindows).toEqual(windows);
    const r = await createRollout(hub.url, hub.apiKey, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1 }, start: true });
    const waiting = await waitFor(hub, r.id, 'wave 1 to wait for the window', (x) => x.currentWave === 1 && x.members[1].state === 'passed');
    expect(waiting.state).toBe('running');
    expect(waiting.members[2]).toMatchObject({ state: 'pending', maintenanceWindowOpen: false });
    expect(waiting.members[2].waitingFor).toMatch(/^its maintenance window \(opens at .*T01:00:00.000Z\)$/);
    expect(new Date(waiting.members[2].nextMaintenanceWindowAt).getUTCHours()).toBe(1);
    expect(f.agents[2]!.received.map((x) => x.versionName)).toEqual(['v1']);
    // Open the window now: the controller re-plans at once.
    await ok(hub.url, `mutation($id: ID!, $i: UpdateDeploymentTargetInput!) { updateDeploymentTarget(id: $id, input: $i) { __typename } }`, { id: f.agents[2]!.targetId, i: { maintenanceWindows: [] } }, hub.apiKey);
    await waitState(hub, r.id, 'completed');
    await atV2(f.agents[2]!);
  });

  test('invalid plans are typed errors and write nothing', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 2, { labels: (i) => ({ region: i === 0 ? 'eu' : 'us' }) });
    const other = await createApplication(hub.url, hub.apiKey, 'other', 'docker');
    const otherVersion = await createDockerVersion(hub.url, hub.apiKey, other.id, 'o1', 'services:\n  a:\n    image: x\n');
    const base = { applicationId: f.appId, versionId: f.v2 };
    expect(await createRollout(hub.url, hub.apiKey, { ...base, selector: 'region=asia' })).toMatchObject({ __typename: 'RuleViolationError', rule: 'selection_empty' });
    expect((await createRollout(hub.url, hub.apiKey, { ...base, selector: 'region=asia' })).message).toMatch(/selector "region=asia" matches no target/);
    expect(await createRollout(hub.url, hub.apiKey, { ...base, versionId: otherVersion.id, all: true })).toMatchObject({ rule: 'version_of_other_application' });
    expect(await createRollout(hub.url, hub.apiKey, { ...base, selector: 'region in (eu' })).toMatchObject({ __typename: 'InvalidInputError', field: 'selector' });
    expect(await createRollout(hub.url, hub.apiKey, { ...base, all: true, selector: 'region=eu' })).toMatchObject({ __typename: 'InvalidInputError', field: 'selection' });
    expect(await createRollout(hub.url, hub.apiKey, { ...base, versionId: f.v1, all: true })).toMatchObject({ rule: 'nothing_to_roll_out' });
    expect(await createRollout(hub.url, hub.apiKey, { ...base, deploymentIds: ['00000000-0000-0000-0000-000000000001'] })).toMatchObject({ __typename: 'NotFoundError' });
    expect(await createRollout(hub.url, hub.apiKey, { ...base, all: true, strategy: { canary: 0 } })).toMatchObject({ field: 'strategy.canary' });
    const eu = await createRollout(hub.url, hub.apiKey, { ...base, selector: 'region=eu' });
    expect(eu.members.map((m: any) => m.deploymentId)).toEqual([f.agents[0]!.deploymentId]);
    expect(await createRollout(hub.url, hub.apiKey, { ...base, all: true })).toMatchObject({ rule: 'deployment_in_active_rollout' });
    const list = await ok(hub.url, `{ rollouts(first: 10) { nodes { id } } }`, {}, hub.apiKey);
    expect(list.rollouts.nodes).toEqual([{ id: eu.id }]);
  });
});

describe('target labels', () => {
  test('set, listed sorted, selected by equality and set-based selectors; bad labels are typed errors', async () => {
    const hub = await hubInProcess();
    const create = (name: string, labels: { key: string; value: string }[]) =>
      ok(hub.url, `mutation($i: CreateDeploymentTargetInput!) { createDeploymentTarget(input: $i) { __typename ... on DeploymentTarget { id labels { key value } } ... on InvalidInputError { field message } } }`, { i: { name, type: 'docker', labels } }, hub.apiKey).then((d) => d.createDeploymentTarget);
    const a = await create('a', [{ key: 'tier', value: 'gold' }, { key: 'region', value: 'eu' }]);
    expect(a.labels).toEqual([{ key: 'region', value: 'eu' }, { key: 'tier', value: 'gold' }]);
    await create('b', [{ key: 'region', value: 'eu' }, { key: 'tier', value: 'bronze' }]);
    await create('c', [{ key: 'region', value: 'us' }, { key: 'tier', value: 'silver' }]);
    const bad = await create('d', [{ key: 'bad key', value: 'x' }]);
    expect(bad).toMatchObject({ __typename: 'InvalidInputError', field: 'labels' });
    const select = async (selector: string) => {
      const res = await gql(hub.url, `query($s: String) { deploymentTargets(first: 50, selector: $s) { nodes { name } } }`, { s: selector }, hub.apiKey);
      return res.errors ? res.errors[0]!.message : res.data.deploymentTargets.nodes.map((n: any) => n.name);
    };
    expect(await select('region=eu,tier in (gold,silver)')).toEqual(['a']);
    expect(await select('tier notin (gold)')).toEqual(['b', 'c']);
    expect(await select('region!=eu')).toEqual(['c']);
    expect(await select('tier in (gold')).toMatch(/selector/);
    const updated = await ok(hub.url, `mutation($id: ID!) { updateDeploymentTarget(id: $id, input: { labels: [{ key: "region", value: "us" }] }) { ... on DeploymentTarget { labels { key value } } } }`, { id: a.id }, hub.apiKey);
    expect(updated.updateDeploymentTarget.labels).toEqual([{ key: 'region', value: 'us' }]);
  });
});

describe('rollback', () => {
  test('makes the previous (or a given earlier) revision current again as a new revision', async () => {
    const hub = await hubInProcess();
    const f = await fleet(hub, 1);
    const [agent] = f.agents;
    const d = agent!.deploymentId;
    const rollbackQ = `mutation($id: ID!, $r: ID) { rollbackDeployment(id: $id, revisionId: $r) { __typename ... on Deployment { currentRevision { id version { name } createdBy } } ... on Error { message } ... on RuleViolationError { rule } ... on NotFoundError { entity } } }`;
    expect((await ok(hub.url, rollbackQ, { id: d }, hub.apiKey)).rollbackDeployment).toMatchObject({ __typename: 'RuleViolationError', rule: 'no_earlier_revision' });
    const v1rev = (await revisions(hub.url, hub.apiKey, d)).currentRevision.id;
    await ok(hub.url, `mutation($id: ID!, $v: ID!) { updateDeployment(id: $id, input: { versionId: $v }) { __typename } }`, { id: d, v: f.v2 }, hub.apiKey);
    await ok(hub.url, `mutation($id: ID!) { forceRestartDeployment(id: $id) { __typename } }`, { id: d }, hub.apiKey);
    const back = (await ok(hub.url, rollbackQ, { id: d }, hub.apiKey)).rollbackDeployment;
    expect(back.currentRevision.version.name).toBe('v1');
    expect(back.currentRevision.id).not.toBe(v1rev);
    expect(back.currentRevision.createdBy).toMatch(new RegExp(`rollback to ${v1rev}`));
    await agent!.until((rs) => rs.at(-1)!.revisionId === back.currentRevision.id);
    const again = (await ok(hub.url, rollbackQ, { id: d }, hub.apiKey)).rollbackDeployment;
    expect(again.currentRevision.version.name).toBe('v2');
    const explicit = (await ok(hub.url, rollbackQ, { id: d, r: v1rev }, hub.apiKey)).rollbackDeployment;
    expect(explicit.currentRevision.version.name).toBe('v1');
    expect((await ok(hub.url, rollbackQ, { id: d, r: '00000000-0000-0000-0000-000000000000' }, hub.apiKey)).rollbackDeployment).toMatchObject({ __typename: 'NotFoundError', entity: 'deployment revision' });
    expect((await revisions(hub.url, hub.apiKey, d)).revisions.nodes.map((n) => n.version.name)).toEqual(['v1', 'v2', 'v1', 'v2', 'v2', 'v1']);
  });
});
