/**
 * The compiled hub (scripts/build-hub.ts: one esbuild bundle, npm packages left as imports, the
 * migrations compiled beside it) run with plain node, no tsx, as `npm start` runs it: it migrates a
 * fresh database, serves the API, the playground and the agent chart, and an agent connects over
 * its websocket, receives its deployment and reports status.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { HubClient } from '../agent/core/hub-client.js';
import type { DesiredState } from '../protocol/index.js';
import { buildHub } from '../scripts/build-hub.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, spawnHub, type HubProcess } from './testkit/hub.js';
import { createAccess, createDeployment, deploymentStatus, seedDockerSetup } from './testkit/flow.js';

// Under the repository (the bundle finds the repository's files and node_modules from there).
const outdir = path.join(repoRoot, 'dist', `hub-test-${process.pid}`);
let pg: TestPostgres;
let hub: HubProcess;
beforeAll(async () => {
  pg = await startTestPostgres();
  const entry = await buildHub(outdir);
  hub = await spawnHub(await pg.freshDatabase('compiled_hub'), { entry });
});
afterAll(async () => {
  await hub?.stop();
  await pg?.stop();
  await rm(outdir, { recursive: true, force: true });
});

test('the compiled hub runs without tsx and serves the API, the playground, the chart and an agent', async () => {
  // No TypeScript runtime in the process: its command line is node and the bundle.
  expect(hub.process.spawnargs.slice(1)).toEqual([path.join(outdir, 'main.js')]);
  const key = hub.bootstrapKey!;
  const { version, target } = await seedDockerSetup(hub.url, key, 'compiled');
  const deployment = await createDeployment(hub.url, key, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
  const access = await createAccess(hub.url, key, target.id);

  const playground = await fetch(`${hub.url}/graphql`, { headers: { accept: 'text/html' } });
  expect(playground.status).toBe(200);
  expect(await playground.text()).toContain('GraphiQL');
  const chart = await fetch(`${hub.url}/charts/distr-agent-0.1.0.tgz`);
  expect(chart.status).toBe(200);
  expect(Buffer.from(await chart.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

  const client = new HubClient({ hubUrl: hub.url, targetId: target.id, secret: () => access.secret, agentVersion: 'test', logger: pino({ level: 'silent' }) });
  const stop = new AbortController();
  const received = new Promise<DesiredState>((resolve) => {
    void client.subscribeDesiredState((state) => state.deployments.length > 0 && resolve(state), {}, stop.signal);
  });
  try {
    const state = await received;
    expect(state.deployments.map((d) => d.deploymentId)).toEqual([deployment.id]);
    const outcome = await client.reportStatus([{ deploymentId: deployment.id, revisionId: state.deployments[0]!.revisionId, phase: 'healthy', message: 'up' }]);
    expect(outcome.accepted).toBe(1);
    expect((await deploymentStatus(hub.url, key, deployment.id)).status).toMatchObject({ phase: 'healthy', message: 'up' });
  } finally {
    stop.abort();
  }
});
