/**
 * The hub's entry point: config → database (DATABASE_URL, or an embedded PostgreSQL under the
 * data folder) → migrations → GraphQL over HTTP and websockets. SIGTERM/SIGINT stop it in order:
 * sockets and this process's connection rows first, the embedded PostgreSQL last. A start that
 * cannot succeed (port in use, data folder in use, PostgreSQL unreachable) exits with one sentence.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseHubEnv } from './env.js';
import { createLogger } from './logger.js';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { lockDataFolder, DataFolderInUseError } from './db/data-folder-lock.js';
import { HubStartError, startHub, type RunningHub } from './app.js';
import { hubUrlWarning } from './targets/install.js';
import { publicHubUrl } from './targets/service.js';

let env;
try {
  env = parseHubEnv();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
const logger = createLogger(env.LOG_LEVEL);

let embedded: EmbeddedDatabase | null = null;
let releaseLock: (() => void) | null = null;

/** Stop with one sentence (and the exit code), releasing whatever was started. */
async function fail(message: string, err?: unknown): Promise<never> {
  logger.fatal({ err }, message);
  process.stderr.write(`distr hub: ${message}\n`);
  await embedded?.stop().catch(() => {});
  releaseLock?.();
  process.exit(1);
}

let databaseUrl = env.DATABASE_URL;
if (!databaseUrl) {
  const dataDir = path.join(env.dataDir, 'postgres');
  try {
    releaseLock = lockDataFolder(env.dataDir);
    logger.info({ dataDir }, 'DATABASE_URL not set: starting embedded PostgreSQL');
    // We hold the data folder's lock: a server still running there was left by a hub that died.
    embedded = await startEmbeddedPostgres({ dataDir, port: env.DISTR_EMBEDDED_PG_PORT, persistent: true, stopStale: true });
    if (embedded.clusterDir !== dataDir) logger.info({ clusterDir: embedded.clusterDir }, 'the postgres user cannot reach the data folder; the cluster lives here instead');
    await embedded.createDatabase('distr').catch(() => {}); // exists after the first run
    databaseUrl = embedded.urlFor('distr');
  } catch (err) {
    if (err instanceof DataFolderInUseError || err instanceof EmbeddedPostgresError) await fail(err.message);
    await fail(`the embedded PostgreSQL did not start: ${(err as Error).message}`, err);
  }
}

let hub: RunningHub;
try {
  hub = await startHub(env, databaseUrl!, logger);
} catch (err) {
  if (err instanceof HubStartError) await fail(err.message);
  await fail(`the hub failed to start: ${(err as Error).message ?? String(err)}`, err);
}

if (hub!.bootstrapKey) {
  logger.info({ organization: 'Default organization' }, 'first run: created an organization, an admin user and an admin API key (shown once below)');
  process.stdout.write(
    `
  Console: ${hub!.url}/  sign in as ${hub!.bootstrapAdmin!.email}  password (shown once): ${hub!.bootstrapAdmin!.password}
` +
      `  Admin API key (shown once): ${hub!.bootstrapKey}
  GraphiQL: ${hub!.url}/graphql  (header  {"Authorization": "Bearer ${hub!.bootstrapKey}"})

`,
  );
  if (env.DISTR_BOOTSTRAP_KEY_FILE) await writeFile(env.DISTR_BOOTSTRAP_KEY_FILE, hub!.bootstrapKey, { mode: 0o600 });
}

const urlWarning = hubUrlWarning(publicHubUrl(hub!.runtime.env), env.DISTR_PUBLIC_URL !== undefined);
if (urlWarning) logger.warn({ publicUrl: publicHubUrl(hub!.runtime.env) }, urlWarning);

// Logged last, after the first-run key: scripts and tests wait for this line.
logger.info({ port: hub!.port, graphql: `${hub!.url}/graphql` }, 'hub listening');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  try {
    // In order: sockets closed and this process's connection rows removed while the database is
    // still up (targets must not read `connected` after a restart), then the database.
    await hub.close();
    logger.info('connections cleared');
    await embedded?.stop();
    releaseLock?.();
  } catch (err) {
    logger.error({ err }, 'error during shutdown');
    process.exit(1);
  }
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// Operational diagnostic: `kill -USR2 <pid>` logs memory use (after a full GC when run with --expose-gc).
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  logger.child({ source: 'diagnostics' }, { level: 'info' }).info({ memory: process.memoryUsage() }, 'memory usage');
});
