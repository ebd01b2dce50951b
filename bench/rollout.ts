/**
 * Staged-rollout benchmark: `npx tsx bench/rollout.ts --agents N` (default 1000).
 *
 * An embedded PostgreSQL and the hub as its own process; N docker targets with one deployment
 * each (bulk SQL, as in bench/propagation); N simulated agents over real websockets (the real
 * desired-state subscription); a rollout of v2 in 4 waves (canary 1 %, then 30 %, 30 %, the rest)
 * with 0 s soak. Each agent reports `healthy` over its socket the moment it receives v2. Measured:
 *  - wave handover: the last healthy report of wave k-1 sent → each agent of wave k has its new
 *    state (p50 / p99 / max over the agents of waves 1..3);
 *  - the hub's CPU time from creating the rollout to its completion (controller steps, the
 *    revisions' fan-out and the status ingestion of all N reports), and the whole rollout's wall
 *    time; the controller's own share from the hub's /metrics: its steps, their summed wall time
 *    and the process CPU while they ran (an upper bound: other work interleaves at their awaits).
 * Progress goes to stderr; the last line of stdout is one JSON object with the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { CONNECT_CONCURRENCY, N } from './propagation/args.js';
import { loginAgents, SimAgent } from './propagation/agents.js';
import { cpuSeconds, ensureFdLimit, spawnHub, stopHub, type Hub } from './propagation/hub.js';
import { gqlOk } from './propagation/http.js';
import { createApplication, seedTargets } from './propagation/seed.js';
import { percentile, round } from './propagation/stats.js';
import { log, pool, runBench, sleep } from './propagation/util.js';

ensureFdLimit(N + 2048);

/** The controller's counters from the hub's /metrics: steps, their wall time, the process CPU while they ran. */
async function controllerMetrics(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { steps: value('distr_rollout_steps_total'), stepSeconds: value('distr_rollout_step_seconds_sum'), stepCpuSeconds: value('distr_rollout_step_cpu_seconds_total') };
}

const STATUS = `mutation($r: [AgentStatusReportInput!]!) { agentReportStatus(reports: $r) { __typename } }`;

async function main(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-rollout-'));
  let db: EmbeddedDatabase | null = null;
  let hub: Hub | null = null;
  const agents: SimAgent[] = [];
  try {
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase('bench');
    const databaseUrl = db.urlFor('bench');
    hub = await spawnHub(databaseUrl);
    const h = hub;
    const { appId, v1Id, v2Id } = await createApplication(h);
    const { seeded, secret } = await seedTargets(databaseUrl, appId, v1Id, N);
    const { tokens } = await loginAgents(h, seeded, secret);
    agents.push(...seeded.map((s, i) => new SimAgent(s, tokens[i]!)));
    await pool(agents, CONNECT_CONCURRENCY, (a) => a.connect(h.port));
    log(`${N} agents connected`);

    const arrivedAt = new Map<string, number>();
    const reportedAt = new Map<string, number>();
    const ackedAt = new Map<string, number>();
    let allArrived!: () => void;
    const arrived = new Promise<void>((r) => (allArrived = r));
    for (const a of agents) {
      a.ws!.on('message', (data: Buffer) => {
        const at = performance.now();
        const msg = JSON.parse(data.toString('utf8'));
        const d = msg.type === 'next' && msg.id === '1' ? msg.payload?.data?.agentDesiredState?.deployments?.[0] : null;
        if (!d || d.versionName !== 'v2' || arrivedAt.has(a.seed.deploymentId)) return;
        arrivedAt.set(a.seed.deploymentId, at);
        reportedAt.set(a.seed.deploymentId, performance.now());
        void a.request(STATUS, { r: [{ deploymentId: a.seed.deploymentId, revisionId: d.revisionId, phase: 'healthy', message: 'ok' }] }).then(() => ackedAt.set(a.seed.deploymentId, performance.now()));
        if (arrivedAt.size === N) allArrived();
      });
    }

    const canary = Math.max(1, Math.round(N / 100));
    const m0 = await controllerMetrics(h.port);
    const cpu0 = await cpuSeconds(h.pid);
    const t0 = performance.now();
    const created = (
      await gqlOk(h.port, h.apiKey, `mutation($i: CreateRolloutInput!) { createRollout(input: $i) { __typename ... on Rollout { id members { deploymentId wave } } ... on Error { message } } }`, {
        i: { applicationId: appId, versionId: v2Id, all: true, start: true, strategy: { canary, waves: [{ percent: 30 }, { percent: 30 }], soakSeconds: 0 } },
      })
    ).createRollout;
    if (created.__typename !== 'Rollout') throw new Error(`createRollout: ${JSON.stringify(created)}`);
    await arrived;
    let state = '';
    while (state !== 'completed') {
      state = (await gqlOk(h.port, h.apiKey, `query($id: ID!) { rollout(id: $id) { state } }`, { id: created.id })).rollout.state;
      if (state === 'halted' || state === 'aborted') throw new Error(`rollout ${state}`);
      if (state !== 'completed') await sleep(20);
    }
    const wallMs = performance.now() - t0;
    const cpu = (await cpuSeconds(h.pid)) - cpu0;
    const m1 = await controllerMetrics(h.port);

    const waves = new Map<number, string[]>();
    for (const m of created.members as { deploymentId: string; wave: number }[]) waves.set(m.wave, [...(waves.get(m.wave) ?? []), m.deploymentId]);
    const handover: number[] = [];
    const perWave: Record<string, unknown>[] = [];
    for (let k = 1; k < waves.size; k++) {
      const lastReport = Math.max(...waves.get(k - 1)!.map((id) => reportedAt.get(id)!));
      // When the hub had stored (and answered) every report of the previous wave: the gate can open only then.
      const lastAck = Math.max(...waves.get(k - 1)!.map((id) => ackedAt.get(id) ?? NaN));
      const latencies = waves.get(k)!.map((id) => arrivedAt.get(id)! - lastReport).sort((x, y) => x - y);
      handover.push(...latencies);
      perWave.push({ wave: k, size: latencies.length, reports_stored_ms: round(lastAck - lastReport), first_ms: round(latencies[0]!), p99_ms: round(percentile(latencies, 99)), last_ms: round(latencies.at(-1)!) });
    }
    handover.sort((x, y) => x - y);
    return {
      agents: N,
      waves: [...waves.values()].map((w) => w.length),
      handover_p50_ms: round(percentile(handover, 50)),
      handover_p99_ms: round(percentile(handover, 99)),
      handover_max_ms: round(handover.at(-1)!),
      per_wave: perWave,
      rollout_wall_ms: Math.round(wallMs),
      hub_cpu_ms_during_rollout: Math.round(cpu * 1000),
      controller_steps: m1.steps - m0.steps,
      controller_step_wall_ms: Math.round((m1.stepSeconds - m0.stepSeconds) * 1000),
      controller_step_cpu_ms_upper_bound: Math.round((m1.stepCpuSeconds - m0.stepCpuSeconds) * 1000),
      load_avg_1m: round(os.loadavg()[0]!),
      date: new Date().toISOString(),
      cpus: os.cpus().length,
    };
  } finally {
    for (const a of agents) a.close();
    if (hub) await stopHub(hub).catch(() => {});
    await db?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

runBench(main);
