/**
 * What one idle agent connection is made of in the hub's heap: `npm run bench:connection-heap --
 * [--agents 2000]`.
 *
 * An embedded PostgreSQL and the hub as its own process (bench/propagation/hub.ts; the compiled
 * one with DISTR_BENCH_HUB_ENTRY), `--agents` + 50 targets seeded by bulk SQL, their agents logged
 * in. 50 agents connect (a warmed-up baseline), the hub writes a heap snapshot (V8 collects
 * garbage first), the other agents connect, a second snapshot. The difference, divided by the
 * agents added, is the heap per connection, by kind of V8 object (strings, closures, contexts,
 * promises, generators, and objects by constructor); strings also by what they start with, so a
 * copy kept per socket shows by name. The last line of stdout is the JSON.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { loginAgents, SimAgent } from './propagation/agents.js';
import { ensureFdLimit, spawnHub, stopHub, type Hub } from './propagation/hub.js';
import { createApplication, seedTargets } from './propagation/seed.js';
import { round } from './propagation/stats.js';
import { log, machineFigures, pool, runBench, sleep, withTimeout } from './propagation/util.js';

const { values: opts } = parseArgs({ options: { agents: { type: 'string', default: '2000' } }, strict: true });
const N = Number(opts.agents);
if (!Number.isInteger(N) || N < 1) {
  console.error('--agents must be a positive whole number');
  process.exit(2);
}
const WARM = 50;
ensureFdLimit(N + WARM + 2048);

type Totals = Map<string, { bytes: number; count: number }>;

/** Sum a snapshot's self sizes by kind (and constructor), and its strings by their first characters. */
async function summarize(file: string): Promise<{ kinds: Totals; strings: Totals }> {
  const snapshot = JSON.parse(await readFile(file, 'utf8'));
  const fields: string[] = snapshot.snapshot.meta.node_fields;
  const types: string[] = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const kinds: Totals = new Map();
  const strings: Totals = new Map();
  const add = (totals: Totals, key: string, bytes: number) => {
    const t = totals.get(key) ?? { bytes: 0, count: 0 };
    t.bytes += bytes;
    t.count++;
    totals.set(key, t);
  };
  const nodes: number[] = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const name: string = snapshot.strings[nodes[i + nameAt]!];
    const bytes = nodes[i + sizeAt]!;
    if (type.endsWith('string')) {
      add(kinds, 'string', bytes);
      const uuidless = name.slice(0, 48).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');
      add(strings, type === 'string' ? uuidless : `(${type})`, bytes);
    } else if (type === 'object' || type === 'native') add(kinds, `${type} ${name.slice(0, 40)}`, bytes);
    else add(kinds, type, bytes);
  }
  return { kinds, strings };
}

/** Per added connection: what grew, largest first (entries under 24 bytes per connection left out). */
function perConnection(before: Totals, after: Totals, n: number) {
  return [...after]
    .map(([key, t]) => ({ key, bytes: (t.bytes - (before.get(key)?.bytes ?? 0)) / n, count: (t.count - (before.get(key)?.count ?? 0)) / n }))
    .filter((e) => e.bytes >= 24)
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 30)
    .map((e) => ({ what: e.key, bytes: Math.round(e.bytes), objects: round(e.count) }));
}

async function main(): Promise<Record<string, unknown>> {
  const loadAtStart = os.loadavg()[0]!;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-heap-'));
  const snapshots = path.join(dir, 'snapshots');
  let db: EmbeddedDatabase | null = null;
  let hub: Hub | null = null;
  let agents: SimAgent[] = [];
  try {
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase('bench');
    process.env.DISTR_BENCH_HUB_NODE_ARGS = `${process.env.DISTR_BENCH_HUB_NODE_ARGS ?? ''} --heapsnapshot-signal=SIGUSR1 --diagnostic-dir=${snapshots}`;
    await mkdir(snapshots);
    hub = await spawnHub(db.urlFor('bench'));
    const h = hub;
    const { appId, v1Id } = await createApplication(h);
    const { seeded, secret } = await seedTargets(db.urlFor('bench'), appId, v1Id, N + WARM);
    const { tokens } = await loginAgents(h, seeded, secret);
    agents = seeded.map((s, i) => new SimAgent(s, tokens[i]!));
    const snapshot = async (): Promise<string> => {
      const known = new Set(await readdir(snapshots));
      process.kill(h.pid, 'SIGUSR1');
      // The file appears when writing starts; it is complete when its size stops changing.
      return withTimeout(
        (async () => {
          for (let last = -1; ; await sleep(500)) {
            const file = (await readdir(snapshots)).find((f) => !known.has(f));
            if (!file) continue;
            const { size } = await stat(path.join(snapshots, file));
            if (size > 0 && size === last) return path.join(snapshots, file);
            last = size;
          }
        })(),
        120_000,
        'the heap snapshot',
      );
    };
    await pool(agents.slice(0, WARM), WARM, (a) => a.connect(h.port));
    const before = await summarize(await snapshot());
    log(`baseline taken with ${WARM} agents; connecting ${N} more`);
    await pool(agents.slice(WARM), 200, (a) => withTimeout(a.connect(h.port), 120_000, 'an agent\'s first state'));
    const after = await summarize(await snapshot());
    const total = (t: Totals) => [...t.values()].reduce((s, e) => s + e.bytes, 0);
    const perConn = (total(after.kinds) - total(before.kinds)) / N;
    log(`${round(perConn / 1024)} KiB of heap per idle connection`);
    return {
      agents: N,
      hub: process.env.DISTR_BENCH_HUB_ENTRY ? 'compiled' : 'tsx',
      heap_per_conn_kib: round(perConn / 1024),
      by_kind: perConnection(before.kinds, after.kinds, N),
      strings: perConnection(before.strings, after.strings, N).slice(0, 12),
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
