/**
 * Issue 9's security items, against a real hub (and a second hub process on the same database),
 * real PostgreSQL and real websockets: API keys end on every replica when revoked or expired and
 * each socket operation is authorized anew; one auth rule; CORS only for configured origins;
 * bounded login limiter; install commands that keep the secret off command lines.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import { createClient, type Client } from 'graphql-ws';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { LoginRateLimiter } from '../server/auth/rate-limit.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, seedOrganization, spawnHub, startTestHub, type HubProcess, type TestHub } from './testkit/hub.js';
import { createAccess, createTarget, gql, ok } from './testkit/flow.js';
import { agentLogin } from './testkit/agent-socket.js';

let pg: TestPostgres;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  pg = await startTestPostgres();
});
afterAll(async () => {
  await pg?.stop();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** A long keepalive: these tests assert how sockets close, and a loaded machine can miss a 2 s pong. */
const KEEPALIVE = { DISTR_KEEPALIVE_SECONDS: '60' };

async function hubInProcess(env: Record<string, string> = {}): Promise<TestHub> {
  const hub = await startTestHub(await pg.freshDatabase('sec'), { ...KEEPALIVE, ...env });
  cleanups.push(() => hub.close());
  return hub;
}

/** A vendor's graphql-ws socket: run operations over it and see how it closes. */
interface VendorSocket {
  client: Client;
  closed: Promise<{ code: number; reason: string }>;
  run(query: string): Promise<any>;
}

function vendorSocket(url: string, key: string, headers: Record<string, string> = {}): VendorSocket {
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  const client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: class extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers });
      }
    },
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { closed: (e: any) => resolveClosed({ code: e?.code, reason: e?.reason }) },
  });
  cleanups.push(() => client.dispose() as Promise<void>);
  return {
    client,
    closed,
    run: (query) =>
      new Promise((resolve, reject) => {
        let result: unknown;
        client.subscribe({ query }, { next: (v) => (result = v), error: (e) => reject(e), complete: () => resolve(result) });
      }),
  };
}

async function createKey(url: string, key: string, name: string, expiresAt?: Date) {
  const data = await ok(
    url,
    `mutation($n: String!, $at: DateTime) { createApiKey(name: $n, expiresAt: $at) { __typename ... on CreatedApiKey { secret apiKey { id } } } }`,
    { n: name, at: expiresAt?.toISOString() ?? null },
    key,
  );
  return { secret: data.createApiKey.secret as string, id: data.createApiKey.apiKey.id as string };
}

describe('item 1: API keys on open websockets', () => {
  test('revoking a key on one hub process closes its socket on another at once; the key cannot mint keys there', async () => {
    const databaseUrl = await pg.freshDatabase('sec');
    const a = await startTestHub(databaseUrl, KEEPALIVE);
    cleanups.push(() => a.close());
    const b: HubProcess = await spawnHub(databaseUrl, { env: KEEPALIVE });
    cleanups.push(() => b.stop());

    const key = await createKey(a.url, a.apiKey, 'laptop');
    const socket = vendorSocket(b.url, key.secret);
    expect((await socket.run(`{ viewer { role } }`)).data.viewer.role).toBe('admin');
    const subscription = vendorSocket(b.url, key.secret);
    const events = subscription.run(`subscription { organizationEvents { kind } }`).catch((e) => e);

    await ok(a.url, `mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }`, { id: key.id }, a.apiKey);
    expect(await socket.closed).toEqual({ code: 4401, reason: 'API key revoked' });
    expect((await subscription.closed).code).toBe(4401);
    await events;

    const again = vendorSocket(b.url, key.secret);
    const minted = await again.run(`mutation { createApiKey(name: "escalate") { __typename } }`).catch((e) => e);
    expect(minted).toBeDefined();
    expect((await again.closed).code).toBe(4401);
    const keys = await a.em().execute(`select name from api_key order by created_at`);
    expect(keys.map((k: any) => k.name)).toEqual(['bootstrap', 'laptop']);
  });

  test('every operation on a socket is authorized against the key as it is now (revoked without an event, role lowered)', async () => {
    const hub = await hubInProcess();
    const key = await createKey(hub.url, hub.apiKey, 'ci');
    const socket = vendorSocket(hub.url, key.secret);
    expect((await socket.run(`mutation { createApplication(input: {name: "one", type: docker}) { __typename } }`)).data.createApplication.__typename).toBe('Application');

    // The membership is lowered: the next operation on the same socket is refused.
    await hub.em().execute(`update membership set role = 'read_only'`);
    const write = await socket.run(`mutation { createApplication(input: {name: "two", type: docker}) { __typename } }`);
    expect(write.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await hub.em().execute(`update membership set role = 'admin'`);

    // Revoked behind the hub's back (no bus event): the next operation is refused and ends the socket.
    await hub.em().execute(`update api_key set revoked_at = now() where id = ?`, [key.id]);
    const refused = await socket.run(`mutation { createApiKey(name: "escalate") { __typename } }`).catch((e) => e);
    expect(JSON.stringify(refused)).toMatch(/API key invalid, expired or revoked/);
    expect((await socket.closed).code).toBe(4401);
    expect((await hub.em().execute(`select count(*)::int as n from api_key`))[0].n).toBe(2);
    expect((await hub.em().execute(`select name from application`)).map((r: any) => r.name)).toEqual(['one']);
  });

  test('a key that expires while its socket is open closes the socket when it expires', async () => {
    const hub = await hubInProcess();
    const key = await createKey(hub.url, hub.apiKey, 'short', new Date(Date.now() + 6000));
    const socket = vendorSocket(hub.url, key.secret);
    expect((await socket.run(`{ viewer { role } }`)).data.viewer.role).toBe('admin');
    expect(await socket.closed).toEqual({ code: 4401, reason: 'API key expired' });
  });
});

describe('item 17: one auth rule', () => {
  test('no or bad credential: 401 UNAUTHENTICATED; valid credential without the right: 403 FORBIDDEN; the same on websockets', async () => {
    const hub = await hubInProcess();
    const readOnly = await seedOrganization(hub.em(), 'Readers', 'read_only');
    const revoked = await createKey(hub.url, hub.apiKey, 'old');
    await ok(hub.url, `mutation($id: ID!) { revokeApiKey(id: $id) { __typename } }`, { id: revoked.id }, hub.apiKey);
    const target = await createTarget(hub.url, hub.apiKey, { name: 'host', type: 'docker' });
    const access = await createAccess(hub.url, hub.apiKey, target.id);
    const agentToken = await agentLogin(hub.url, target.id, access.secret);

    const query = `{ applications { edges { node { id } } } }`;
    const write = `mutation { createApplication(input: {name: "x", type: docker}) { __typename } }`;
    const cases: [string, string | null, string, number, string][] = [
      ['no credential', null, query, 401, 'UNAUTHENTICATED'],
      ['a malformed key', 'not-a-key', query, 401, 'UNAUTHENTICATED'],
      ['an unknown key', `distr_${randomUUID()}_${'a'.repeat(43)}`, query, 401, 'UNAUTHENTICATED'],
      ['a revoked key', revoked.secret, query, 401, 'UNAUTHENTICATED'],
      ['a read-only key writing', readOnly.apiKey, write, 403, 'FORBIDDEN'],
      ['an agent token on a vendor query', agentToken, query, 403, 'FORBIDDEN'],
    ];
    for (const [what, bearer, q, status, code] of cases) {
      const res = await gql(hub.url, q, {}, bearer);
      expect({ what, status: res.status, code: res.errors?.[0]?.extensions?.code }).toEqual({ what, status, code });
    }
    expect((await gql(hub.url, query, {}, readOnly.apiKey)).status).toBe(200);
    expect((await vendorSocket(hub.url, revoked.secret).closed).code).toBe(4401);
    expect((await vendorSocket(hub.url, 'not-a-key').closed).code).toBe(4401);
  });
});

describe('item 5: CORS and anonymous introspection', () => {
  test('without configured origins no cross-origin caller is answered with CORS headers, and foreign websocket upgrades are refused', async () => {
    const hub = await hubInProcess();
    const preflight = await fetch(`${hub.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    const post = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json', authorization: `Bearer ${hub.apiKey}` },
      body: JSON.stringify({ query: '{ viewer { role } }' }),
    });
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
    const foreign = vendorSocket(hub.url, hub.apiKey, { origin: 'https://evil.example' });
    expect((await foreign.closed).code).not.toBe(1000);
    const own = vendorSocket(hub.url, hub.apiKey, { origin: hub.url.replace('127.0.0.1', '127.0.0.1') });
    expect((await own.run('{ viewer { role } }')).data.viewer.role).toBe('admin');
  });

  test('a configured origin is allowed with credentials; others still are not', async () => {
    const hub = await hubInProcess({ DISTR_CORS_ORIGINS: 'https://console.example, http://localhost:3000' });
    const preflight = (origin: string) =>
      fetch(`${hub.url}/graphql`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } });
    const allowed = await preflight('https://console.example');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://console.example');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const ws = vendorSocket(hub.url, hub.apiKey, { origin: 'http://localhost:3000' });
    expect((await ws.run('{ viewer { role } }')).data.viewer.role).toBe('admin');
  });

  test('introspection and the GraphiQL page are open to anonymous callers (documented policy); data is not', async () => {
    const hub = await hubInProcess();
    const schema = await gql(hub.url, `{ __schema { queryType { name } } __type(name: "Deployment") { name } }`, {}, null);
    expect(schema.status).toBe(200);
    expect(schema.data).toEqual({ __schema: { queryType: { name: 'Query' } }, __type: { name: 'Deployment' } });
    expect((await fetch(`${hub.url}/graphql`, { headers: { accept: 'text/html' } })).status).toBe(200);
    expect((await gql(hub.url, `{ viewer { role } }`, {}, null)).status).toBe(401);
  });

  test('a malformed origin setting stops the hub with a message naming it', async () => {
    await expect(startTestHub(await pg.freshDatabase('sec'), { DISTR_CORS_ORIGINS: 'https://ok.example,*' })).rejects.toThrow(/DISTR_CORS_ORIGINS/);
  });
});

describe('item 3: agent login limiter memory', () => {
  test('made-up and malformed target ids never enter the limiter; a real target is still limited', async () => {
    const hub = await hubInProcess();
    const login = (t: string, s = 'wrong') => gql(hub.url, `mutation($t: ID!, $s: String!) { agentLogin(targetId: $t, secret: $s) { token } }`, { t, s });
    for (let batch = 0; batch < 6; batch++) {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => login(i % 2 === 0 ? randomUUID() : `not-a-uuid-${batch}-${i}`, i % 5 === 0 ? 'x'.repeat(10_000) : 'wrong')),
      );
      expect(results.every((r) => r.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    }
    expect(hub.hub.runtime.loginLimiter.size).toBe(0);
    const target = await createTarget(hub.url, hub.apiKey, { name: 'host', type: 'docker' });
    await createAccess(hub.url, hub.apiKey, target.id);
    for (let i = 0; i < 10; i++) await login(target.id);
    expect((await login(target.id)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(hub.hub.runtime.loginLimiter.size).toBe(1);
  });

  test('the limiter keeps at most maxKeys keys and maxFailures timestamps per key', () => {
    const limiter = new LoginRateLimiter(3, 60_000, 100);
    for (let i = 0; i < 20_000; i++) limiter.recordFailure(`k${i}`, 1_000);
    expect(limiter.size).toBe(100);
    expect(limiter.retryAfter('k0', 2_000)).toBe(0); // evicted: the least recently failed go first
    // Five failures 10 s apart: only the last three are kept, so the wait runs from the third.
    for (let i = 0; i < 5; i++) limiter.recordFailure('hot', 10_000 * (i + 1));
    expect(limiter.retryAfter('hot', 50_000)).toBe(40);
    expect(limiter.size).toBe(100);
  });
});

describe('item 6: install commands keep the agent secret off command lines', () => {
  test.each(['docker', 'kubernetes'] as const)('%s: the command holds no secret; run, it stores the secret in a 0600 file the agent or helm reads', async (type) => {
    const hub = await hubInProcess();
    const target = await createTarget(hub.url, hub.apiKey, type === 'docker' ? { name: 'host', type } : { name: 'cluster', type, namespace: 'shop', scope: 'namespace' });
    const access = await createAccess(hub.url, hub.apiKey, target.id);
    expect(access.installCommand).not.toContain(access.secret);

    // Run it as a user would paste it, with `docker`/`helm` replaced by a recorder of their argv.
    const home = await mkdtemp(path.join(os.tmpdir(), 'distr-install-'));
    cleanups.push(() => rm(home, { recursive: true, force: true }));
    const bin = path.join(home, 'bin');
    await mkdir(bin, { recursive: true });
    for (const tool of ['docker', 'helm']) {
      await writeFile(path.join(bin, tool), `#!/bin/sh\nprintf '%s\\n' "$@" > "$HOME/${tool}.argv"\n`);
      await chmod(path.join(bin, tool), 0o755);
    }
    const run = await execa('bash', ['-c', access.installCommand], {
      env: { HOME: home, PATH: `${bin}:${process.env.PATH}` },
      input: `${access.secret}\n`,
      reject: false,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const argv = await readFile(path.join(home, type === 'docker' ? 'docker.argv' : 'helm.argv'), 'utf8');
    expect(argv).not.toContain(access.secret);
    const secretFile = path.join(home, '.distr-agent', `${target.id}.secret`);
    expect(await readFile(secretFile, 'utf8')).toBe(access.secret);
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
    if (type === 'docker') {
      expect(argv).toContain(`${secretFile}:/run/secrets/distr-agent-secret:ro`);
      expect(argv).toContain('DISTR_TARGET_SECRET_FILE=/run/secrets/distr-agent-secret');
    } else {
      expect(argv).toContain(`target.secret=${secretFile}`);
    }
  });
});

describe('item 4: membership across organizations needs the invited user to accept', () => {
  const INVITE = `mutation($e: String!, $r: Role!, $n: String!) { addMember(email: $e, name: $n, role: $r) { __typename ... on CreatedInvitation { token invitation { id email role } } ... on Error { message } } }`;
  const ACCEPT = `mutation($t: String!) { acceptInvitation(token: $t) { __typename ... on AcceptedInvitation { member { role user { email } } apiKey { secret } } ... on Error { message } ... on InvalidInputError { field } } }`;

  test("addMember with another organization's user's e-mail adds nobody and reveals nothing; the invited user joins by accepting once", async () => {
    const hub = await hubInProcess();
    const other = await seedOrganization(hub.em(), 'Other'); // its admin is admin@other.test
    const stranger = await ok(hub.url, INVITE, { e: 'admin@other.test', n: 'Whoever', r: 'read_write' }, hub.apiKey);
    const unknown = await ok(hub.url, INVITE, { e: 'nobody@nowhere.test', n: 'Whoever', r: 'read_write' }, hub.apiKey);
    // The same shape whether the address has an account or not: no id, no name, no user.
    const shape = (r: any) => ({ ...r.addMember, token: typeof r.addMember.token, invitation: { ...r.addMember.invitation, id: typeof r.addMember.invitation.id, email: undefined } });
    expect(shape(stranger)).toEqual(shape(unknown));
    expect(JSON.stringify(stranger)).not.toMatch(/Other|user/);
    const members = await ok(hub.url, `{ viewer { organization { members { user { email } } } } }`, {}, hub.apiKey);
    expect(members.viewer.organization.members.map((m: any) => m.user.email)).toEqual(['admin@localhost']);
    // Only a hash of the token is stored.
    const token: string = stranger.addMember.token;
    expect(JSON.stringify(await hub.em().execute(`select * from invitation`))).not.toContain(token.slice('distr_inv_'.length));

    const accepted = await ok(hub.url, ACCEPT, { t: token }, null);
    expect(accepted.acceptInvitation).toMatchObject({ __typename: 'AcceptedInvitation', member: { role: 'read_write', user: { email: 'admin@other.test' } } });
    const theirKey: string = accepted.acceptInvitation.apiKey.secret;
    const viewer = await ok(hub.url, `{ viewer { role organization { name } } }`, {}, theirKey);
    expect(viewer.viewer).toEqual({ role: 'read_write', organization: { name: 'Default organization' } });
    // Their own organization is untouched, and the token is spent.
    expect((await ok(hub.url, `{ viewer { organization { name } } }`, {}, other.apiKey)).viewer.organization.name).toBe('Other');
    const again = await ok(hub.url, ACCEPT, { t: token }, null);
    expect(again.acceptInvitation).toMatchObject({ __typename: 'InvalidInputError', field: 'token', message: expect.stringMatching(/invalid, already used, expired or revoked/) });
    expect((await hub.em().execute(`select count(*)::int as n from membership`))[0].n).toBe(3);
  });

  test('invitations: admins only, listed while pending, revocable, expire; a member cannot be invited twice', async () => {
    const hub = await hubInProcess();
    const readOnly = await createKey(hub.url, hub.apiKey, 'ro');
    await hub.em().execute(`update api_key set role_cap = 'read_only' where id = ?`, [readOnly.id]);
    const invite = (e: string, key = hub.apiKey) =>
      gql(hub.url, `mutation($e: String!) { inviteMember(email: $e, role: read_only) { __typename ... on CreatedInvitation { token invitation { id } } ... on Error { message } } }`, { e }, key);
    expect((await invite('x@y.test', readOnly.secret)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const first = (await invite('x@y.test')).data!.inviteMember;
    const second = (await invite('X@y.test ')).data!.inviteMember; // same address: the first token is replaced
    const pending = await ok(hub.url, `{ invitations { id email } }`, {}, hub.apiKey);
    expect(pending.invitations).toEqual([{ id: second.invitation.id, email: 'x@y.test' }]);
    expect((await ok(hub.url, ACCEPT, { t: first.token }, null)).acceptInvitation.__typename).toBe('InvalidInputError');
    await ok(hub.url, `mutation($id: ID!) { revokeInvitation(id: $id) { __typename } }`, { id: second.invitation.id }, hub.apiKey);
    expect((await ok(hub.url, ACCEPT, { t: second.token }, null)).acceptInvitation.__typename).toBe('InvalidInputError');
    const third = (await invite('x@y.test')).data!.inviteMember;
    await hub.em().execute(`update invitation set expires_at = now() - interval '1 second' where id = ?`, [third.invitation.id]);
    expect((await ok(hub.url, ACCEPT, { t: third.token }, null)).acceptInvitation.__typename).toBe('InvalidInputError');
    expect((await invite('admin@localhost')).data!.inviteMember).toMatchObject({ __typename: 'ConflictError' });
    expect((await hub.em().execute(`select count(*)::int as n from membership`))[0].n).toBe(1);
  });
});

describe('item 27: a lost admin key is replaced on the server', () => {
  test('npm run admin-key prints a new admin key for the only organization; with several it asks which', async () => {
    const hub = await hubInProcess();
    const databaseUrl = hub.hub.orm.config.get('clientUrl')!;
    const run = (args: string[]) => execa(process.execPath, ['--import', 'tsx', 'scripts/admin-key.ts', ...args], { cwd: repoRoot, env: { DATABASE_URL: databaseUrl }, reject: false });
    const first = await run([]);
    expect(first.exitCode, first.stderr).toBe(0);
    const key = /^(distr_\S+)$/m.exec(first.stdout)?.[1];
    expect(first.stdout).toContain('New admin API key for "Default organization" (admin@localhost), shown once:');
    expect((await ok(hub.url, `{ viewer { role } }`, {}, key!)).viewer.role).toBe('admin');

    await seedOrganization(hub.em(), 'Second');
    const ambiguous = await run([]);
    expect(ambiguous.exitCode).toBe(1);
    expect(ambiguous.stderr).toMatch(/^admin-key: there are 2 organizations .*choose one with --organization/);
    const chosen = await run(['--organization', 'Second']);
    expect(chosen.stdout).toContain('New admin API key for "Second" (admin@second.test)');
  });
});
