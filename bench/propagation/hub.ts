/**
 * The hub as its own process (`node --import tsx server/main.ts`) and what the benchmark reads of
 * it from /proc (RSS, CPU time) and from its SIGUSR2 memory log; also the file-descriptor limit
 * the benchmark and the hub need for N sockets each.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../server/db/embedded.js';
import { sleep } from './util.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const FD_LIMIT = 65536;

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * N client sockets here, N server sockets in the hub: when the soft limit is below `needed`, run
 * this bench again under a raised ulimit (a process cannot raise its own limit from node) and
 * exit with its status.
 */
export function ensureFdLimit(needed: number): void {
  const softLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 0;
  if (softLimit < needed && !process.env.DISTR_BENCH_REEXEC) {
    const argv = [...process.execArgv, ...process.argv.slice(1)].map(shellQuote).join(' ');
    const res = spawnSync('bash', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${shellQuote(process.execPath)} ${argv}`], {
      stdio: 'inherit',
      env: { ...process.env, DISTR_BENCH_REEXEC: '1' },
    });
    process.exit(res.status ?? 1);
  }
}

export interface Hub {
  pid: number;
  port: number;
  apiKey: string;
  child: ChildProcess;
  output(): string;
}

/**
 * Start a hub on `databaseUrl`. A restart passes the port it had (agents come back to the same
 * address) and the admin key printed by its first run (a later start prints none).
 */
export async function spawnHub(databaseUrl: string, restart?: { port: number; apiKey: string }): Promise<Hub> {
  const port = restart?.port ?? (await freePort());
  let out = '';
  // DISTR_BENCH_HUB_NODE_ARGS: extra node flags for the hub, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const extra = process.env.DISTR_BENCH_HUB_NODE_ARGS ?? '';
  // DISTR_BENCH_HUB_ENTRY: a compiled hub (scripts/build-hub.ts) to run instead of the sources through tsx.
  const entry = process.env.DISTR_BENCH_HUB_ENTRY;
  const node = `${shellQuote(process.execPath)} --expose-gc ${extra} ${entry ? shellQuote(entry) : '--import tsx server/main.ts'}`;
  // exec: the hub is the shell's pid, so signals and /proc/<pid> reach node itself.
  const child = spawn('bash', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${node}`], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: process.env.DISTR_BENCH_HUB_LOG_LEVEL ?? 'warn', DISTR_BENCH_REEXEC: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hub exited during start:\n${out}`);
    if (Date.now() > deadline) throw new Error(`hub did not start in time:\n${out}`);
    const key = restart?.apiKey ?? /Admin API key \(shown once\): (\S+)/.exec(out)?.[1];
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

export async function stopHub(hub: Hub): Promise<void> {
  if (hub.child.exitCode !== null) return;
  const exited = new Promise<void>((r) => hub.child.once('exit', () => r()));
  hub.child.kill('SIGTERM');
  const timer = setTimeout(() => hub.child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

export async function rssKib(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
}

/**
 * The kernel's count of connections dropped because a listen queue was full (TcpExt
 * ListenOverflows in /proc/net/netstat; machine-wide): a dropped SYN is resent only after 1 s, 3 s, …
 */
export async function listenOverflows(): Promise<number> {
  const lines = (await readFile('/proc/net/netstat', 'utf8')).split('\n');
  const header = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[header]!.split(' ');
  const values = lines[header + 1]!.split(' ');
  return Number(values[names.indexOf('ListenOverflows')]);
}

export async function cpuSeconds(pid: number): Promise<number> {
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
export async function hubMemory(hub: Hub): Promise<{ rssKib: number; heapUsed: number | null }> {
  await sleep(1500);
  const heapUsed = await hubHeapUsed(hub);
  await sleep(500);
  return { rssKib: await rssKib(hub.pid), heapUsed };
}
