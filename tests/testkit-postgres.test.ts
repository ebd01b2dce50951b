import { afterAll, beforeAll, expect, test } from 'vitest';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';

let server: TestPostgres;
beforeAll(async () => { server = await startTestPostgres(); });
afterAll(async () => { await server.stop(); });

test('fresh databases are separate', async () => {
  const a = await server.freshDatabase();
  const b = await server.freshDatabase();
  expect(a).not.toBe(b);
  const c = new pg.Client({ connectionString: a });
  await c.connect();
  const r = await c.query('select 1 as one');
  expect(r.rows[0].one).toBe(1);
  await c.end();
});
