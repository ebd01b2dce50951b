import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../server/db/embedded.js';

/**
 * One PostgreSQL server per test file (embedded, or the server in TEST_DATABASE_URL), and a fresh
 * database per test so tests never share rows.
 */
export interface TestPostgres {
  /** Create an empty database and return its URL. */
  freshDatabase(prefix?: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const external = process.env.TEST_DATABASE_URL;
  let embedded: EmbeddedDatabase | null = null;
  let serverUrl: string;
  if (external) {
    serverUrl = external;
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-test-pg-'));
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    serverUrl = embedded.serverUrl;
  }
  return {
    async freshDatabase(prefix = 't') {
      const name = `${prefix}_${randomBytes(6).toString('hex')}`;
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async stop() {
      await embedded?.stop();
    },
  };
}
