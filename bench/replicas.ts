/**
 * Four hubs on one PostgreSQL: `npm run bench:replicas -- [--agents 1000] [--updates 300]`.
 *
 * Starts an embedded PostgreSQL (temporary, deleted afterwards) and HUBS (default 4) hub processes
 * on it (tests/testkit's spawnHub: `node --import tsx server/main.ts`, the hub's default 15 s
 * keepalive and heartbeat), seeds N docker targets with one deployment each by bulk SQL, logs
 * every agent in over HTTP and connects N simulated agents (bench/propagation's SimAgent: one raw
 * websocket each, the real desired-state subscription) round-robin over the hubs: agent i on hub
 * i mod HUBS. Then, each phase framed by the CPU time of every hub process and of every
 * PostgreSQL process (/proc) and by the database's counters (pg_stat_database, WAL position):
 *  - idle: nothing but keepalives and connection heartbeats for IDLE_SECONDS;
 *  - updates: M `updateDeployment` mutations, all sent to hub 0 over HTTP, update k on an agent of
 *    hub k mod HUBS; committed (HTTP response) → the agent's socket received the new revision,
 *    split into agents on hub 0 (same hub) and on the others (cross-replica: NOTIFY → their
 *    LISTEN connection → their fan-out);
 *  - receive only: M / HUBS changes for agents of hub 1 alone (hubs 2… only hear of them);
 *  - fan-out: one rollout over up to 1 000 targets (spread over all hubs) via hub 0;
 *  - status: reports over each agent's open socket, so each hub ingests its own agents' reports.
 * Progress goes to stderr; the last line of stdout is one JSON object with the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { spawnHub as spawnHubProcess, type HubProcess } from '../tests/testkit/hub.js';
import { CONNECT_CONCURRENCY, FANOUT, HUBS, IDLE_SECONDS, N, SEED, UPDATE_GAP_MS, UPDATES } from './propagation/args.js';
import { arrivals, loginAgents, revisionWaiters, SimAgent } from './propagation/agents.js';
import { cpuSeconds, ensureFdLimit, type Hub } from './propagation/hub.js';
import { gqlOk } from './propagation/http.js';
import { measureFanout, measureStatus, UPDATE_DEPLOYMENT } from './propagation/measure.js';
import { createApplication, seedTargets } from './propagation/seed.js';
import { percentile, round, seededRandom } from './propagation/stats.js';
import { log, machineFigures, pool, runBench, sleep, withTimeout } from './propagation/util.js';
import { counterDelta, dbCounters, postgresCpuSeconds, postmasterPid, type DbCounters } from './replicas/db.js';

ensureFdLimit(N + 2048);

const DATABASE = 'bench';
/** Updates before the measured ones (not counted): the mutation path of hub 0 warmed up. */
const WARMUP_UPDATES = 20;
/** The hub's defaults (testkit's spawnHub shortens the keepalive to 2 s for tests). */
const HUB_ENV = { LOG_LEVEL: 'info', DISTR_KEEPALIVE_SECONDS: '15' };

interface Snapshot {
  at: number;
  dbCpu: number;
  hubCpu: number[];
  counters: DbCounters;
}
interface Phase {
  seconds: number;
  /** The counters' window: the phase plus the 2 s pause before they are read. */
  counterSeconds: number;
  dbCpu: number;
  hubCpu: number[];
  counters: DbCounters;
}

let loadAtStart = 0;

async function main(): Promise<Record<string, unknown>> {
  let dir: string | null = null;
  let db: EmbeddedDatabase | null = null;
  let sql: pg.Client | null = null;
  const processes: HubProcess[] = [];
  let agents: SimAgent[] = [];
  const cleanup = async () => {
    for (const a of agents) a.close();
    agents = [];
    await sql?.end().catch(() => {});
    sql = null;
    await Promise.all(processes.splice(0).map((p) => p.stop().catch(() => {})));
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
    log(`agents=${N} hubs=${HUBS} updates=${UPDATES} idle=${IDLE_SECONDS}s`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-replicas-'));
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase(DATABASE);
    const databaseUrl = db.urlFor(DATABASE);
    const postmaster = await postmasterPid(db.clusterDir);
    log(`postgres pid ${postmaster} on port ${db.port}`);

    // The first hub migrates the empty database and prints the admin key; the others join it.
    processes.push(await spawnHubProcess(databaseUrl, { env: HUB_ENV }));
    const apiKey = processes[0]!.bootstrapKey;
    if (!apiKey) throw new Error('the first hub printed no admin API key');
    processes.push(...(await Promise.all(Array.from({ length: HUBS - 1 }, () => spawnHubProcess(databaseUrl, { env: HUB_ENV })))));
    const hubs: Hub[] = processes.map((p) => ({ pid: p.process.pid!, port: p.port, apiKey, child: p.process, output: p.output }));
    log(`hubs: ${hubs.map((h) => `pid ${h.pid} port ${h.port}`).join(', ')}`);
    const h0 = hubs[0]!;

    const { appId, v1Id, v2Id } = await createApplication(h0);
    const { seeded, secret } = await seedTargets(databaseUrl, appId, v1Id, N);
    const { tokens } = await loginAgents(h0, seeded, secret);
    agents = seeded.map((s, i) => new SimAgent(s, tokens[i]!));
    const hubOf = (i: number) => i % HUBS;

    const tc = performance.now();
    await pool(agents, CONNECT_CONCURRENCY, (a, i) => withTimeout(a.connect(hubs[hubOf(i)]!.port), 120_000, `agent ${a.seed.targetId} initial state`));
    const connectMs = performance.now() - tc;
    log(`${N} agents connected over ${HUBS} hubs in ${Math.round(connectMs)} ms`);

    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    const client = sql;
    const snapshot = async (): Promise<Snapshot> => ({
      at: performance.now(),
      dbCpu: await postgresCpuSeconds(postmaster),
      hubCpu: await Promise.all(hubs.map((h) => cpuSeconds(h.pid))),
      counters: await dbCounters(client, DATABASE),
    });
    /** CPU between the two instants; counters read after a 2 s pause (backends flush stats about once a second). */
    const measure = async <T>(work: () => Promise<T>): Promise<[T, Phase]> => {
      await sleep(2000);
      const a = await snapshot();
      const result = await work();
      const at = performance.now();
      const dbCpu = await postgresCpuSeconds(postmaster);
      const hubCpu = await Promise.all(hubs.map((h) => cpuSeconds(h.pid)));
      await sleep(2000);
      const counters = await dbCounters(client, DATABASE);
      return [result, { seconds: (at - a.at) / 1000, counterSeconds: (performance.now() - a.at) / 1000, dbCpu: dbCpu - a.dbCpu, hubCpu: hubCpu.map((c, i) => c - a.hubCpu[i]!), counters: counterDelta(a.counters, counters) }];
    };

    // Idle: the cost of N connected agents doing nothing.
    log(`idle for ${IDLE_SECONDS} s…`);
    const [, idle] = await measure(() => sleep(IDLE_SECONDS * 1000));

    // Updates through hub 0, to agents on every hub in turn.
    const random = seededRandom(SEED);
    const same: number[] = [];
    const cross: number[] = [];
    const sentSame: number[] = [];
    const sentCross: number[] = [];
    let seq = 0;
    const update = async (k: number, record: boolean, onlyHub?: number) => {
      const hub = onlyHub ?? k % HUBS;
      const onHub = Math.ceil((N - hub) / HUBS); // agents hub, hub + HUBS, …
      const agent = agents[hub + HUBS * Math.floor(random() * onHub)]!;
      const sentAt = performance.now();
      const data = await gqlOk(h0.port, apiKey, UPDATE_DEPLOYMENT, { id: agent.seed.deploymentId, input: { envFile: `GREETING=update-${seq++}\n` } });
      const committedAt = performance.now();
      const revisionId: string | undefined = data.updateDeployment?.currentRevision?.id;
      if (!revisionId) throw new Error(`update failed: ${JSON.stringify(data)}`);
      const receivedAt =
        arrivals.get(revisionId) ??
        (await withTimeout(new Promise<number>((resolve) => revisionWaiters.set(revisionId, resolve)), 10_000, `revision ${revisionId} to reach its agent`).finally(() =>
          revisionWaiters.delete(revisionId),
        ));
      if (record) {
        (hub === 0 ? same : cross).push(Math.max(0, receivedAt - committedAt));
        (hub === 0 ? sentSame : sentCross).push(receivedAt - sentAt);
      }
      if (UPDATE_GAP_MS > 0) await sleep(UPDATE_GAP_MS);
    };
    for (let k = 0; k < WARMUP_UPDATES; k++) await update(k, false);
    log(`${UPDATES} updates via hub 0…`);
    const [, updates] = await measure(async () => {
      for (let k = 0; k < UPDATES; k++) await update(k, true);
    });
    for (const list of [same, cross, sentSame, sentCross]) list.sort((a, b) => a - b);
    log(`same hub p50 ${percentile(same, 50).toFixed(2)} ms p99 ${percentile(same, 99).toFixed(2)} ms; cross-replica p50 ${percentile(cross, 50).toFixed(2)} ms p99 ${percentile(cross, 99).toFixed(2)} ms`);

    // Receive only: changes for agents of hub 1 alone; hubs 2… hold none of them, so their CPU is
    // what every replica pays per change it merely hears of (NOTIFY → parse → no local subscriber).
    const receiveUpdates = Math.max(1, Math.round(UPDATES / HUBS));
    const [, receivePhase] = await measure(async () => {
      for (let k = 0; k < receiveUpdates; k++) await update(k, false, Math.min(1, HUBS - 1));
    });
    const [fanout, fanoutPhase] = await measure(() => measureFanout(h0, agents, appId, v2Id));
    const [status, statusPhase] = await measure(() => measureStatus(h0, agents, random, 'ws'));

    const dropped = agents.filter((a) => a.closed).length;
    if (dropped > 0) log(`warning: ${dropped} agent sockets were closed by a hub during the run`);
    const ms = (s: number, per: number) => round((s * 1000) / per);
    const net = (phase: Phase, dbOrHub: number | null) => {
      // CPU of a phase minus what the same process spends idle in as long (keepalives, heartbeats).
      const idleRate = dbOrHub === null ? idle.dbCpu / idle.seconds : idle.hubCpu[dbOrHub]! / idle.seconds;
      return (dbOrHub === null ? phase.dbCpu : phase.hubCpu[dbOrHub]!) - idleRate * phase.seconds;
    };
    /** A counter per change (or report) minus what the idle fleet writes in as long (heartbeats). */
    const perNet = (phase: Phase, key: keyof DbCounters, per: number, digits = 1) =>
      round((phase.counters[key] - (idle.counters[key] / idle.counterSeconds) * phase.counterSeconds) / per, digits);
    return {
      agents: N,
      hubs: HUBS,
      agents_per_hub: Math.ceil(N / HUBS),
      updates: UPDATES,
      same_hub_updates: same.length,
      cross_hub_updates: cross.length,
      same_p50_ms: round(percentile(same, 50)),
      same_p99_ms: round(percentile(same, 99)),
      cross_p50_ms: round(percentile(cross, 50)),
      cross_p99_ms: round(percentile(cross, 99)),
      cross_max_ms: round(cross.at(-1)!),
      sent_same_p50_ms: round(percentile(sentSame, 50)),
      sent_cross_p50_ms: round(percentile(sentCross, 50)),
      sent_cross_p99_ms: round(percentile(sentCross, 99)),
      db_cpu_ms_per_change: ms(updates.dbCpu, UPDATES),
      db_cpu_ms_per_change_net_of_idle: ms(net(updates, null), UPDATES),
      hub_cpu_ms_per_change: updates.hubCpu.map((c) => ms(c, UPDATES)),
      hub_cpu_ms_per_change_net_of_idle: hubs.map((_, i) => ms(net(updates, i), UPDATES)),
      db_xacts_per_change: round(updates.counters.xacts / UPDATES, 1),
      db_rows_written_per_change: round(updates.counters.rowsWritten / UPDATES, 1),
      db_rows_read_per_change: round(updates.counters.rowsRead / UPDATES, 1),
      db_wal_bytes_per_change: Math.round(updates.counters.walBytes / UPDATES),
      db_xacts_per_change_net_of_idle: perNet(updates, 'xacts', UPDATES),
      db_rows_written_per_change_net_of_idle: perNet(updates, 'rowsWritten', UPDATES),
      db_rows_read_per_change_net_of_idle: perNet(updates, 'rowsRead', UPDATES),
      db_wal_bytes_per_change_net_of_idle: perNet(updates, 'walBytes', UPDATES, 0),
      updates_seconds: round(updates.seconds, 1),
      receive_only_updates: receiveUpdates,
      receive_only_hub_cpu_ms_per_change_net_of_idle: HUBS > 2 ? hubs.slice(2).map((_, j) => ms(net(receivePhase, j + 2), receiveUpdates)) : null,
      idle_seconds: round(idle.seconds, 1),
      idle_db_cpu_ms_per_s: ms(idle.dbCpu, idle.seconds),
      idle_hub_cpu_ms_per_s: idle.hubCpu.map((c) => ms(c, idle.seconds)),
      idle_db_xacts_per_s: round(idle.counters.xacts / idle.counterSeconds, 1),
      idle_db_rows_written_per_s: round(idle.counters.rowsWritten / idle.counterSeconds, 1),
      idle_db_wal_bytes_per_s: Math.round(idle.counters.walBytes / idle.counterSeconds),
      fanout_targets: FANOUT,
      fanout_ms: Math.round(fanout.fanoutMs),
      fanout_after_commit_ms: Math.round(fanout.fanoutAfterCommitMs),
      fanout_db_cpu_ms: Math.round(fanoutPhase.dbCpu * 1000),
      fanout_hub_cpu_ms: fanoutPhase.hubCpu.map((c) => Math.round(c * 1000)),
      status_reports_per_s: Math.round(status.statusPerS),
      status_transitions: status.changed,
      status_failed: status.failed,
      status_db_cpu_ms_per_report: ms(statusPhase.dbCpu, status.accepted),
      status_db_cpu_ms_per_report_net_of_idle: ms(net(statusPhase, null), status.accepted),
      status_hubs_cpu_ms_per_report: ms(
        statusPhase.hubCpu.reduce((s, c) => s + c, 0),
        status.accepted,
      ),
      status_db_xacts_per_report: round(statusPhase.counters.xacts / status.accepted, 2),
      status_db_rows_written_per_report: round(statusPhase.counters.rowsWritten / status.accepted, 2),
      status_db_wal_bytes_per_report: Math.round(statusPhase.counters.walBytes / status.accepted),
      status_db_rows_written_per_report_net_of_idle: perNet(statusPhase, 'rowsWritten', status.accepted, 2),
      status_db_wal_bytes_per_report_net_of_idle: perNet(statusPhase, 'walBytes', status.accepted, 0),
      connect_ms: Math.round(connectMs),
      dropped_sockets: dropped,
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
