/**
 * bench:docker — update mutation → containers up → healthy visible through the API, repeated.
 * Needs a running Docker engine with compose v2 and local/busybox:test (scripts/setup-test-env.sh).
 * Starts an embedded PostgreSQL, a hub process and a docker agent process on this machine.
 * Usage: npm run bench:docker -- [--runs 15] [--observe-interval 0.25]
 * Prints progress on stderr and, as the last stdout line, one JSON object.
 */
import { parseArgs } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../server/db/embedded.js';
import { spawnHub } from '../tests/testkit/hub.js';
import { spawnAgent } from '../tests/testkit/agent-process.js';
import { busyboxCompose, waitHealthy } from './docker-fixture.js';
import { createAccess, createDeployment, createDockerVersion, deleteDeployment, seedDockerSetup, updateDeployment } from '../tests/testkit/flow.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' }, 'observe-interval': { type: 'string', default: '0.25' } } });
const runs = Math.max(10, Number(values.runs));
const log = (msg: string) => process.stderr.write(`[bench:docker] ${msg}\n`);


const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-docker-'));
const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), persistent: false });
await pg.createDatabase('bench');
const hub = await spawnHub(pg.urlFor('bench'));
const key = hub.bootstrapKey!;
const { app, target } = await seedDockerSetup(hub.url, key, 'bench');
const access = await createAccess(hub.url, key, target.id);
const agent = spawnAgent({
  DISTR_HUB_URL: hub.url,
  DISTR_TARGET_ID: target.id,
  DISTR_TARGET_SECRET: access.secret,
  DISTR_AGENT_DRIVER: 'docker',
  DISTR_AGENT_STATE_DIR: path.join(dir, 'agent'),
  DISTR_DOCKER_PULL_POLICY: 'never',
  DISTR_OBSERVE_INTERVAL_SECONDS: String(values['observe-interval']),
  LOG_LEVEL: 'warn',
});

const waitFor = (deploymentId: string, revisionId: string, timeoutMs?: number) => waitHealthy({ url: hub.url, key }, () => agent.output(), deploymentId, revisionId, timeoutMs);

const durations: number[] = [];
let deploymentId: string | null = null;
try {
  const versions = [];
  for (let i = 0; i <= runs; i++) versions.push(await createDockerVersion(hub.url, key, app.id, `b${i}`, busyboxCompose(i)));
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: versions[0].id, docker: { composeType: 'compose' } });
  deploymentId = d.id;
  await waitFor(d.id, d.currentRevision.id, 60_000);
  log('warm-up deployment healthy');
  for (let i = 1; i <= runs; i++) {
    const started = performance.now();
    const updated = await updateDeployment(hub.url, key, d.id, { versionId: versions[i].id });
    await waitFor(d.id, updated.currentRevision.id);
    const ms = performance.now() - started;
    durations.push(ms);
    log(`run ${i}: ${ms.toFixed(0)} ms`);
  }
} finally {
  if (deploymentId) await deleteDeployment(hub.url, key, deploymentId, true).catch(() => {});
  await new Promise((r) => setTimeout(r, 2000)); // let the agent take the project down
  await agent.stop();
  await hub.stop();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}

const sorted = [...durations].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
console.log(
  JSON.stringify({
    runs: durations.length,
    p50_ms: Math.round(pct(50)),
    p95_ms: Math.round(pct(95)),
    min_ms: Math.round(sorted[0]!),
    max_ms: Math.round(sorted[sorted.length - 1]!),
    observe_interval_s: Number(values['observe-interval']),
    healthcheck_interval_ms: 100,
    cpus: os.cpus().length,
    node: process.version,
  }),
);
