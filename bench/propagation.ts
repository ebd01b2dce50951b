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
 *  - status ingestion: `agentReportStatus` over HTTP from many agents at once for a few seconds.
 * Progress goes to stderr; the last line of stdout is one JSON object with the figures.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import WebSocket from 'ws';
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { DESIRED_STATE_SUBSCRIPTION } from '../agent/core/hub-client.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    updates: { type: 'string', default: '300' },
    'update-gap-ms': { type: 'string', default: '10' },
    'fanout-targets': { type: 'string', default: '1000' },
    'status-seconds': { type: 'string', default: '10' },
    'status-concurrency': { type: 'string', default: '64' },
    'connect-concurrency': { type: 'string', default: '200' },
    'login-concurrency': { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
  },
  strict: true,
});
const N = positiveInt('agents');
const UPDATES = positiveInt('updates');
const UPDATE_GAP_MS = Number(args['update-gap-ms']);
const FANOUT = Math.min(positiveInt('fanout-targets'), N);
const STATUS_SECONDS = Number(args['status-seconds']);
const STATUS_CONCURRENCY = positiveInt('status-concurrency');
const CONNECT_CONCURRENCY = positiveInt('connect-concurrency');
const LOGIN_CONCURRENCY = positiveInt('login-concurrency');

function positiveInt(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive whole number`);
    process.exit(2);
  }
  return n;
}

// ---- file descriptors: N client sockets here, N server sockets in the hub --------------------
const FD_NEEDED = N + 2048;
const FD_LIMIT = 65536;
const softLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 0;
if (softLimit < FD_NEEDED && !process.env.DISTR_BENCH_REEXEC) {
  // A process cannot raise its own limit from node: run this bench again under a raised ulimit.
  const argv = [...process.execArgv, ...process.argv.slice(1)].map(shellQuote).join(' ');
  const res = spawnSync('bash', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${shellQuote(process.execPath)} ${argv}`], {
    stdio: 'inherit',
    env: { ...process.env, DISTR_BENCH_REEXEC: '1' },
  });
  process.exit(res.status ?? 1);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- HTTP GraphQL with a keep-alive pool ---------------------------------------------------
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: Math.max(STATUS_CONCURRENCY, LOGIN_CONCURRENCY) + 4 });

function post(port: number, body: string, bearer: string | null): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent: httpAgent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error('HTTP request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

async function gqlOk(port: number, bearer: string | null, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await post(port, JSON.stringify({ query, variables }), bearer);
  if (res.body.errors?.length) throw new Error(`GraphQL errors (HTTP ${res.status}): ${JSON.stringify(res.body.errors)}`);
  return res.body.data;
}

// ---- the hub process ------------------------------------------------------------------------
interface Hub {
  pid: number;
  port: number;
  apiKey: string;
  child: ChildProcess;
  output(): string;
}

async function spawnHub(databaseUrl: string): Promise<Hub> {
  const port = await freePort();
  let out = '';
  // DISTR_BENCH_HUB_NODE_ARGS: extra node flags for the hub, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const extra = process.env.DISTR_BENCH_HUB_NODE_ARGS ?? '';
  const node = `${shellQuote(process.execPath)} --expose-gc ${extra} --import tsx server/main.ts`;
  // exec: the hub is the shell's pid, so signals and /proc/<pid> reach node itself.
  const child = spawn('bash', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${node}`], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DISTR_BENCH_REEXEC: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hub exited during start:\n${out}`);
    if (Date.now() > deadline) throw new Error(`hub did not start in time:\n${out}`);
    const key = /Admin API key \(shown once\): (\S+)/.exec(out)?.[1];
    if (key && (await healthy(port))) return { pid: child.pid!, port, apiKey: key, child, output: () => out };
    await sleep(100);
  }
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

async function stopHub(hub: Hub): Promise<void> {
  if (hub.child.exitCode !== null) return;
  const exited = new Promise<void>((r) => hub.child.once('exit', () => r()));
  hub.child.kill('SIGTERM');
  const timer = setTimeout(() => hub.child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

async function rssKib(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

/** heapUsed after a full GC: the hub logs process.memoryUsage() on SIGUSR2 (run with --expose-gc). */
async function hubHeapUsed(hub: Hub): Promise<number | null> {
  const before = hub.output().length;
  process.kill(hub.pid, 'SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const line = hub
      .output()
      .slice(before)
      .split('\n')
      .find((l) => l.includes('"memory"'));
    if (line) return JSON.parse(line).memory.heapUsed as number;
    await sleep(50);
  }
  return null;
}

/** Let the hub settle, then (after GC) read RSS and heap. */
async function hubMemory(hub: Hub): Promise<{ rssKib: number; heapUsed: number | null }> {
  await sleep(1500);
  const heapUsed = await hubHeapUsed(hub);
  await sleep(500);
  return { rssKib: await rssKib(hub.pid), heapUsed };
}

// ---- simulated agents -------------------------------------------------------------------------
interface Seeded {
  targetId: string;
  deploymentId: string;
  revisionId: string;
}

/** Arrival times of desired states, by revision id, and waiters for them. */
const arrivals = new Map<string, number>();
const revisionWaiters = new Map<string, (at: number) => void>();
let versionWatch: { name: string; targets: Set<string>; seen: Set<string>; last: number; done: () => void } | null = null;

class SimAgent {
  ws: WebSocket | null = null;
  revisionId: string;
  states = 0;
  closed: { code: number; reason: string } | null = null;
  private initial!: { resolve: () => void; reject: (e: Error) => void };

  constructor(
    readonly seed: Seeded,
    readonly token: string,
  ) {
    this.revisionId = seed.revisionId;
  }

  connect(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.initial = { resolve, reject };
      const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
      this.ws = ws;
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token: this.token } })));
      ws.on('message', (data: Buffer) => this.onMessage(data));
      ws.on('error', (err) => reject(err));
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        reject(new Error(`socket closed before the first state: ${code} ${reason}`));
      });
    });
  }

  private onMessage(data: Buffer): void {
    const at = performance.now();
    const msg = JSON.parse(data.toString('utf8'));
    switch (msg.type) {
      case 'connection_ack':
        this.ws!.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: DESIRED_STATE_SUBSCRIPTION } }));
        return;
      case 'ping':
        this.ws!.send('{"type":"pong"}');
        return;
      case 'next': {
        const state = msg.payload?.data?.agentDesiredState;
        if (!state) {
          this.initial.reject(new Error(`subscription error: ${JSON.stringify(msg.payload?.errors)}`));
          return;
        }
        const d = state.deployments[0];
        this.states++;
        if (this.states === 1) this.initial.resolve();
        if (!d) return;
        this.revisionId = d.revisionId;
        arrivals.set(d.revisionId, at);
        revisionWaiters.get(d.revisionId)?.(at);
        if (versionWatch && d.versionName === versionWatch.name && versionWatch.targets.has(this.seed.targetId) && !versionWatch.seen.has(this.seed.targetId)) {
          versionWatch.seen.add(this.seed.targetId);
          versionWatch.last = at;
          if (versionWatch.seen.size === versionWatch.targets.size) versionWatch.done();
        }
        return;
      }
      case 'error':
        this.initial.reject(new Error(`subscription error: ${JSON.stringify(msg.payload)}`));
        return;
    }
  }

  close(): void {
    this.ws?.removeAllListeners('close');
    this.ws?.on('error', () => {});
    this.ws?.terminate();
  }
}

/** Run `task` over `items` with at most `concurrency` at once. */
async function pool<T>(items: readonly T[], concurrency: number, task: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

// ---- main -------------------------------------------------------------------------------------
const COMPOSE = `services:
  web:
    image: nginx:1.27-alpine
    ports: ["8080:80"]
    environment:
      GREETING: \${GREETING:-hello}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost"]
      interval: 10s
`;

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

    // Application with v1 (deployed) and v2 (rolled out later), through the API.
    const app = (await gqlOk(h.port, h.apiKey, `mutation { createApplication(input: {name: "bench", type: docker}) { ... on Application { id } ... on Error { message } } }`))
      .createApplication;
    const versionQuery = `mutation($i: CreateDockerApplicationVersionInput!) { createDockerApplicationVersion(input: $i) { ... on ApplicationVersion { id } ... on Error { message } } }`;
    const v1 = (await gqlOk(h.port, h.apiKey, versionQuery, { i: { applicationId: app.id, name: 'v1', composeFile: COMPOSE, envTemplate: 'GREETING=hello\nLOG=info\n' } }))
      .createDockerApplicationVersion;
    const v2 = (await gqlOk(h.port, h.apiKey, versionQuery, { i: { applicationId: app.id, name: 'v2', composeFile: COMPOSE, envTemplate: 'GREETING=hello\nLOG=debug\n' } }))
      .createDockerApplicationVersion;
    if (!app?.id || !v1?.id || !v2?.id) throw new Error('could not create the application and its versions');

    // Targets, deployments and revisions in bulk SQL (the integrity triggers still run per row).
    const t0 = performance.now();
    const secret = randomBytes(32).toString('base64url');
    const credentialHash = createHash('sha256').update(secret).digest('hex');
    const sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    let seeded: Seeded[];
    try {
      const org = (await sql.query(`select organization_id from application where id = $1`, [app.id])).rows[0].organization_id as string;
      await sql.query('begin');
      await sql.query(
        `insert into deployment_target (id, organization_id, name, type, logs_enabled, credential_hash, credential_generation, created_at)
         select gen_random_uuid(), $1, 'edge-' || lpad(i::text, 6, '0'), 'docker', false, $2, 1, now() from generate_series(1, $3) i`,
        [org, credentialHash, N],
      );
      await sql.query(
        `insert into deployment (id, organization_id, target_id, application_id, compose_type, created_at)
         select gen_random_uuid(), $1, t.id, $2, 'compose', now() from deployment_target t where t.organization_id = $1`,
        [org, app.id],
      );
      await sql.query(
        `insert into deployment_revision (id, deployment_id, version_id, env_file, force_restart, created_by, created_at)
         select gen_random_uuid(), d.id, $2, 'GREETING=hi' || chr(10), false, 'bench', now() from deployment d where d.application_id = $1`,
        [app.id, v1.id],
      );
      await sql.query(`update deployment d set current_revision_id = r.id from deployment_revision r where r.deployment_id = d.id and d.application_id = $1`, [app.id]);
      await sql.query('commit');
      seeded = (
        await sql.query(
          `select t.id as target_id, d.id as deployment_id, d.current_revision_id as revision_id
           from deployment_target t join deployment d on d.target_id = t.id order by t.name`,
        )
      ).rows.map((r) => ({ targetId: r.target_id, deploymentId: r.deployment_id, revisionId: r.revision_id }));
      await sql.query('analyze');
    } finally {
      await sql.end();
    }
    log(`seeded ${seeded.length} targets with one deployment each in ${Math.round(performance.now() - t0)} ms`);

    // Log every agent in over HTTP, as real agents do.
    const t1 = performance.now();
    const loginQuery = `mutation($t: ID!, $s: String!) { agentLogin(targetId: $t, secret: $s) { token } }`;
    const tokens: string[] = new Array(seeded.length);
    await pool(seeded, LOGIN_CONCURRENCY, async (s, i) => {
      tokens[i] = (await gqlOk(h.port, null, loginQuery, { t: s.targetId, s: secret })).agentLogin.token;
    });
    const loginMs = performance.now() - t1;
    log(`${seeded.length} agent logins over HTTP in ${Math.round(loginMs)} ms (${Math.round(seeded.length / (loginMs / 1000))}/s)`);

    // Connect: a few first, so the baseline memory is taken on a warmed-up hub, then the rest.
    agents = seeded.map((s, i) => new SimAgent(s, tokens[i]!));
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

    // Update latency: sequential updateDeployment mutations on random targets.
    let rng = Number(args.seed) >>> 0 || 1;
    const random = () => ((rng = (rng * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    const updateQuery = `mutation($id: ID!, $input: UpdateDeploymentInput!) { updateDeployment(id: $id, input: $input) { ... on Deployment { currentRevision { id } } ... on Error { message } } }`;
    const afterCommit: number[] = [];
    const afterSend: number[] = [];
    let beforeResponse = 0;
    log(`${UPDATES} updates…`);
    const cpuBeforeUpdates = await cpuSeconds(h.pid);
    for (let i = 0; i < UPDATES; i++) {
      const agent = agents[Math.floor(random() * agents.length)]!;
      const sentAt = performance.now();
      const data = await gqlOk(h.port, h.apiKey, updateQuery, { id: agent.seed.deploymentId, input: { envFile: `GREETING=update-${i}\n` } });
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

    // Fan-out: one rollout over FANOUT targets.
    const fanoutTargets = agents.slice(0, FANOUT).map((a) => a.seed.targetId);
    let fanoutDone!: () => void;
    const allSeen = new Promise<void>((r) => (fanoutDone = r));
    versionWatch = { name: 'v2', targets: new Set(fanoutTargets), seen: new Set(), last: 0, done: fanoutDone };
    const rolloutQuery = `mutation($a: ID!, $v: ID!, $t: [ID!]) { rolloutApplicationVersion(applicationId: $a, versionId: $v, targetIds: $t) { ... on RolloutResult { count } ... on Error { message } } }`;
    const cpuBeforeFanout = await cpuSeconds(h.pid);
    const fanoutSent = performance.now();
    const rolled = await gqlOk(h.port, h.apiKey, rolloutQuery, { a: app.id, v: v2.id, t: fanoutTargets });
    const fanoutCommitted = performance.now();
    if (rolled.rolloutApplicationVersion?.count !== FANOUT) throw new Error(`rollout: ${JSON.stringify(rolled)}`);
    await withTimeout(allSeen, 60_000, 'rollout to reach every agent');
    const fanoutCpu = (await cpuSeconds(h.pid)) - cpuBeforeFanout;
    const fanoutMs = versionWatch.last - fanoutSent;
    const fanoutAfterCommitMs = versionWatch.last - fanoutCommitted;
    versionWatch = null;
    log(`rollout over ${FANOUT} targets: mutation ${Math.round(fanoutCommitted - fanoutSent)} ms, last agent ${Math.round(fanoutMs)} ms after sending (${Math.round(fanoutAfterCommitMs)} ms after the response)`);

    // Status ingestion: many agents report concurrently; phases alternate so the first report of
    // each agent in a phase is a transition and the rest are repeats.
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
          const body = JSON.stringify({
            query: statusQuery,
            variables: { r: [{ deploymentId: agent.seed.deploymentId, revisionId: agent.revisionId, phase: p.phase, message: p.message }] },
          });
          const t = performance.now();
          try {
            const res = await post(h.port, body, agent.token);
            const r = res.body.data?.agentReportStatus;
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
      `status: ${accepted} accepted (${changed} transitions, ${failed} failed) in ${statusSeconds.toFixed(1)} s → ${Math.round(statusPerS)}/s; ` +
        `request p50 ${percentile(latencies, 50).toFixed(1)} ms p99 ${percentile(latencies, 99).toFixed(1)} ms; hub cpu ${statusCpu.toFixed(1)} s`,
    );

    const dropped = agents.filter((a) => a.closed).length;
    if (dropped > 0) log(`warning: ${dropped} agent sockets were closed by the hub during the run`);
    const cpuModel = /model name\s*:\s*(.*)/.exec(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
    return {
      agents: N,
      updates: UPDATES,
      p50_ms: round(percentile(afterCommit, 50)),
      p99_ms: round(percentile(afterCommit, 99)),
      max_ms: round(afterCommit.at(-1)!),
      sent_p50_ms: round(percentile(afterSend, 50)),
      sent_p99_ms: round(percentile(afterSend, 99)),
      arrived_before_response: beforeResponse,
      update_hub_cpu_ms_per_update: round((updatesCpu * 1000) / UPDATES),
      fanout_targets: FANOUT,
      fanout_ms: Math.round(fanoutMs),
      fanout_after_commit_ms: Math.round(fanoutAfterCommitMs),
      fanout_mutation_ms: Math.round(fanoutCommitted - fanoutSent),
      fanout_hub_cpu_ms: Math.round(fanoutCpu * 1000),
      heap_per_conn_kib: heapPerConn === null ? null : round(heapPerConn),
      rss_per_conn_kib: round(rssPerConn),
      hub_rss_mib: round(memAfter.rssKib / 1024, 1),
      hub_heap_mib: memAfter.heapUsed === null ? null : round(memAfter.heapUsed / 1024 / 1024, 1),
      connect_ms: Math.round(connectMs),
      connects_per_s: Math.round(idleConns / (connectMs / 1000)),
      logins_per_s: Math.round(N / (loginMs / 1000)),
      status_reports_per_s: Math.round(statusPerS),
      status_transitions: changed,
      status_failed: failed,
      status_concurrency: STATUS_CONCURRENCY,
      status_request_p99_ms: round(percentile(latencies, 99)),
      status_hub_cpu_share: round(statusCpu / statusSeconds),
      status_bench_cpu_share: round((benchStatusCpu.user + benchStatusCpu.system) / 1e6 / statusSeconds),
      status_hub_cpu_ms_per_report: accepted > 0 ? round((statusCpu * 1000) / accepted) : null,
      connect_hub_cpu_ms_per_conn: round((connectCpu * 1000) / idleConns),
      dropped_sockets: dropped,
      cpus: os.cpus().length,
      cpu_model: cpuModel,
      memory_gib: round(os.totalmem() / 1024 ** 3, 1),
      node: process.version,
      // Other work on the machine competes for the same cores: the 1-minute load average around the run.
      loadavg_1m_start: round(loadAtStart),
      loadavg_1m_end: round(os.loadavg()[0]!),
      date: new Date().toISOString(),
    };
  } finally {
    log('cleaning up');
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
