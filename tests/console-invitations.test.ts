/**
 * Joining from the console: POST /auth/accept-invitation {token, password, name?} spends the
 * invitation and opens a session in the inviting organization. A new account gets the password; an
 * existing account must give its own, and a refused attempt spends nothing.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { seedOrganization, startTestHub, type TestHub } from './testkit/hub.js';
import { User } from '../server/orgs/entities.js';
import { hashPassword } from '../server/auth/passwords.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('console_invitations'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${hub.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any, cookie: res.headers.get('set-cookie')?.split(';')[0] ?? null };
}

async function invite(email: string, role = 'read_write', apiKey = hub.apiKey): Promise<string> {
  const res = await fetch(`${hub.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query: `mutation($e: String!, $r: Role!) { inviteMember(email: $e, role: $r) { __typename ... on CreatedInvitation { token } } }`, variables: { e: email, r: role } }),
  });
  const body = (await res.json()) as any;
  expect(body.data?.inviteMember?.__typename, JSON.stringify(body)).toBe('CreatedInvitation');
  return body.data.inviteMember.token;
}

async function viewer(cookie: string, csrf: string) {
  const res = await fetch(`${hub.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf }, body: JSON.stringify({ query: '{ viewer { role user { email name } organization { name } } }' }) });
  const body = (await res.json()) as any;
  expect(body.errors).toBeUndefined();
  return body.data.viewer;
}

test('a new person accepts with a password: member with the invited role, signed in, and can sign in again', async () => {
  const token = await invite('new.person@example.com', 'read_only');
  const short = await post('/auth/accept-invitation', { token, password: 'short', name: 'New Person' });
  expect(short).toMatchObject({ status: 400, body: { error: 'password: must be at least 10 characters' }, cookie: null });
  const accepted = await post('/auth/accept-invitation', { token, password: 'a long enough password', name: 'New Person' });
  expect(accepted.status).toBe(200);
  expect(accepted.body).toMatchObject({ user: { email: 'new.person@example.com', name: 'New Person' }, role: 'read_only', organization: { name: 'Default organization' } });
  expect(await viewer(accepted.cookie!, accepted.body.csrfToken)).toMatchObject({ role: 'read_only', user: { email: 'new.person@example.com' } });
  const again = await post('/auth/accept-invitation', { token, password: 'a long enough password' });
  expect(again).toMatchObject({ status: 400, body: { error: 'token: this invitation is invalid, already used, expired or revoked' } });
  const login = await post('/auth/login', { email: 'new.person@example.com', password: 'a long enough password' });
  expect(login.status).toBe(200);
});

test('an existing account must give its own password; a wrong one spends nothing; the session opens in the inviting organization', async () => {
  const other = await seedOrganization(hub.em(), 'Partner Org');
  const em = hub.em();
  em.create(User, { email: 'known@example.com', name: 'Known', passwordHash: await hashPassword('the known password') });
  await em.flush();
  const token = await invite('known@example.com', 'admin', other.apiKey);
  const wrong = await post('/auth/accept-invitation', { token, password: 'not the known password' });
  expect(wrong).toMatchObject({ status: 400, body: { error: 'password: wrong password for the existing account known@example.com' }, cookie: null });
  const right = await post('/auth/accept-invitation', { token, password: 'the known password' });
  expect(right.status).toBe(200);
  expect(await viewer(right.cookie!, right.body.csrfToken)).toMatchObject({ role: 'admin', organization: { name: 'Partner Org' }, user: { name: 'Known' } });
});

test('wrong passwords for an existing account count as failed sign-ins of that address (rate limited)', async () => {
  const em = hub.em();
  em.create(User, { email: 'guarded@example.com', name: 'Guarded', passwordHash: await hashPassword('the guarded password') });
  await em.flush();
  const other = await seedOrganization(hub.em(), 'Guessing Org');
  const token = await invite('guarded@example.com', 'read_only', other.apiKey);
  let last = 0;
  for (let i = 0; i < 11 && last !== 429; i++) last = (await post('/auth/accept-invitation', { token, password: `guess ${i} xxxxxxxx` })).status;
  expect(last).toBe(429);
  // The sign-in form shares the limit; the token is still unspent.
  expect((await post('/auth/login', { email: 'guarded@example.com', password: 'the guarded password' })).status).toBe(429);
});

test('bad bodies and other origins are refused with a message', async () => {
  expect(await post('/auth/accept-invitation', { token: 'distr_inv_x' })).toMatchObject({ status: 400, body: { error: 'token and password are required (name optional)' } });
  expect(await post('/auth/accept-invitation', { token: 'nope', password: 'a long enough password' })).toMatchObject({ status: 400, body: { error: 'token: this invitation is invalid, already used, expired or revoked' } });
  const token = await invite('cross@example.com');
  expect(await post('/auth/accept-invitation', { token, password: 'a long enough password' }, { origin: 'http://evil.example' })).toMatchObject({ status: 403 });
  expect((await post('/auth/accept-invitation', { token, password: 'a long enough password' })).status).toBe(200);
});
