/**
 * `viewer` (the console's first query on every page): user and organization come from one plain
 * SQL statement per request (OrganizationService.viewer), only when selected, and always the
 * caller's own.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { seedOrganization, startTestHub, type TestHub } from './testkit/hub.js';
import { ok } from './testkit/flow.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('viewer'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

const VIEWER = `{ viewer { role user { id email name } organization { id name } } }`;

test("each key sees its own user and organization, with the key's role cap", async () => {
  const a = await seedOrganization(hub.em(), 'Viewer Alpha');
  const b = await seedOrganization(hub.em(), 'Viewer Beta', 'read_only');
  const va = (await ok(hub.url, VIEWER, {}, a.apiKey)).viewer;
  const vb = (await ok(hub.url, VIEWER, {}, b.apiKey)).viewer;
  expect(va).toMatchObject({ role: 'admin', user: { email: 'admin@vieweralpha.test', name: 'Viewer Alpha' }, organization: { id: a.organizationId, name: 'Viewer Alpha' } });
  expect(vb).toMatchObject({ role: 'read_only', user: { email: 'admin@viewerbeta.test', name: 'Viewer Beta' }, organization: { id: b.organizationId, name: 'Viewer Beta' } });
  expect(va.user.id).not.toBe(vb.user.id);
});

test('user and organization cost one statement beyond authentication, and none when not selected', async () => {
  const knex = (hub.hub.orm.em.getConnection() as any).getKnex();
  const sql: string[] = [];
  const onQuery = (q: { sql: string }) => sql.push(q.sql);
  knex.on('query', onQuery);
  const statements = async (query: string) => {
    sql.splice(0);
    await ok(hub.url, query, {}, hub.apiKey);
    return sql.splice(0);
  };
  try {
    await statements(`{ __typename }`); // may also record the key's last use (once a minute)
    const authentication = (await statements(`{ __typename }`)).length;
    expect((await statements(`{ viewer { role } }`)).length).toBe(authentication);
    const full = await statements(VIEWER);
    expect(full.length).toBe(authentication + 1);
    expect(full.at(-1)).toMatch(/\/\* viewer \*\//);
  } finally {
    knex.off('query', onQuery);
  }
});
