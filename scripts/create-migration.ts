/**
 * Generates a migration from the entity definitions with the MikroORM migrator, against a
 * throwaway embedded PostgreSQL that first receives the existing migrations.
 * Usage: npm run migration:create -- [name] [--blank]  (--blank: an empty migration for SQL the
 * entities cannot express, such as triggers)
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../server/db/embedded.js';
import { openOrm } from '../server/db/orm.js';

const blank = process.argv.includes('--blank');
const name = process.argv.slice(2).find((a) => !a.startsWith('--'));
const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-migration-'));
const db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
try {
  await db.createDatabase('scratch');
  const orm = await openOrm(db.urlFor('scratch'));
  try {
    const migrator = orm.getMigrator();
    await migrator.up();
    const result = await migrator.createMigration(undefined, blank, false, name);
    console.log(result.fileName ? `created migrations/${result.fileName}` : 'no changes: no migration created');
  } finally {
    await orm.close();
  }
} finally {
  await db.stop();
}
