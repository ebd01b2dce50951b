/**
 * Status ingestion benchmark: `npm run bench:ingest -- --agents N --deployments-per-agent K`.
 *
 * An embedded PostgreSQL (temporary, deleted afterwards) and the hub as its own process; N docker
 * targets with K deployments each (bulk SQL); N simulated agents over real websockets (the real
 * desired-state subscription, bench/propagation/agents.ts). Then, over the agents' open sockets
 * with the agent's own `agentReportStatus` document (agent/core/hub-client.ts):
 *  - `single`: STATUS_CONCURRENCY callers, one report per call (the old per-call figure);
 *  - `burst`: rounds in which every agent sends, all at once, ONE call with the reports of all its
 *    K deployments (what agent/core sends when several deployments change together: a rollout
 *    burst). The phase flips every round, so every report is a transition (status upsert, history
 *    row, dashboard NOTIFY): the worst case;
 *  - `burst_repeat`: the same rounds with unchanged reports (upserts only, no history).
 * Each phase runs `--ingest-seconds`. Figures: accepted reports per second, hub CPU ms per report
 * (/proc/<pid>/stat), and per-call latency. Progress goes to stderr; the last stdout line is JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { REPORT_STATUS_MUTATION } from '../agent/core/hub-client.js';
import { CONNECT_CONCURRENCY, DEPLOYMENTS_PER_AGENT as K, INGEST_SECONDS, N, STATUS_CONCURRENCY } from './propagation/args.js';
import { loginAgents, SimAgent } from './propagation/agents.js';
import { cpuSeconds, ensureFdLimit, spawnHub, stopHub, type Hub } from './propagation/hub.js';
import { createApplication, seedTargets } from './propagation/seed.js';
import { percentile, round } from './propagation/stats.js';
import { log, machineFigures, pool, runBench } from './propagation/util.js';

ensureFdLimit(N + 2048);

interface Target {
  targetId: string;
  deploymentId: string;
  revisionId: string;
  deployments: { deploymentId: string; revisionId: string }[];
}

/** N targets with K deployments each (bench/propagation/seed.ts), grouped by target; one shared agent secret. */
async function seed(databaseUrl: string, appId: string, v1Id: string): Promise<{ targets: Target[]; secret: string }> {
  const { seeded, secret } = await seedTargets(databaseUrl, appId, v1Id, N, K);
  const byTarget = new Map<string, Target>();
  for (const r of seeded) {
    let t = byTarget.get(r.targetId);
    if (!t) byTarget.set(r.targetId, (t = { targetId: r.targetId, deploymentId: r.deploymentId, revisionId: r.revisionId, deployments: [] }));
    t.deployments.push({ deploymentId: r.deploymentId, revisionId: r.revisionId });
  }
  return { targets: [...byTarget.values()], secret };
}

interface PhaseResult {
  reports_per_s: number;
  hub_cpu_ms_per_report: number | null;
  hub_cpu_share: number;
  calls: number;
  accepted: number;
  changed: number;
  failed: number;
  call_p50_ms: number;
  call_p99_ms: number;
  round_p50_ms?: number;
  round_p99_ms?: number;
}

const PHASES = ['progressing', 'healthy'] as const;

async function phase(h: Hub, name: string, body: (call: (agent: SimAgent, reports: unknown[]) => Promise<void>) => Promise<number[] | void>): Promise<PhaseResult> {
  let accepted = 0;
  let changed = 0;
  let failed = 0;
  let calls = 0;
  const latencies: number[] = [];
  const call = async (agent: SimAgent, reports: unknown[]) => {
    const t = performance.now();
    try {
      const r = (await agent.request(REPORT_STATUS_MUTATION, { reports }))?.data?.agentReportStatus;
      if (r?.__typename === 'AgentStatusReportResult') {
        accepted += r.accepted;
        changed += r.changed;
        if (r.accepted !== reports.length) failed += reports.length - r.accepted;
      } else failed += reports.length;
    } catch {
      failed += reports.length;
    }
    calls++;
    latencies.push(performance.now() - t);
  };
  const cpu0 = await cpuSeconds(h.pid);
  const t0 = performance.now();
  const rounds = (await body(call)) ?? [];
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(h.pid)) - cpu0;
  latencies.sort((a, b) => a - b);
  rounds.sort((a, b) => a - b);
  const result: PhaseResult = {
    reports_per_s: Math.round(accepted / seconds),
    hub_cpu_ms_per_report: accepted > 0 ? round((cpu * 1000) / accepted, 3) : null,
    hub_cpu_share: round(cpu / seconds),
    calls,
    accepted,
    changed,
    failed,
    call_p50_ms: round(percentile(latencies, 50)),
    call_p99_ms: round(percentile(latencies, 99)),
    ...(rounds.length ? { round_p50_ms: round(percentile(rounds, 50)), round_p99_ms: round(percentile(rounds, 99)) } : {}),
  };
  log(`${name}: ${JSON.stringify(result)}`);
  return result;
}

async function main(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-ingest-'));
  let db: EmbeddedDatabase | null = null;
  let hub: Hub | null = null;
  const agents: SimAgent[] = [];
  const loadAtStart = os.loadavg()[0]!;
  try {
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase('bench');
    const databaseUrl = db.urlFor('bench');
    hub = await spawnHub(databaseUrl);
    const h = hub;
    const { appId, v1Id } = await createApplication(h);
    const { targets, secret } = await seed(databaseUrl, appId, v1Id);
    log(`seeded ${targets.length} targets × ${K} deployments`);
    const { tokens } = await loginAgents(h, targets, secret);
    agents.push(...targets.map((t, i) => new SimAgent(t, tokens[i]!)));
    await pool(agents, CONNECT_CONCURRENCY, (a) => a.connect(h.port));
    log(`${N} agents connected`);
    const deploymentsOf = (a: SimAgent) => (a.seed as Target).deployments;
    const until = () => performance.now() + INGEST_SECONDS * 1000;

    // One report per call, STATUS_CONCURRENCY callers cycling through every deployment.
    const single = await phase(h, 'single', async (call) => {
      const end = until();
      const items = agents.flatMap((a) => deploymentsOf(a).map((d) => ({ a, d })));
      let cursor = 0;
      let flip = 0;
      await Promise.all(
        Array.from({ length: STATUS_CONCURRENCY }, async () => {
          while (performance.now() < end) {
            const { a, d } = items[cursor++ % items.length]!;
            if (cursor % items.length === 0) flip++;
            await call(a, [{ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: PHASES[flip % 2], message: 'bench', resources: [] }]);
          }
        }),
      );
    });

    // Rounds: every agent sends one call with all its deployments' reports, all agents at once.
    const burst = (changing: boolean) => async (call: (agent: SimAgent, reports: unknown[]) => Promise<void>) => {
      const end = until();
      const rounds: number[] = [];
      for (let r = 0; performance.now() < end; r++) {
        const p = changing ? PHASES[r % 2] : 'healthy';
        const t = performance.now();
        await Promise.all(
          agents.map((a) => call(a, deploymentsOf(a).map((d) => ({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: p, message: 'bench', resources: [] })))),
        );
        rounds.push(performance.now() - t);
      }
      return rounds;
    };
    const burstChanging = await phase(h, 'burst', burst(true));
    const burstRepeat = await phase(h, 'burst_repeat', burst(false));

    return {
      agents: N,
      deployments_per_agent: K,
      reports_per_burst_call: K,
      seconds_per_phase: INGEST_SECONDS,
      single,
      burst: burstChanging,
      burst_repeat: burstRepeat,
      ...(await machineFigures(loadAtStart)),
    };
  } finally {
    for (const a of agents) a.close();
    if (hub) await stopHub(hub).catch(() => {});
    await db?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

runBench(main);
