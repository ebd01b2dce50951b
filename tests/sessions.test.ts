/**
 * People sign in to the console: e-mail + password (scrypt), an httpOnly SameSite=Strict session
 * cookie, CSRF tokens on cookie-authenticated writes, logout, roles applied like API keys'.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { ok } from './testkit/flow.js';
import { Membership, Organization, User } from '../server/orgs/entities.js';
import { hashPassword, passwordMatches } from '../server/auth/passwords.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('sessions'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

async function login(email: string, password: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${hub.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ email, password }) });
  const body = (await res.json()) as any;
  const cookie = res.headers.get('set-cookie');
  return { status: res.status, body, setCookie: cookie, cookie: cookie?.split(';')[0] ?? '' };
}

async function graphql(cookie: string, query: string, variables: Record<string, unknown> = {}, csrf?: string) {
  const res = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, ...(csrf ? { 'x-csrf-token': csrf } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

test('passwords: scrypt hashes with salt and parameters; short passwords refused', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  expect(a).toMatch(/^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  expect(a).not.toBe(b);
  expect(await passwordMatches('correct horse battery', a)).toBe(true);
  expect(await passwordMatches('correct horse batterY', a)).toBe(false);
  expect(await passwordMatches('anything', null)).toBe(false);
  await expect(hashPassword('short')).rejects.toThrow(/at least 10 characters/);
});

test('the first-run admin signs in; the cookie is httpOnly and SameSite=Strict; POSTs need the CSRF token', async () => {
  const wrong = await login(hub.admin.email, 'not the password');
  expect(wrong).toMatchObject({ status: 401, body: { error: 'e-mail or password is wrong' }, setCookie: null });
  const signed = await login(hub.admin.email.toUpperCase(), hub.admin.password);
  expect(signed.status).toBe(200);
  expect(signed.setCookie).toMatch(/^distr_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  expect(signed.body).toMatchObject({ user: { email: 'admin@localhost' }, role: 'admin', organization: { name: 'Default organization' } });
  const csrf = signed.body.csrfToken as string;
  expect(JSON.stringify(signed.body)).not.toContain(signed.cookie.split('=')[1]);

  const session = await fetch(`${hub.url}/auth/session`, { headers: { cookie: signed.cookie } });
  expect(await session.json()).toMatchObject({ csrfToken: csrf, role: 'admin' });

  const viewer = await graphql(signed.cookie, '{ viewer { role user { email } } }', {}, csrf);
  // Every cookie-authenticated POST needs the token, reads included; GET reads do not.
  expect((await graphql(signed.cookie, '{ viewer { role } }')).status).toBe(403);
  const get = await fetch(`${hub.url}/graphql?query=${encodeURIComponent('{ viewer { role } }')}`, { headers: { cookie: signed.cookie, accept: 'application/json' } });
  expect(await get.json()).toEqual({ data: { viewer: { role: 'admin' } } });
  expect(viewer.body.data.viewer).toEqual({ role: 'admin', user: { email: 'admin@localhost' } });
  const create = 'mutation { createApplication(input: {name: "web", type: docker}) { __typename } }';
  const noCsrf = await graphql(signed.cookie, create);
  expect(noCsrf.status).toBe(403);
  expect(noCsrf.body.errors[0].message).toMatch(/X-CSRF-Token/);
  const wrongCsrf = await graphql(signed.cookie, create, {}, 'nope');
  expect(wrongCsrf.status).toBe(403);
  const withCsrf = await graphql(signed.cookie, create, {}, csrf);
  expect(withCsrf.body.data.createApplication.__typename).toBe('Application');
  const revision = await graphql(signed.cookie, '{ applications { nodes { name } } }', {}, csrf);
  expect(revision.body.data.applications.nodes).toEqual([{ name: 'web' }]);

  // Logout needs the token too, then the cookie is worthless.
  expect((await fetch(`${hub.url}/auth/logout`, { method: 'POST', headers: { cookie: signed.cookie } })).status).toBe(403);
  const out = await fetch(`${hub.url}/auth/logout`, { method: 'POST', headers: { cookie: signed.cookie, 'x-csrf-token': csrf } });
  expect(out.status).toBe(204);
  expect(out.headers.get('set-cookie')).toMatch(/^distr_session=; .*Max-Age=0/);
  const after = await graphql(signed.cookie, '{ viewer { role } }', {}, csrf);
  expect(after.status).toBe(401);
  expect(after.body.errors[0].message).toMatch(/sign in again/);
});

test('roles apply to sessions: a read_only member reads but cannot write', async () => {
  // A member as an accepted invitation leaves one (fixture written directly).
  const em = hub.em();
  const organization = await em.findOneOrFail(Organization, { name: 'Default organization' });
  const reader = em.create(User, { email: 'reader@example.com', name: 'Reader', passwordHash: await hashPassword('reader password 1') });
  em.create(Membership, { organization, user: reader, role: 'read_only' });
  await em.flush();
  const signed = await login('reader@example.com', 'reader password 1');
  expect(signed.body.role).toBe('read_only');
  const read = await graphql(signed.cookie, '{ viewer { role } }', {}, signed.body.csrfToken);
  expect(read.body.data.viewer.role).toBe('read_only');
  const write = await graphql(signed.cookie, 'mutation { createApplication(input: {name: "x", type: docker}) { __typename } }', {}, signed.body.csrfToken);
  expect(write.body.errors[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
});

test('sign-in from another origin is refused; the session cookie opens websockets from the same origin only', async () => {
  const cross = await login(hub.admin.email, hub.admin.password, { origin: 'https://evil.example' });
  expect(cross).toMatchObject({ status: 403, setCookie: null });
  const signed = await login(hub.admin.email, hub.admin.password);
  const host = new URL(hub.url).host;
  const viewerOver = (origin: string) =>
    new Promise<any>((resolve) => {
      const client = createClient({
        url: `${hub.url.replace(/^http/, 'ws')}/graphql`,
        retryAttempts: 0,
        webSocketImpl: class extends WebSocket {
          constructor(url: string, protocols: string | string[]) {
            super(url, protocols, { headers: { cookie: signed.cookie, origin } });
          }
        },
      });
      client.subscribe({ query: '{ viewer { role } }' }, { next: (v) => resolve(v), error: (e) => resolve({ error: e }), complete: () => void client.dispose() });
    });
  expect(await viewerOver(`http://${host}`)).toEqual({ data: { viewer: { role: 'admin' } } });
  // Another site's page may not ride on the cookie: refused at the upgrade, or anonymous at best.
  const foreign = await viewerOver('https://evil.example');
  expect(foreign.data?.viewer).toBeUndefined();
});

test('failed sign-ins are rate limited per e-mail', async () => {
  let last = 0;
  for (let i = 0; i < 11; i++) last = (await login('victim@example.com', `guess ${i} xxxxxxxx`)).status;
  expect(last).toBe(429);
});
