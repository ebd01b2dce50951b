import { Migrator } from '@mikro-orm/migrations';
import type { Options } from '@mikro-orm/core';
import { MikroORM, type PostgreSqlDriver } from '@mikro-orm/postgresql';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { entities } from './entities.js';
import { PACKAGE_ROOT, RUNNING_COMPILED } from '../paths.js';

// Compiled, the migrations are JavaScript next to the bundle (scripts/build-hub.ts); from the
// sources they are the TypeScript files in migrations/.
const migrationsDir = RUNNING_COMPILED ? fileURLToPath(new URL('./migrations', import.meta.url)) : path.join(PACKAGE_ROOT, 'migrations');

export function ormOptions(databaseUrl: string, extra: Partial<Options<PostgreSqlDriver>> = {}): Options<PostgreSqlDriver> {
  return {
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    // Loading .ts migrations under vitest needs the runtime's own import.
    dynamicImportProvider: (id: string) => import(id),
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      glob: '!(*.d).{js,ts}',
      transactional: true,
      silent: true,
      snapshot: true,
      snapshotName: '.snapshot',
      fileName: (timestamp: string, name?: string) => `Migration${timestamp}${name ? '_' + name : ''}`,
    },
    pool: { min: 0, max: 20 },
    debug: false,
    allowGlobalContext: false,
    ...extra,
  };
}

export type Orm = MikroORM;

export async function openOrm(databaseUrl: string, extra: Partial<Options<PostgreSqlDriver>> = {}): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, extra));
}

/** Arbitrary but fixed key: every hub replica takes the same advisory lock to migrate. */
const MIGRATION_LOCK_KEY = 0x64697374; // "dist"

/**
 * Apply pending migrations under a Postgres advisory lock, so replicas starting together migrate
 * once and the others wait, then find nothing to do.
 */
export async function migrate(orm: Orm): Promise<string[]> {
  const knex = orm.em.getConnection().getKnex();
  // A session-level lock must be taken and released on the same connection.
  const conn = await knex.client.acquireConnection();
  try {
    await conn.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await orm.getMigrator().up();
      return applied.map((m) => path.basename(m.name));
    } finally {
      await conn.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await knex.client.releaseConnection(conn);
  }
}

export async function pendingMigrations(orm: Orm): Promise<number> {
  return (await orm.getMigrator().getPendingMigrations()).length;
}
