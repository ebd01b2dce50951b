/**
 * The hub's entry point: config → database (DATABASE_URL, or an embedded PostgreSQL under the
 * data folder) → migrations → GraphQL over HTTP and websockets. SIGTERM/SIGINT stop it cleanly.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseHubEnv } from './env.js';
import { createLogger } from './logger.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { startHub } from './app.js';
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
let databaseUrl = env.DATABASE_URL;
if (!databaseUrl) {
  const dataDir = path.join(env.dataDir, 'postgres');
  logger.info({ dataDir }, 'DATABASE_URL not set: starting embedded PostgreSQL');
  embedded = await startEmbeddedPostgres({ dataDir, port: env.DISTR_EMBEDDED_PG_PORT, persistent: true });
  await embedded.createDatabase('distr').catch(() => {}); // exists after the first run
  databaseUrl = embedded.urlFor('distr');
}

const hub = await startHub(env, databaseUrl, logger).catch(async (err: Error) => {
  logger.fatal({ err }, 'hub failed to start');
  await embedded?.stop();
  process.exit(1);
});

if (hub.bootstrapKey) {
  logger.info({ organization: 'Default organization' }, 'first run: created an organization and an admin API key (shown once below)');
  process.stdout.write(
    `\n  Admin API key (shown once): ${hub.bootstrapKey}\n  GraphiQL: ${hub.url}/graphql  (header  {"Authorization": "Bearer ${hub.bootstrapKey}"})\n\n`,
  );
  if (env.DISTR_BOOTSTRAP_KEY_FILE) await writeFile(env.DISTR_BOOTSTRAP_KEY_FILE, hub.bootstrapKey, { mode: 0o600 });
}

const urlWarning = hubUrlWarning(publicHubUrl(hub.runtime.env), env.DISTR_PUBLIC_URL !== undefined);
if (urlWarning) logger.warn({ publicUrl: publicHubUrl(hub.runtime.env) }, urlWarning);

// Logged last, after the first-run key: scripts and tests wait for this line.
logger.info({ port: hub.port, graphql: `${hub.url}/graphql` }, 'hub listening');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  try {
    await hub.close();
    await embedded?.stop();
  } catch (err) {
    logger.error({ err }, 'error during shutdown');
    process.exit(1);
  }
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// Operational diagnostic: `kill -USR2 <pid>` logs memory use (after a full GC when run with --expose-gc).
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  logger.child({ source: 'diagnostics' }, { level: 'info' }).info({ memory: process.memoryUsage() }, 'memory usage');
});
