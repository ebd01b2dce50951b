/**
 * The measured phases of the propagation benchmark, in the order the orchestrator runs them:
 * connecting (with the hub's memory per idle connection), update latency, fan-out of one rollout,
 * and status ingestion.
 */
import { performance } from 'node:perf_hooks';
import { CONNECT_CONCURRENCY, FANOUT, N, STATUS_CONCURRENCY, STATUS_SECONDS, UPDATE_GAP_MS, UPDATES } from './args.js';
import { arrivals, revisionWaiters, setVersionWatch, type SimAgent, type VersionWatch } from './agents.js';
import { cpuSeconds, hubMemory, type Hub } from './hub.js';
import { gqlOk, post } from './http.js';
import { percentile } from './stats.js';
import { log, pool, sleep, withTimeout } from './util.js';

/** Connect: a few first, so the baseline memory is taken on a warmed-up hub, then the rest. */
export async function measureConnect(h: Hub, agents: SimAgent[]) {
  const warm = Math.min(50, Math.floor(N / 2));
  const connectAll = async (list: SimAgent[]) =>
    pool(list, CONNECT_CONCURRENCY, (a) => withTimeout(a.connect(h.port), 120_000, `agent ${a.seed.targetId} initial state`));
  await connectAll(agents.slice(0, warm));
  const memBefore = await hubMemory(h);
  log(`hub before: rss ${memBefore.rssKib} KiB, heapUsed ${memBefore.heapUsed ?? '?'} B with ${warm} agents`);
  const t2 = performance.now();
  const cpuBeforeConnect = await cpuSeconds(h.pid);
  await connectAll(agents.slice(warm));
  const connectMs = performance.now() - t2;
  const connectCpu = (await cpuSeconds(h.pid)) - cpuBeforeConnect;
  log(`${N - warm} more agents connected and got their initial state in ${Math.round(connectMs)} ms (hub cpu ${connectCpu.toFixed(1)} s)`);
  const memAfter = await hubMemory(h);
  const idleConns = N - warm;
  const rssPerConn = (memAfter.rssKib - memBefore.rssKib) / idleConns;
  const heapPerConn = memAfter.heapUsed !== null && memBefore.heapUsed !== null ? (memAfter.heapUsed - memBefore.heapUsed) / 1024 / idleConns : null;
  log(`hub after: rss ${memAfter.rssKib} KiB, heapUsed ${memAfter.heapUsed ?? '?'} B → ${rssPerConn.toFixed(1)} KiB rss, ${heapPerConn?.toFixed(1) ?? '?'} KiB heap per connection`);
  return { connectMs, connectCpu, memAfter, idleConns, rssPerConn, heapPerConn };
}

/** The benches' update: a new env file, i.e. a new revision; answers the revision id. */
export const UPDATE_DEPLOYMENT = `mutation($id: ID!, $input: UpdateDeploymentInput!) { updateDeployment(id: $id, input: $input) { ... on Deployment { currentRevision { id } } ... on Error { message } } }`;

/** Update latency: sequential updateDeployment mutations on random targets (sorted latencies in ms). */
export async function measureUpdates(h: Hub, agents: SimAgent[], random: () => number) {
  const afterCommit: number[] = [];
  const afterSend: number[] = [];
  let beforeResponse = 0;
  log(`${UPDATES} updates…`);
  const cpuBeforeUpdates = await cpuSeconds(h.pid);
  for (let i = 0; i < UPDATES; i++) {
    const agent = agents[Math.floor(random() * agents.length)]!;
    const sentAt = performance.now();
    const data = await gqlOk(h.port, h.apiKey, UPDATE_DEPLOYMENT, { id: agent.seed.deploymentId, input: { envFile: `GREETING=update-${i}\n` } });
    const committedAt = performance.now();
    const revisionId: string | undefined = data.updateDeployment?.currentRevision?.id;
    if (!revisionId) throw new Error(`update failed: ${JSON.stringify(data)}`);
    const receivedAt =
      arrivals.get(revisionId) ??
      (await withTimeout(
        new Promise<number>((resolve) => revisionWaiters.set(revisionId, resolve)),
        10_000,
        `revision ${revisionId} to reach its agent`,
      ).finally(() => revisionWaiters.delete(revisionId)));
    if (receivedAt < committedAt) beforeResponse++;
    afterCommit.push(Math.max(0, receivedAt - committedAt));
    afterSend.push(receivedAt - sentAt);
    if (UPDATE_GAP_MS > 0) await sleep(UPDATE_GAP_MS);
  }
  const updatesCpu = (await cpuSeconds(h.pid)) - cpuBeforeUpdates;
  afterCommit.sort((a, b) => a - b);
  afterSend.sort((a, b) => a - b);
  log(
    `committed→received p50 ${afterCommit.length && percentile(afterCommit, 50).toFixed(2)} ms, p99 ${percentile(afterCommit, 99).toFixed(2)} ms, max ${afterCommit.at(-1)!.toFixed(2)} ms; ` +
      `sent→received p50 ${percentile(afterSend, 50).toFixed(2)} ms, p99 ${percentile(afterSend, 99).toFixed(2)} ms; ${beforeResponse} arrived before the HTTP response`,
  );
  return { afterCommit, afterSend, beforeResponse, updatesCpu };
}

/** Fan-out: one rollout of version v2 over the first FANOUT targets, until the last agent has it. */
export async function measureFanout(h: Hub, agents: SimAgent[], appId: string, v2Id: string) {
  const fanoutTargets = agents.slice(0, FANOUT).map((a) => a.seed.targetId);
  let fanoutDone!: () => void;
  const allSeen = new Promise<void>((r) => (fanoutDone = r));
  const watch: VersionWatch = { name: 'v2', targets: new Set(fanoutTargets), seen: new Set(), last: 0, done: fanoutDone };
  setVersionWatch(watch);
  const rolloutQuery = `mutation($a: ID!, $v: ID!, $t: [ID!]) { rolloutApplicationVersion(applicationId: $a, versionId: $v, targetIds: $t) { ... on RolloutResult { count } ... on Error { message } } }`;
  const cpuBeforeFanout = await cpuSeconds(h.pid);
  const fanoutSent = performance.now();
  const rolled = await gqlOk(h.port, h.apiKey, rolloutQuery, { a: appId, v: v2Id, t: fanoutTargets });
  const fanoutCommitted = performance.now();
  if (rolled.rolloutApplicationVersion?.count !== FANOUT) throw new Error(`rollout: ${JSON.stringify(rolled)}`);
  await withTimeout(allSeen, 60_000, 'rollout to reach every agent');
  const fanoutCpu = (await cpuSeconds(h.pid)) - cpuBeforeFanout;
  const fanoutMs = watch.last - fanoutSent;
  const fanoutAfterCommitMs = watch.last - fanoutCommitted;
  setVersionWatch(null);
  log(`rollout over ${FANOUT} targets: mutation ${Math.round(fanoutCommitted - fanoutSent)} ms, last agent ${Math.round(fanoutMs)} ms after sending (${Math.round(fanoutAfterCommitMs)} ms after the response)`);
  return { fanoutMs, fanoutAfterCommitMs, fanoutMutationMs: fanoutCommitted - fanoutSent, fanoutCpu };
}

/**
 * Status ingestion: many agents report concurrently for STATUS_SECONDS; phases alternate so the
 * first report of each agent in a phase is a transition and the rest are repeats. `ws` sends each
 * report over the agent's open socket (what agent/core does), `http` as one HTTP request each.
 */
export async function measureStatus(h: Hub, agents: SimAgent[], random: () => number, transport: 'ws' | 'http') {
  const statusQuery = `mutation($r: [AgentStatusReportInput!]!) { agentReportStatus(reports: $r) { __typename ... on AgentStatusReportResult { accepted changed ignored } ... on Error { message } } }`;
  const PHASES = [
    { phase: 'progressing', message: 'applying compose project' },
    { phase: 'healthy', message: '1 service healthy' },
  ];
  const PHASE_MS = 2000;
  let accepted = 0;
  let changed = 0;
  let failed = 0;
  let requests = 0;
  const latencies: number[] = [];
  const statusStart = performance.now();
  const statusEnd = statusStart + STATUS_SECONDS * 1000;
  const cpuBeforeStatus = await cpuSeconds(h.pid);
  const benchCpuBeforeStatus = process.cpuUsage();
  let cursor = Math.floor(random() * agents.length);
  await Promise.all(
    Array.from({ length: STATUS_CONCURRENCY }, async () => {
      while (performance.now() < statusEnd) {
        const agent = agents[cursor++ % agents.length]!;
        const p = PHASES[Math.floor((performance.now() - statusStart) / PHASE_MS) % PHASES.length]!;
        const variables = { r: [{ deploymentId: agent.seed.deploymentId, revisionId: agent.revisionId, phase: p.phase, message: p.message }] };
        const t = performance.now();
        try {
          const payload =
            transport === 'ws' ? await agent.request(statusQuery, variables) : (await post(h.port, JSON.stringify({ query: statusQuery, variables }), agent.token)).body;
          const r = payload?.data?.agentReportStatus;
          if (r?.__typename === 'AgentStatusReportResult') {
            accepted += r.accepted;
            changed += r.changed;
          } else failed++;
        } catch {
          failed++;
        }
        requests++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const statusSeconds = (performance.now() - statusStart) / 1000;
  const statusCpu = (await cpuSeconds(h.pid)) - cpuBeforeStatus;
  const benchStatusCpu = process.cpuUsage(benchCpuBeforeStatus);
  latencies.sort((a, b) => a - b);
  const statusPerS = accepted / statusSeconds;
  log(
    `status over ${transport}: ${accepted} accepted (${changed} transitions, ${failed} failed) in ${statusSeconds.toFixed(1)} s → ${Math.round(statusPerS)}/s; ` +
      `request p50 ${percentile(latencies, 50).toFixed(1)} ms p99 ${percentile(latencies, 99).toFixed(1)} ms; hub cpu ${statusCpu.toFixed(1)} s`,
  );
  return { accepted, changed, failed, latencies, statusSeconds, statusCpu, benchStatusCpu, statusPerS };
}
