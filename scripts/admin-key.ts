/**
 * Replace a lost admin API key, on the server (needs the database, not the API):
 *   npm run admin-key -- [--organization <name or id>] [--email <admin e-mail>]
 * Uses DATABASE_URL, or (unset) the embedded PostgreSQL in DISTR_DATA_DIR (.distr) — then the
 * hub must be stopped first. Prints a new admin key once; revoke the lost one with revokeApiKey.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseHubEnv } from '../server/env.js';
import { openOrm } from '../server/db/orm.js';
import { startEmbeddedPostgres, EmbeddedPostgresError, type EmbeddedDatabase } from '../server/db/embedded.js';
import { DataFolderInUseError, lockDataFolder } from '../server/db/data-folder-lock.js';
import { createRecoveryAdminKey, RecoveryError } from '../server/orgs/recovery.js';

const { values } = parseArgs({ options: { organization: { type: 'string' }, email: { type: 'string' } } });
const env = parseHubEnv();
let embedded: EmbeddedDatabase | null = null;
let release: (() => void) | null = null;
let code = 0;
try {
  let url = env.DATABASE_URL;
  if (!url) {
    release = lockDataFolder(env.dataDir);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(env.dataDir, 'postgres'), persistent: true, stopStale: true });
    url = embedded.urlFor('distr');
  }
  const orm = await openOrm(url);
  try {
    const created = await createRecoveryAdminKey(orm.em.fork() as never, values);
    process.stdout.write(`New admin API key for "${created.organization}" (${created.email}), shown once:\n${created.apiKey}\n`);
  } finally {
    await orm.close();
  }
} catch (err) {
  if (err instanceof RecoveryError || err instanceof DataFolderInUseError || err instanceof EmbeddedPostgresError) {
    process.stderr.write(`admin-key: ${err.message}\n`);
  } else {
    process.stderr.write(`admin-key: ${(err as Error).message}\n`);
  }
  code = 1;
} finally {
  await embedded?.stop();
  release?.();
}
process.exit(code);
