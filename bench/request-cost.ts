/**
 * Hub CPU per request: `npm run bench:request-cost` (options: `--requests 2000`, `--concurrency 8`,
 * `--targets 20`, `--warmup 300`).
 *
 * An embedded PostgreSQL and the hub as its own process (as bench/propagation); one application,
 * `--targets` docker targets with one deployment each (bulk SQL), their agents logged in over HTTP.
 * After a warm-up, measured from the hub's /proc/<pid>/stat (utime + stime) over each phase:
 *  - read: the console's `Deployments` list query (console/src/operations/console.graphql, with its
 *    fragments), authenticated with the admin API key over HTTP; `--requests` one after another,
 *    then `--requests` with `--concurrency` in flight;
 *  - viewer: the console's `Viewer` query the same way: the fixed part of an authenticated call
 *    (API key, GraphQL pipeline) with little data behind it;
 *  - status: `agentReportStatus` over HTTP with each agent's token, one report per call, at steady
 *    state (the phase does not change, as an agent's periodic report of a healthy deployment),
 *    `--requests` one after another and `--requests` concurrently.
 * The bench's own client shares the cores with the hub and PostgreSQL; the figures are hub CPU
 * only. Progress goes to stderr; the last line of stdout is one JSON object with the figures.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parse, print, visit, type DefinitionNode, type FragmentDefinitionNode } from 'graphql';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { cpuSeconds, hubMemory, spawnHub, stopHub, type Hub } from './propagation/hub.js';
import { percentile, round } from './propagation/stats.js';
import { log, machineFigures, pool, runBench } from './propagation/util.js';

const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    targets: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '300' },
    /** Run the compiled hub (scripts/build-hub.ts, as `npm start` does) instead of the sources through tsx. */
    compiled: { type: 'boolean', default: false },
    /** Run only this phase (read, viewer or status): a `--cpu-prof` of the hub then shows that call alone. */
    only: { type: 'string' },
  },
  strict: true,
});
const REQUESTS = Number(opts.requests);
const CONCURRENCY = Number(opts.concurrency);
const TARGETS = Number(opts.targets);
const WARMUP = Number(opts.warmup);
const ONLY = opts.only ?? null;
if (ONLY && !['read', 'viewer', 'status'].includes(ONLY)) {
  console.error('--only must be read, viewer or status');
  process.exit(2);
}
const runs = (name: string) => !ONLY || ONLY === name;
for (const [name, v] of Object.entries({ REQUESTS, CONCURRENCY, TARGETS, WARMUP })) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name.toLowerCase()} must be a positive whole number`);
    process.exit(2);
  }
}
// The propagation helpers parse their own options on import: give them the ones they know.
process.argv = [process.argv[0]!, process.argv[1]!, '--agents', String(TARGETS), '--login-concurrency', '4', '--status-concurrency', String(CONCURRENCY)];
const { createApplication, seedTargets } = await import('./propagation/seed.js');
const { loginAgents } = await import('./propagation/agents.js');

/** The console's Deployments query with the fragments it uses (and only those). */
async function consoleQuery(name: string): Promise<string> {
  const source = await readFile(new URL('../console/src/operations/console.graphql', import.meta.url), 'utf8');
  const doc = parse(source);
  const fragments = new Map(doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition').map((f) => [f.name.value, f]));
  const op = doc.definitions.find((d) => d.kind === 'OperationDefinition' && d.name?.value === name)!;
  const used: DefinitionNode[] = [op];
  const seen = new Set<string>();
  const walk = (node: DefinitionNode) =>
    visit(node, {
      FragmentSpread(s) {
        if (seen.has(s.name.value)) return;
        seen.add(s.name.value);
        const f = fragments.get(s.name.value)!;
        used.push(f);
        walk(f);
      },
    });
  walk(op);
  return used.map((d) => print(d)).join('\n');
}

const STATUS = `mutation($r: [AgentStatusReportInput!]!) { agentReportStatus(reports: $r) { __typename ... on AgentStatusReportResult { accepted changed ignored } ... on Error { message } } }`;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY + 2 });
function post(port: number, body: string, bearer: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${bearer}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (res.statusCode !== 200 || parsed.errors?.length) reject(new Error(`HTTP ${res.statusCode}: ${JSON.stringify(parsed.errors ?? parsed)}`));
            else resolve(parsed.data);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `count` calls of `call`, `concurrency` in flight: hub CPU ms per call, client-side latency. */
async function phase(h: Hub, count: number, concurrency: number, call: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  const cpu0 = await cpuSeconds(h.pid);
  const t0 = performance.now();
  await pool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      const t = performance.now();
      await call(i);
      latencies.push(performance.now() - t);
    },
  );
  const wallS = (performance.now() - t0) / 1000;
  const cpuMs = ((await cpuSeconds(h.pid)) - cpu0) * 1000;
  latencies.sort((a, b) => a - b);
  return { cpu_ms_per_request: round(cpuMs / count), per_s: Math.round(count / wallS), p50_ms: round(percentile(latencies, 50)), p99_ms: round(percentile(latencies, 99)) };
}

async function main(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-request-cost-'));
  let db: EmbeddedDatabase | null = null;
  let hub: Hub | null = null;
  const loadStart = os.loadavg()[0]!;
  try {
    if (opts.compiled) {
      const { buildHub } = await import('../scripts/build-hub.js');
      process.env.DISTR_BENCH_HUB_ENTRY = await buildHub(fileURLToPath(new URL(`../dist/hub-bench-${process.pid}`, import.meta.url)));
      // As `npm start` and the hub image run it (graphql-js skips its development checks).
      process.env.NODE_ENV = 'production';
    }
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase('bench');
    const databaseUrl = db.urlFor('bench');
    hub = await spawnHub(databaseUrl);
    const h = hub;
    const { appId, v1Id } = await createApplication(h);
    const { seeded, secret } = await seedTargets(databaseUrl, appId, v1Id, TARGETS);
    const { tokens } = await loginAgents(h, seeded, secret);
    // Idle memory: the hub with its agents logged in, before any measured call (after a GC).
    const idle = await hubMemory(h);

    const readBody = JSON.stringify({ query: await consoleQuery('Deployments'), variables: { first: 50 } });
    const read = async () => {
      const data = await post(h.port, readBody, h.apiKey);
      if (data.deployments.nodes.length !== Math.min(TARGETS, 50)) throw new Error(`deployments: ${JSON.stringify(data).slice(0, 300)}`);
    };
    const viewerBody = JSON.stringify({ query: await consoleQuery('Viewer') });
    const viewer = async () => {
      const data = await post(h.port, viewerBody, h.apiKey);
      if (!data.viewer?.organization?.name) throw new Error(`viewer: ${JSON.stringify(data)}`);
    };
    const report = async (i: number) => {
      const s = seeded[i % seeded.length]!;
      const body = JSON.stringify({ query: STATUS, variables: { r: [{ deploymentId: s.deploymentId, revisionId: s.revisionId, phase: 'healthy', message: '1 service healthy' }] } });
      const r = (await post(h.port, body, tokens[i % seeded.length]!)).agentReportStatus;
      if (r.__typename !== 'AgentStatusReportResult' || r.accepted !== 1) throw new Error(`agentReportStatus: ${JSON.stringify(r)}`);
    };

    const skipped = { cpu_ms_per_request: null, per_s: null, p50_ms: null, p99_ms: null };
    const measure = async (name: string, call: (i: number) => Promise<void>) => {
      if (!runs(name)) return [skipped, skipped] as const;
      log(`${name}: ${WARMUP} warm-up calls, then ${REQUESTS} one after another and ${REQUESTS} with ${CONCURRENCY} in flight`);
      await phase(h, WARMUP, CONCURRENCY, call);
      return [await phase(h, REQUESTS, 1, call), await phase(h, REQUESTS, CONCURRENCY, call)] as const;
    };
    const [readSequential, readConcurrent] = await measure('read', read);
    const [viewerSequential, viewerConcurrent] = await measure('viewer', viewer);
    const [statusSequential, statusConcurrent] = await measure('status', report);
    return {
      read_hub_cpu_ms: readSequential.cpu_ms_per_request,
      read_hub_cpu_ms_concurrent: readConcurrent.cpu_ms_per_request,
      viewer_hub_cpu_ms: viewerSequential.cpu_ms_per_request,
      viewer_hub_cpu_ms_concurrent: viewerConcurrent.cpu_ms_per_request,
      status_hub_cpu_ms: statusSequential.cpu_ms_per_request,
      status_hub_cpu_ms_concurrent: statusConcurrent.cpu_ms_per_request,
      hub_idle_rss_mib: round(idle.rssKib / 1024),
      hub_idle_heap_mib: idle.heapUsed === null ? null : round(idle.heapUsed / 1048576),
      read_sequential: readSequential,
      read_concurrent: readConcurrent,
      viewer_sequential: viewerSequential,
      viewer_concurrent: viewerConcurrent,
      status_sequential: statusSequential,
      status_concurrent: statusConcurrent,
      hub: opts.compiled ? 'compiled' : 'tsx',
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      targets: TARGETS,
      ...(await machineFigures(loadStart)),
    };
  } finally {
    agent.destroy();
    if (hub) await stopHub(hub).catch(() => {});
    await db?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    if (process.env.DISTR_BENCH_HUB_ENTRY) await rm(path.dirname(process.env.DISTR_BENCH_HUB_ENTRY), { recursive: true, force: true }).catch(() => {});
  }
}

runBench(main);
