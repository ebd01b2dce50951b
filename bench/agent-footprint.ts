/**
 * bench:agent-footprint — the COMPILED docker agent (scripts/build-agent.ts, built fresh into a
 * temp folder) against a real hub and engine, in one run:
 * - idle RSS: VmRSS of the agent process (/proc/<pid>/status) after it connected and applied its
 *   first deployment, once settled (--settle seconds, sampled each second; the last sample); and
 *   again --settle seconds after the update runs (agent_idle_rss_after_updates_mib);
 * - CPU per update: utime+stime of the agent pid itself (/proc/<pid>/stat fields 14+15; NOT
 *   cutime/cstime, so the compose processes it runs are excluded), summed over the update runs'
 *   windows (mutation sent → healthy visible through the API) / runs;
 * - update → healthy p50/p95, and alternating with each update, in the same run, the wall time
 *   of raw `docker compose -p X -f F up -d` for the same kind of change (same compose file
 *   shape, its own project), with the difference of the medians.
 * Needs the engine, compose v2 and local/busybox:test (DISTR_TEST_ENV_SKIP_K8S=1 bash scripts/setup-test-env.sh).
 * Also: where the idle memory is, after the updates (bench/agent-heap-stats.mjs, preloaded:
 * process.memoryUsage() and V8's heap spaces on SIGUSR2; read last, since it loads node:v8), and
 * raw compose's up → healthy (engine API polled every 10 ms).
 * Usage: npm run bench:agent-footprint -- [--runs 15] [--settle 5] [--observe-interval 5] [--cpu-prof DIR] [--node-args='--max-semi-space-size=1'] [--bundle FILE]
 * Starts (and removes) an embedded PostgreSQL, a hub, the agent and the raw project; progress on
 * stderr, one JSON object as the last stdout line.
 */
import { parseArgs } from 'node:util';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { execa } from 'execa';
import { startEmbeddedPostgres } from '../server/db/embedded.js';
import { spawnHub } from '../tests/testkit/hub.js';
import { spawnAgent } from '../tests/testkit/agent-process.js';
import { busyboxCompose, waitHealthy } from './docker-fixture.js';
import { createAccess, createDeployment, createDockerVersion, deleteDeployment, seedDockerSetup, updateDeployment } from '../tests/testkit/flow.js';
import { buildAgentBundle } from '../scripts/build-agent.js';
import { cpuSeconds, rssKib } from './propagation/hub.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    settle: { type: 'string', default: '5' },
    'observe-interval': { type: 'string', default: '5' },
    'cpu-prof': { type: 'string' },
    'node-args': { type: 'string' },
    /** An agent bundle built elsewhere (e.g. from another commit, for an A/B on the same machine and load). */
    bundle: { type: 'string' },
  },
});
const runs = Math.max(5, Number(values.runs));
const log = (msg: string) => process.stderr.write(`[bench:agent-footprint] ${msg}\n`);
const loadStart = os.loadavg()[0]!;


const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-footprint-'));
const rawProject = `distr-bench-raw-${process.pid}`;
const rawFile = path.join(dir, 'raw', 'compose.yaml');
await mkdir(path.dirname(rawFile), { recursive: true });
const bundle = values.bundle ? path.resolve(values.bundle) : (await buildAgentBundle('docker', path.join(dir, 'docker-agent.mjs'))).outfile;
log(`agent bundle ${bundle}`);
const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), persistent: false });
await pg.createDatabase('bench');
const hub = await spawnHub(pg.urlFor('bench'));
const key = hub.bootstrapKey!;
const { app, target } = await seedDockerSetup(hub.url, key, 'bench');
const access = await createAccess(hub.url, key, target.id);
const agent = spawnAgent(
  {
    DISTR_HUB_URL: hub.url,
    DISTR_TARGET_ID: target.id,
    DISTR_TARGET_SECRET: access.secret,
    DISTR_AGENT_DRIVER: 'docker',
    DISTR_AGENT_STATE_DIR: path.join(dir, 'agent'),
    DISTR_OBSERVE_INTERVAL_SECONDS: String(values['observe-interval']),
    LOG_LEVEL: process.env.BENCH_AGENT_LOG_LEVEL ?? 'warn',
  },
  {
    bundle,
    nodeArgs: [
      '--import', fileURLToPath(new URL('./agent-heap-stats.mjs', import.meta.url)),
      ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values['cpu-prof'])}`] : []),
      ...(values['node-args'] ? values['node-args'].split(' ').filter(Boolean) : []),
    ],
  },
);
const pid = agent.process.pid!;

const waitFor = (deploymentId: string, revisionId: string, timeoutMs?: number) => waitHealthy({ url: hub.url, key }, () => agent.output(), deploymentId, revisionId, timeoutMs);

const engine = new Docker({ socketPath: '/var/run/docker.sock' });
/** Raw compose: [up -d returned, container of run n healthy] in ms from the start. */
async function rawUp(n: number): Promise<[number, number]> {
  await writeFile(rawFile, busyboxCompose(n));
  const started = performance.now();
  await execa('docker', ['compose', '-p', rawProject, '-f', rawFile, 'up', '-d'], { stdin: 'ignore' });
  const up = performance.now() - started;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const healthy = await engine.listContainers({ filters: { label: [`com.docker.compose.project=${rawProject}`], health: ['healthy'] } });
    if (healthy.some((c) => c.Command.includes(`run ${n};`))) return [up, performance.now() - started];
    if (Date.now() > deadline) throw new Error(`raw project not healthy at run ${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The agent's memory breakdown (SIGUSR2 → one stderr line from bench/agent-heap-stats.mjs). */
async function heapStats(): Promise<Record<string, unknown>> {
  const marker = 'distr-heap-stats ';
  const before = agent.output().lastIndexOf(marker);
  process.kill(pid, 'SIGUSR2');
  await agent.untilOutput((out) => out.lastIndexOf(marker) > before && out.indexOf('\n', out.lastIndexOf(marker)) > 0, 'heap stats');
  const out = agent.output();
  const start = out.lastIndexOf(marker) + marker.length;
  return JSON.parse(out.slice(start, out.indexOf('\n', start))) as Record<string, unknown>;
}

const agentMs: number[] = [];
const rawMs: number[] = [];
const rawHealthyMs: number[] = [];
let memory: Record<string, unknown> = {};
let agentCpuMs = 0;
const rssSamples: number[] = [];
const rssAfterSamples: number[] = [];
let deploymentId: string | null = null;
try {
  const versions = [];
  for (let i = 0; i <= runs; i++) versions.push(await createDockerVersion(hub.url, key, app.id, `b${i}`, busyboxCompose(i)));
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: versions[0].id, docker: { composeType: 'compose' } });
  deploymentId = d.id;
  await waitFor(d.id, d.currentRevision.id, 60_000);
  await rawUp(0);
  log('warm-up deployment healthy, raw project up; settling');
  for (let s = 0; s < Number(values.settle); s++) {
    await new Promise((r) => setTimeout(r, 1000));
    rssSamples.push(await rssKib(pid));
  }
  log(`idle RSS samples (KiB): ${rssSamples.join(' ')}`);
  for (let i = 1; i <= runs; i++) {
    const cpuBefore = (await cpuSeconds(pid)) * 1000;
    const started = performance.now();
    const updated = await updateDeployment(hub.url, key, d.id, { versionId: versions[i].id });
    await waitFor(d.id, updated.currentRevision.id);
    const ms = performance.now() - started;
    agentCpuMs += ((await cpuSeconds(pid)) * 1000) - cpuBefore;
    agentMs.push(ms);
    const [raw, rawHealthy] = await rawUp(i);
    rawMs.push(raw);
    rawHealthyMs.push(rawHealthy);
    log(`run ${i}: agent ${ms.toFixed(0)} ms, raw compose up -d ${raw.toFixed(0)} ms (healthy at ${rawHealthy.toFixed(0)} ms)`);
  }
  // Idle again after the updates (the code that ran hot is compiled by then, if V8 compiles it).
  for (let s = 0; s < Number(values.settle); s++) {
    await new Promise((r) => setTimeout(r, 1000));
    rssAfterSamples.push(await rssKib(pid));
  }
  log(`idle RSS after the updates (KiB): ${rssAfterSamples.join(' ')}`);
  // Last: the stats preload loads node:v8 on this signal, which the RSS samples above must not include.
  memory = await heapStats();
} finally {
  if (deploymentId) await deleteDeployment(hub.url, key, deploymentId, true).catch(() => {});
  await execa('docker', ['compose', '-p', rawProject, '-f', rawFile, 'down', '--timeout', '1'], { reject: false });
  await new Promise((r) => setTimeout(r, 2000)); // let the agent take its project down
  await agent.stop();
  await hub.stop();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}

const pct = (list: number[], p: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const round = (n: number, digits = 0) => Number(n.toFixed(digits));
const rssMib = rssSamples[rssSamples.length - 1]! / 1024;
const cpuPerUpdate = agentCpuMs / agentMs.length;
const diffP50 = pct(agentMs, 50) - pct(rawMs, 50);
// With BENCH_AGENT_LOG_LEVEL=debug the agent logs each compose call's duration: compose's share of the path.
const composeUpMs = [...agent.output().matchAll(/"ms":(\d+)[^\n]*"msg":"docker compose up done"/g)].map((m) => Number(m[1])).slice(1);
console.log(
  JSON.stringify({
    runs: agentMs.length,
    ...(composeUpMs.length ? { agent_compose_up_p50_ms: round(pct(composeUpMs, 50)), agent_compose_up_runs: composeUpMs.length } : {}),
    agent: (values.bundle ? `bundle ${values.bundle}` : 'compiled bundle (scripts/build-agent.ts docker)') + ', node ' + process.version,
    agent_idle_rss_mib: round(rssMib, 1),
    agent_idle_rss_max_mib: round(Math.max(...rssSamples) / 1024, 1),
    agent_idle_rss_after_updates_mib: round(rssAfterSamples[rssAfterSamples.length - 1]! / 1024, 1),
    agent_cpu_ms_per_update: round(cpuPerUpdate, 1),
    update_healthy_p50_ms: round(pct(agentMs, 50)),
    update_healthy_p95_ms: round(pct(agentMs, 95)),
    raw_compose_up_p50_ms: round(pct(rawMs, 50)),
    raw_compose_up_p95_ms: round(pct(rawMs, 95)),
    raw_compose_up_healthy_p50_ms: round(pct(rawHealthyMs, 50)),
    diff_p50_ms: round(diffP50),
    diff_vs_raw_healthy_p50_ms: round(pct(agentMs, 50) - pct(rawHealthyMs, 50)),
    ratio_p50: round(pct(agentMs, 50) / pct(rawMs, 50), 2),
    targets: { rss_le_60_mib: rssMib <= 60, cpu_le_30_ms: cpuPerUpdate <= 30, within_300_ms_of_raw: diffP50 <= 300 },
    agent_memory_mib: memory,
    node_args: values['node-args'] ?? '',
    observe_interval_s: Number(values['observe-interval']),
    healthcheck_interval_ms: 100,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model.trim(),
    loadavg_1m_start: round(loadStart, 2),
    loadavg_1m_end: round(os.loadavg()[0]!, 2),
    date: new Date().toISOString(),
  }),
);
