import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub, type HubProcess } from './testkit/hub.js';
import { eventually } from './testkit/agent-process.js';
import { createRollout, getRollout, revisions, startFleet, type Fleet } from './testkit/fleet.js';

/** Real hub processes on one database: restarts and two replicas; agents over real websockets. */
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

async function hub(databaseUrl: string): Promise<HubProcess> {
  const h = await spawnHub(databaseUrl);
  cleanups.push(() => h.stop());
  return h;
}

const waitFor = (url: string, key: string, id: string, what: string, check: (r: any) => boolean) =>
  eventually(async () => {
    const r = await getRollout(url, key, id);
    return check(r) ? r : null;
  }, what, 60_000);

async function movedOnce(url: string, key: string, f: Fleet) {
  for (const a of f.agents) {
    const r = await revisions(url, key, a.deploymentId);
    expect(r.revisions.nodes.filter((n) => n.createdBy.startsWith('rollout'))).toHaveLength(1);
    expect(r.currentRevision.version.name).toBe('v2');
  }
}

describe('the rollout controller across hub processes', () => {
  test('a hub restart in the middle of a wave resumes the rollout exactly where it was', async () => {
    const db = await pg.freshDatabase('rollout_restart');
    const first = await hub(db);
    const key = first.bootstrapKey!;
    let release = false;
    const f = await startFleet(first.url, key, 6, { policy: (a, r) => (r.versionName === 'v2' && (a.index === 1 || a.index === 2) && !release ? null : 'healthy') });
    cleanups.push(() => f.close());
    const r = await createRollout(first.url, key, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 1, waves: [{ count: 2 }] }, start: true });
    expect(r.waves.map((w: any) => w.size)).toEqual([1, 2, 3]);
    await Promise.all([1, 2].map((i) => f.agents[i]!.until((rs) => rs.some((x) => x.versionName === 'v2'))));
    const before = await waitFor(first.url, key, r.id, 'wave 1 to be updating', (x) => x.currentWave === 1 && x.members[1].state === 'updating' && x.members[2].state === 'updating');
    await first.stop();
    release = true;
    const second = await hub(db);
    f.setHubUrl(second.url);
    const done = await waitFor(second.url, key, r.id, 'the rollout to complete on the restarted hub', (x) => x.state === 'completed');
    // Where it was: wave 1's members kept the revisions the first hub appended.
    expect(done.members[1].toRevisionId).toBe(before.members[1].toRevisionId);
    expect(done.events.map((e: any) => `${e.action}:${e.wave ?? ''}`)).toEqual(['created:', 'start:0', 'wave:1', 'wave:2', 'complete:2']);
    const [wave1, wave2] = done.events.filter((e: any) => e.action === 'wave');
    expect(wave1.actor).not.toBe(wave2.actor); // advanced by the first hub's controller, then the second's
    await movedOnce(second.url, key, f);
  });

  test('two hubs on one database: exactly one leads, and no wave is advanced twice', async () => {
    const db = await pg.freshDatabase('rollout_two');
    const a = await hub(db);
    const key = a.bootstrapKey!;
    const b = await hub(db);
    // Half the agents on each replica: status events arrive on both.
    const f = await startFleet(a.url, key, 10, { hubOf: (i) => (i % 2 ? b.url : a.url) });
    cleanups.push(() => f.close());
    const r = await createRollout(b.url, key, { applicationId: f.appId, versionId: f.v2, all: true, strategy: { canary: 2, waves: [{ count: 4 }] }, start: true });
    const done = await waitFor(a.url, key, r.id, 'the rollout to complete', (x) => x.state === 'completed');
    expect(done.events.map((e: any) => `${e.action}:${e.wave ?? ''}`)).toEqual(['created:', 'start:0', 'wave:1', 'wave:2', 'complete:2']);
    expect(new Set(done.events.filter((e: any) => e.actor.startsWith('controller@')).map((e: any) => e.actor)).size).toBe(1);
    expect([a, b].filter((h) => h.output().includes('rollout controller leads'))).toHaveLength(1);
    await movedOnce(a.url, key, f);
  });
});
