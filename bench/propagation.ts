/**
 * Propagation benchmark of the agent protocol: `npm run bench:propagation -- --agents N`.
 *
 * Starts an embedded PostgreSQL (temporary, deleted afterwards) and the hub as its own process
 * (`node --import tsx server/main.ts`), seeds N docker targets with one deployment each (all of
 * one application) by bulk SQL, logs every agent in over HTTP (`agentLogin`), connects N agents over
 * real websockets speaking graphql-transport-ws (raw `ws`, one socket each, the real desired-state
 * subscription) and measures:
 *  - update latency: `updateDeployment` over HTTP on random targets; committed (HTTP response
 *    arrived) → the owning agent's socket received the new revision, and sent → received;
 *  - fan-out: one `rolloutApplicationVersion` over up to 1 000 targets → the last agent has it;
 *  - hub memory per idle connection: VmRSS from /proc and heapUsed (after a GC, logged by the
 *    hub on SIGUSR2) before and after connecting the agents;
 *  - status ingestion: `agentReportStatus` over HTTP from many agents at once for a few seconds;
 *  - restart (unless `--skip-restart`): the hub SIGKILLed and started again on the same port, all
 *    agents back on their jittered backoff, until every one holds its latest state.
 * Progress goes to stderr; the last line of stdout is one JSON object with the figures.
 *
 * The parts live in bench/propagation/: args (options), hub (hub process, /proc figures, fd
 * limit), http (GraphQL over HTTP), seed (database seeding), agents (simulated agents), measure
 * (the measured phases), stats and util.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { FANOUT, N, SEED, SKIP_RESTART, STATUS_CONCURRENCY, STATUS_SECONDS, UPDATES } from './propagation/args.js';
import { loginAgents, SimAgent } from './propagation/agents.js';
import { ensureFdLimit, spawnHub, stopHub, type Hub } from './propagation/hub.js';
import { measureConnect, measureFanout, measureStatus, measureUpdates } from './propagation/measure.js';
import { measureRestart } from './propagation/restart.js';
import { createApplication, seedTargets } from './propagation/seed.js';
import { percentile, round, seededRandom } from './propagation/stats.js';
import { log, machineFigures, runBench } from './propagation/util.js';

// File descriptors: N client sockets here, N server sockets in the hub.
ensureFdLimit(N + 2048);

let loadAtStart = 0;

async function main(): Promise<Record<string, unknown>> {
  let dir: string | null = null;
  let db: EmbeddedDatabase | null = null;
  let hub: Hub | null = null;
  let agents: SimAgent[] = [];
  const cleanup = async () => {
    for (const a of agents) a.close();
    agents = [];
    if (hub) await stopHub(hub).catch(() => {});
    hub = null;
    await db?.stop().catch(() => {});
    db = null;
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
    dir = null;
  };
  const onSignal = () => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    loadAtStart = os.loadavg()[0]!;
    log(`agents=${N} updates=${UPDATES} fanout=${FANOUT} status=${STATUS_SECONDS}s×${STATUS_CONCURRENCY}`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-'));
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase('bench');
    const databaseUrl = db.urlFor('bench');
    log(`postgres on port ${db.port}`);
    hub = await spawnHub(databaseUrl);
    const h = hub;
    log(`hub pid ${h.pid} on port ${h.port}`);

    const { appId, v1Id, v2Id } = await createApplication(h);
    const { seeded, secret } = await seedTargets(databaseUrl, appId, v1Id, N);
    const { tokens, loginMs } = await loginAgents(h, seeded, secret);
    agents = seeded.map((s, i) => new SimAgent(s, tokens[i]!));

    const connect = await measureConnect(h, agents);
    // One random sequence across phases: the updates pick targets, then status reporting its start.
    const random = seededRandom(SEED);
    const updates = await measureUpdates(h, agents, random);
    const fanout = await measureFanout(h, agents, appId, v2Id);
    // Reports over the agents' open sockets (what agent/core does), then as one HTTP call each.
    const status = await measureStatus(h, agents, random, 'ws');
    const statusHttp = await measureStatus(h, agents, random, 'http');
    const dropped = agents.filter((a) => a.closed).length;
    if (dropped > 0) log(`warning: ${dropped} agent sockets were closed by the hub during the run`);
    // Last: the hub is killed and replaced; `hub` is the new one from here on (for the clean-up).
    let restart: Record<string, unknown> = {};
    if (!SKIP_RESTART) {
      const restarted = await measureRestart(h, databaseUrl, agents, random);
      hub = restarted.hub;
      restart = restarted.figures;
    }

    const { afterCommit, afterSend } = updates;
    const { memAfter, idleConns, connectMs, connectCpu, heapPerConn } = connect;
    return {
      agents: N,
      updates: UPDATES,
      p50_ms: round(percentile(afterCommit, 50)),
      p99_ms: round(percentile(afterCommit, 99)),
      max_ms: round(afterCommit.at(-1)!),
      sent_p50_ms: round(percentile(afterSend, 50)),
      sent_p99_ms: round(percentile(afterSend, 99)),
      arrived_before_response: updates.beforeResponse,
      update_hub_cpu_ms_per_update: round((updates.updatesCpu * 1000) / UPDATES),
      fanout_targets: FANOUT,
      fanout_ms: Math.round(fanout.fanoutMs),
      fanout_after_commit_ms: Math.round(fanout.fanoutAfterCommitMs),
      fanout_mutation_ms: Math.round(fanout.fanoutMutationMs),
      fanout_hub_cpu_ms: Math.round(fanout.fanoutCpu * 1000),
      heap_per_conn_kib: heapPerConn === null ? null : round(heapPerConn),
      rss_per_conn_kib: round(connect.rssPerConn),
      hub_rss_mib: round(memAfter.rssKib / 1024, 1),
      hub_heap_mib: memAfter.heapUsed === null ? null : round(memAfter.heapUsed / 1024 / 1024, 1),
      connect_ms: Math.round(connectMs),
      connects_per_s: Math.round(idleConns / (connectMs / 1000)),
      logins_per_s: Math.round(N / (loginMs / 1000)),
      status_reports_per_s: Math.round(status.statusPerS),
      status_transport: 'ws',
      status_reports_per_s_http: Math.round(statusHttp.statusPerS),
      status_hub_cpu_ms_per_report_http: statusHttp.accepted > 0 ? round((statusHttp.statusCpu * 1000) / statusHttp.accepted) : null,
      status_transitions: status.changed,
      status_failed: status.failed,
      status_concurrency: STATUS_CONCURRENCY,
      status_request_p99_ms: round(percentile(status.latencies, 99)),
      status_hub_cpu_share: round(status.statusCpu / status.statusSeconds),
      status_bench_cpu_share: round((status.benchStatusCpu.user + status.benchStatusCpu.system) / 1e6 / status.statusSeconds),
      status_hub_cpu_ms_per_report: status.accepted > 0 ? round((status.statusCpu * 1000) / status.accepted) : null,
      connect_hub_cpu_ms_per_conn: round((connectCpu * 1000) / idleConns),
      dropped_sockets: dropped,
      ...restart,
      ...(await machineFigures(loadAtStart)),
    };
  } finally {
    log('cleaning up');
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

runBench(main);
