/**
 * What the replica benchmark reads of the database server: the CPU time of all its processes
 * (/proc) and the database's activity counters (pg_stat_database, WAL position).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

const TICKS_PER_S = 100; // USER_HZ

/** Fields of /proc/<pid>/stat after the command name: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
async function statFields(pid: number): Promise<string[] | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // exited meanwhile
  }
}

/** The postmaster's pid: the first line of postmaster.pid in the cluster folder. */
export async function postmasterPid(clusterDir: string): Promise<number> {
  const pid = Number((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${clusterDir}/postmaster.pid`);
  return pid;
}

/**
 * CPU seconds of the whole PostgreSQL server: the postmaster and every live child (backends,
 * checkpointer, walwriter, autovacuum, …), utime + stime, plus the postmaster's cutime + cstime
 * (children that exited and were reaped, e.g. a backend whose connection closed).
 */
export async function postgresCpuSeconds(postmaster: number): Promise<number> {
  const own = await statFields(postmaster);
  if (!own) throw new Error(`postmaster ${postmaster} is gone`);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).map(Number);
  for (const fields of await Promise.all(pids.map(statFields))) {
    if (fields && Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_S;
}

export interface DbCounters {
  xacts: number;
  rowsRead: number;
  rowsWritten: number;
  walBytes: number;
}

/**
 * The database's cumulative counters. Backends flush their statistics about once a second when
 * idle, so the caller waits ~2 s after a phase before reading; this query itself counts as one
 * transaction and a few rows read.
 */
export async function dbCounters(sql: pg.Client, database: string): Promise<DbCounters> {
  const r = (
    await sql.query(
      `select xact_commit + xact_rollback as xacts, tup_fetched as rows_read, tup_inserted + tup_updated + tup_deleted as rows_written,
              pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') as wal
       from pg_stat_database where datname = $1`,
      [database],
    )
  ).rows[0];
  return { xacts: Number(r.xacts), rowsRead: Number(r.rows_read), rowsWritten: Number(r.rows_written), walBytes: Number(r.wal) };
}

export function counterDelta(a: DbCounters, b: DbCounters): DbCounters {
  return { xacts: b.xacts - a.xacts, rowsRead: b.rowsRead - a.rowsRead, rowsWritten: b.rowsWritten - a.rowsWritten, walBytes: b.walBytes - a.walBytes };
}
