/** Small helpers of the benchmarks: progress log, sleep, bounded concurrency, timeouts, machine facts, the main runner. */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { round } from './stats.js';

/** Progress goes to stderr (stdout is kept for the final JSON line). */
export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `task` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, task: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** The machine a figure was measured on, and the 1-minute load average around the run (other work competes for the same cores). */
export async function machineFigures(loadAtStart: number): Promise<Record<string, unknown>> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return {
    cpus: os.cpus().length,
    cpu_model: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model.trim() ?? 'unknown',
    memory_gib: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    loadavg_1m_start: round(loadAtStart),
    loadavg_1m_end: round(os.loadavg()[0]!),
    date: new Date().toISOString(),
  };
}

/** Run a benchmark's main: its figures as one JSON line on stdout, exit 0; a failure on stderr, exit 1. */
export function runBench(main: () => Promise<Record<string, unknown>>): void {
  main().then(
    (figures) => {
      process.stdout.write(`${JSON.stringify(figures)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      log(`failed: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}
