/**
 * API-key authentication over HTTP with two hub replicas on one database (one in this process, one
 * its own OS process), real PostgreSQL: the key's state as committed decides every request, so a
 * revocation, an expiry or a lowered membership made anywhere applies to the very next request on
 * every replica, however often the key was used there before; a wrong secret for a real key id is
 * refused.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub, startTestHub, type HubProcess, type TestHub } from './testkit/hub.js';
import { gql, ok } from './testkit/flow.js';

let pg: TestPostgres;
let a: TestHub;
let b: HubProcess;
beforeAll(async () => {
  pg = await startTestPostgres();
  const databaseUrl = await pg.freshDatabase('keys');
  a = await startTestHub(databaseUrl);
  b = await spawnHub(databaseUrl);
});
afterAll(async () => {
  await b?.stop();
  await a?.close();
  await pg?.stop();
});

const VIEWER = `{ viewer { role user { email } } }`;
const WRITE = `mutation($n: String!) { createApplication(input: {name: $n, type: docker}) { __typename } }`;

async function createKey(name: string, expiresAt?: Date) {
  const data = await ok(
    a.url,
    `mutation($n: String!, $at: DateTime) { createApiKey(name: $n, expiresAt: $at) { __typename ... on CreatedApiKey { secret apiKey { id } } } }`,
    { n: name, at: expiresAt?.toISOString() ?? null },
    a.apiKey,
  );
  return { secret: data.createApiKey.secret as string, id: data.createApiKey.apiKey.id as string };
}

/** The request's HTTP status and first error code (none: answered). */
async function outcome(url: string, query: string, key: string, variables: Record<string, unknown> = {}) {
  const res = await gql(url, query, variables, key);
  return { status: res.status, code: res.errors?.[0]?.extensions?.code ?? null };
}

/** Use the key on both replicas a few times, as a dashboard does, so anything a replica keeps of it is warm. */
async function warm(key: string) {
  for (let i = 0; i < 5; i++) {
    for (const url of [a.url, b.url]) expect((await ok(url, VIEWER, {}, key)).viewer.role).toBe('admin');
  }
}

test('a key revoked on one replica is refused on the other at the very next request', async () => {
  const key = await createKey('dashboard');
  await warm(key.secret);
  await ok(a.url, `mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }`, { id: key.id }, a.apiKey);
  expect(await outcome(b.url, VIEWER, key.secret)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  expect(await outcome(a.url, VIEWER, key.secret)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  // The other keys are untouched.
  expect(await outcome(b.url, VIEWER, a.apiKey)).toEqual({ status: 200, code: null });
});

test('a key revoked or expired behind the hubs\' back (no event) is refused on both replicas at the next request', async () => {
  const revoked = await createKey('revoked-in-sql');
  const expiring = await createKey('expires', new Date(Date.now() + 3_600_000));
  await warm(revoked.secret);
  await warm(expiring.secret);
  await a.em().execute(`update api_key set revoked_at = now() where id = ?`, [revoked.id]);
  await a.em().execute(`update api_key set expires_at = now() - interval '1 second' where id = ?`, [expiring.id]);
  for (const url of [b.url, a.url]) {
    expect(await outcome(url, VIEWER, revoked.secret)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await outcome(url, VIEWER, expiring.secret)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  }
});

test("a lowered membership applies to the key's next write on both replicas; a wrong secret for a real key id is refused", async () => {
  const key = await createKey('ci');
  await warm(key.secret);
  const [{ user_id: userId }] = await a.em().execute(`select user_id from api_key where id = ?`, [key.id]);
  await a.em().execute(`update membership set role = 'read_only' where user_id = ?`, [userId]);
  try {
    for (const url of [b.url, a.url]) {
      expect(await outcome(url, WRITE, key.secret, { n: `app-${url.slice(-5)}` })).toEqual({ status: 403, code: 'FORBIDDEN' });
      expect((await ok(url, VIEWER, {}, key.secret)).viewer.role).toBe('read_only');
    }
  } finally {
    await a.em().execute(`update membership set role = 'admin' where user_id = ?`, [userId]);
  }
  expect((await a.em().execute(`select count(*)::int as n from application`))[0].n).toBe(0);

  const secret = key.secret.slice(-43);
  const wrong = key.secret.slice(0, -43) + (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
  for (const url of [b.url, a.url]) expect(await outcome(url, VIEWER, wrong)).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
});
