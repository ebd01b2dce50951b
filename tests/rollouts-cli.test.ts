/** The rollout SDK and the `distr rollout …` CLI (a real process) against a real hub with simulated agents. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { DistrService } from '../client/index.js';
import { DistrRuleViolationError } from '../client/errors.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, startTestHub, type TestHub } from './testkit/hub.js';
import { startFleet, type Policy } from './testkit/fleet.js';

const BIN = path.join(repoRoot, 'client/cli/bin.js');
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

async function setup(n: number, policy?: Policy) {
  const hub: TestHub = await startTestHub(await pg.freshDatabase('rollout_cli'));
  cleanups.push(() => hub.close());
  const fleet = await startFleet(hub.url, hub.apiKey, n, { name: 'shop', labels: (i) => ({ region: i < n / 2 ? 'eu' : 'us' }), policy });
  cleanups.push(() => fleet.close());
  const distr = async (args: string[]) => {
    const r = await execa(process.execPath, [BIN, ...args], { env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: hub.apiKey }, reject: false });
    return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const spawn = (args: string[]) => execa(process.execPath, [BIN, ...args], { env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: hub.apiKey }, reject: false });
  return { hub, fleet, distr, spawn, service: new DistrService({ hubUrl: hub.url, apiKey: hub.apiKey }) };
}

describe('rollouts from the SDK and the CLI', () => {
  test('label targets, select them, create a staged rollout and watch it to completion', async () => {
    const { fleet, distr, spawn, service } = await setup(4);
    expect(await distr(['targets', 'label', 'shop-00', 'region=eu', 'tier=gold'])).toMatchObject({ exitCode: 0, stdout: 'shop-00: region=eu,tier=gold' });
    expect((await distr(['targets', 'label', 'shop-00', 'bad key=x'])).exitCode).toBe(1);
    const selected = JSON.parse((await distr(['targets', 'select', 'region=eu', '--json'])).stdout);
    expect(selected.map((t: any) => t.name)).toEqual(['shop-00', 'shop-01']);
    expect(await distr(['rollout', 'create', 'shop', 'v2', '--selector', 'region=eu', '--all'])).toMatchObject({ exitCode: 2 });
    const none = await distr(['rollout', 'create', 'shop', 'v2', '--selector', 'region=asia']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/matches no target/);
    const created = await distr(['rollout', 'create', 'shop', 'v2', '--all', '--canary', '1', '--wave', '50%', '--json']);
    expect(created.exitCode).toBe(0);
    const rollout = JSON.parse(created.stdout);
    expect(rollout.waves.map((w: any) => w.size)).toEqual([1, 2, 1]);
    expect((await distr(['rollout', 'status', rollout.id])).stdout).toMatch(/the rollout to start/);
    // --watch ends by itself once the rollout completes; one JSON line per change.
    const watch = spawn(['rollout', 'status', rollout.id, '--watch', '--json']);
    expect((await distr(['rollout', 'start', rollout.id])).stdout).toMatch(/is running/);
    const watched = await watch;
    expect(watched.exitCode).toBe(0);
    const lines = String(watched.stdout).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1).state).toBe('completed');
    expect((await service.rollouts.get(rollout.id)).events.map((e) => e.action)).toEqual(['created', 'start', 'wave', 'wave', 'complete']);
    const list = await distr(['rollout', 'status']);
    expect(list.stdout).toMatch(new RegExp(`${rollout.id}\\s+shop\\s+v2\\s+completed`));
    // Rollback of one deployment, and typed errors through the SDK.
    const back = await distr(['rollback', fleet.agents[0]!.deploymentId]);
    expect(back).toMatchObject({ exitCode: 0 });
    expect(back.stdout).toMatch(/shop v1/);
    await expect(service.rollouts.pause(rollout.id)).rejects.toBeInstanceOf(DistrRuleViolationError);
    // The old all-at-once form is the default subcommand.
    expect((await distr(['rollout', 'shop', 'v1'])).stdout).toMatch(/rolled out shop v1 to 4 deployments/);
  });

  test('pause, resume, abort and rollback from the CLI; maintenance windows', async () => {
    let hold = true;
    const { fleet, distr, service } = await setup(3, (a, r) => (r.versionName === 'v2' && a.index === 0 && hold ? null : 'healthy'));
    expect((await distr(['targets', 'windows', 'shop-02', 'sat,sun', '22:00-04:00', '--time-zone', 'Europe/Berlin'])).stdout).toBe('shop-02: sat,sun 22:00-04:00 (Europe/Berlin)');
    expect((await distr(['targets', 'windows', 'shop-02', 'someday', '22:00-04:00'])).exitCode).toBe(1);
    const rollout = await service.rollouts.create({ applicationId: fleet.appId, versionId: fleet.v2, all: true, start: true, strategy: { canary: 1 } });
    await fleet.agents[0]!.until((rs) => rs.some((x) => x.versionName === 'v2'));
    expect((await distr(['rollout', 'pause', rollout.id])).stdout).toMatch(/is paused/);
    expect((await distr(['rollout', 'resume', rollout.id])).stdout).toMatch(/is running/);
    expect((await distr(['rollout', 'abort', rollout.id])).stdout).toMatch(/is aborted/);
    expect((await distr(['rollout', 'resume', rollout.id])).exitCode).toBe(1);
    hold = false;
    expect((await distr(['rollout', 'rollback', rollout.id])).stdout).toMatch(/rolled back 1 deployment/);
    await fleet.agents[0]!.until((rs) => rs.length >= 3 && rs.at(-1)!.versionName === 'v1');
  });
});
