/**
 * Issue 9's hub-behaviour items on a real hub and real PostgreSQL: secrets never reach the log
 * (item 2), hostile text is a typed error naming the field (item 15), a database outage is a 503
 * with a typed code and no address (item 16).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startEmbeddedPostgres } from '../server/db/embedded.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { eventually } from './testkit/agent-process.js';
import { agentLogin, reportStatus } from './testkit/agent-socket.js';
import {
  COMPOSE_TWO_SERVICES,
  createAccess,
  createApplication,
  createDeployment,
  createDockerVersion,
  createKubernetesVersion,
  createTarget,
  gql,
  seedDockerSetup,
} from './testkit/flow.js';

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

async function hubInProcess(opts: { logLines?: string[] } = {}): Promise<TestHub> {
  const hub = await startTestHub(await pg.freshDatabase('fail'), {}, opts);
  cleanups.push(() => hub.close());
  return hub;
}

async function count(hub: TestHub, table: string): Promise<number> {
  return (await hub.em().execute(`select count(*)::int as n from ${table}`))[0].n;
}

describe('item 2: secrets never reach the log', () => {
  test('a failing statement is logged without its bound values (an env file password stays out of the log)', async () => {
    const logLines: string[] = [];
    const hub = await hubInProcess({ logLines });
    const { version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    // Make the next revision insert fail inside PostgreSQL, as an unexpected database error would.
    await hub.em().execute(`create function distr_test_fail() returns trigger language plpgsql as $$ begin raise exception 'injected failure for the test'; end $$`);
    await hub.em().execute(`create trigger distr_test_fail before insert on deployment_revision for each row execute function distr_test_fail()`);

    const password = 'hunter2-Sup3r-s3cret-value';
    const res = await gql(
      hub.url,
      `mutation($input: CreateDeploymentInput!) { createDeployment(input: $input) { __typename } }`,
      { input: { targetId: target.id, versionId: version.id, docker: { composeType: 'compose', envFile: `DB_PASSWORD=${password}\n` } } },
      hub.apiKey,
    );
    expect(res.errors?.[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL' } });
    const log = logLines.join('');
    expect(log).toContain('injected failure for the test'); // the failure itself is logged…
    expect(log).toContain('"sqlState":"P0001"');
    expect(log).not.toContain(password); // …its values are not
    expect(log).not.toContain(hub.apiKey);
  });
});

describe('item 15: hostile text is a typed error naming the field', () => {
  test.each([
    ['a NUL byte in a name', 'name', 'sh\u0000op', /name: contains a NUL byte at character 3/],
    ['a lone surrogate in a name', 'name', 'shop\ud800', /name: contains an unpaired UTF-16 surrogate/],
  ])('%s', async (_what, field, name, message) => {
    const hub = await hubInProcess();
    const res = await createApplication(hub.url, hub.apiKey, name, 'docker');
    expect(res).toMatchObject({ __typename: 'InvalidInputError', field });
    expect(res.message).toMatch(message);
    expect(await count(hub, 'application')).toBe(0);
  });

  test('compose, env template, values, chart fields and deployment env files: NUL, surrogates, alias bombs and unknown tags', async () => {
    const hub = await hubInProcess();
    const app = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n') + '\n';
    const cases: [string | undefined, string | undefined, string, RegExp][] = [
      [COMPOSE_TWO_SERVICES.replace('echo web up', 'echo web\u0000up'), undefined, 'composeFile', /NUL byte/],
      [COMPOSE_TWO_SERVICES, 'GREETING=hi\ud83d\n', 'envTemplate', /unpaired UTF-16 surrogate/],
      [`services:\n  web:\n    image: busybox\n${bomb}`, undefined, 'composeFile', /too many YAML aliases/],
      [`services:\n  web:\n    image: !vault secret/path\n`, undefined, 'composeFile', /unknown YAML tag.*!vault/],
    ];
    for (const [compose, env, field, message] of cases) {
      const res = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', compose!, env);
      expect({ field, typename: res.__typename, got: res.field }).toEqual({ field, typename: 'InvalidInputError', got: field });
      expect(res.message).toMatch(message);
    }
    // Compose's own merge tags are YAML it understands.
    const reset = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', `services:\n  web:\n    image: busybox\n    ports: !reset []\n`);
    expect(reset.__typename).toBe('ApplicationVersion');

    const k8s = await createApplication(hub.url, hub.apiKey, 'chart', 'kubernetes');
    const base = { applicationId: k8s.id, name: '1.0.0', chartType: 'oci', chartUrl: 'oci://registry.example/charts/shop', chartVersion: '1.0.0' };
    const k8sCases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...base, chartVersion: '1.0.0\u0000' }, 'chartVersion', /NUL byte/],
      [{ ...base, baseValues: bomb }, 'baseValues', /too many YAML aliases/],
      [{ ...base, valuesTemplate: 'a: !!python/object:os.system x\n' }, 'valuesTemplate', /unknown YAML tag/],
    ];
    for (const [input, field, message] of k8sCases) {
      const res = await createKubernetesVersion(hub.url, hub.apiKey, input);
      expect({ field, typename: res.__typename, got: res.field }).toEqual({ field, typename: 'InvalidInputError', got: field });
      expect(res.message).toMatch(message);
    }
    expect(await count(hub, 'application_version')).toBe(1);

    const target = await createTarget(hub.url, hub.apiKey, { name: 'host', type: 'docker' });
    const dep = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: reset.id, docker: { composeType: 'compose', envFile: 'A=\u0000\n' } });
    expect(dep).toMatchObject({ __typename: 'InvalidInputError', field: 'docker.envFile' });
    expect(await count(hub, 'deployment')).toBe(0);
  });

  test('a status message from an agent with a NUL byte is refused with a typed error naming it', async () => {
    const hub = await hubInProcess();
    const { version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    const access = await createAccess(hub.url, hub.apiKey, target.id);
    const dep = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
    const token = await agentLogin(hub.url, target.id, access.secret);
    const res = await reportStatus(hub.url, token, [{ deploymentId: dep.id, revisionId: dep.currentRevision.id, phase: 'error', message: 'bad\u0000byte' }]);
    expect(res.data?.agentReportStatus).toMatchObject({ __typename: 'InvalidInputError', message: expect.stringMatching(/^reports\[0\]\.message: contains a NUL byte/) });
    expect(await count(hub, 'deployment_status')).toBe(0);
  });
});

describe('item 16: the database is down', () => {
  test('the API answers 503 DATABASE_UNAVAILABLE and /readyz 503, naming no address; both recover when it returns', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-pg-down-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    let db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port, persistent: true });
    cleanups.push(() => db.stop());
    await db.createDatabase('distr');
    const hub = await startTestHub(db.urlFor('distr'));
    cleanups.push(() => hub.close());
    const query = `{ applications { edges { node { id } } } }`;
    expect((await gql(hub.url, query, {}, hub.apiKey)).status).toBe(200);

    await db.stop();
    const down = await fetch(`${hub.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${hub.apiKey}` },
      body: JSON.stringify({ query }),
    });
    const body = await down.text();
    expect(down.status).toBe(503);
    expect(JSON.parse(body).errors[0]).toMatchObject({ message: 'the database is unavailable; retry shortly', extensions: { code: 'DATABASE_UNAVAILABLE' } });
    expect(body).not.toContain(String(port));
    expect(body).not.toContain('127.0.0.1');
    const write = await gql(hub.url, `mutation { createApplication(input: {name: "x", type: docker}) { __typename } }`, {}, hub.apiKey);
    expect(write.status).toBe(503);
    const ready = await fetch(`${hub.url}/readyz`);
    const readyBody = await ready.text();
    expect(ready.status).toBe(503);
    expect(JSON.parse(readyBody)).toEqual({ status: 'database unreachable' });

    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port, persistent: true });
    await eventually(async () => (await fetch(`${hub.url}/readyz`)).status === 200, 'readyz after the database returns');
    await eventually(async () => (await gql(hub.url, query, {}, hub.apiKey)).status === 200, 'the API after the database returns');
  });
});

describe('item 18: write mutations are idempotent under retry', () => {
  const post = (url: string, key: string, query: string, variables: Record<string, unknown>, idempotencyKey?: string) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify({ query, variables }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

  test('a retried updateDeployment with the same Idempotency-Key appends one revision and answers the same; another request with the key is refused', async () => {
    const hub = await hubInProcess();
    const { version, target } = await seedDockerSetup(hub.url, hub.apiKey);
    const dep = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
    const update = `mutation($id: ID!, $input: UpdateDeploymentInput!) { updateDeployment(id: $id, input: $input) { __typename ... on Deployment { currentRevision { id envFile } } } }`;
    const vars = { id: dep.id, input: { envFile: 'GREETING=retry\n' } };
    const revisions = async () => (await hub.em().execute(`select count(*)::int as n from deployment_revision where deployment_id = ?`, [dep.id]))[0].n;
    expect(await revisions()).toBe(1);

    const first = await post(hub.url, hub.apiKey, update, vars, 'deploy-42');
    // Two retries at once, as a client that timed out might send them.
    const [second, third] = await Promise.all([post(hub.url, hub.apiKey, update, vars, 'deploy-42'), post(hub.url, hub.apiKey, update, vars, 'deploy-42')]);
    expect(first.body.data.updateDeployment.__typename).toBe('Deployment');
    expect(second.body.data).toEqual(first.body.data);
    expect(third.body.data).toEqual(first.body.data);
    expect(second.body.extensions).toEqual({ idempotentReplay: true });
    expect(await revisions()).toBe(2);

    const other = await post(hub.url, hub.apiKey, update, { id: dep.id, input: { envFile: 'GREETING=other\n' } }, 'deploy-42');
    expect(other.status).toBe(422);
    expect(other.body.errors[0].extensions.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // Without a key every call is a new request.
    await post(hub.url, hub.apiKey, update, vars);
    expect(await revisions()).toBe(3);
  });

  test('a typed refusal is recorded like a success; secrets are not kept for a replay', async () => {
    const hub = await hubInProcess();
    const create = `mutation { createApplication(input: {name: "shop", type: docker}) { __typename ... on Error { message } } }`;
    await post(hub.url, hub.apiKey, create, {});
    const conflict = await post(hub.url, hub.apiKey, create, {}, 'app-1');
    expect(conflict.body.data.createApplication.__typename).toBe('ConflictError');
    expect((await post(hub.url, hub.apiKey, create, {}, 'app-1')).body.data).toEqual(conflict.body.data);
    const mint = `mutation { createApiKey(name: "ci") { ... on CreatedApiKey { secret apiKey { id } } } }`;
    const minted = await post(hub.url, hub.apiKey, mint, {}, 'key-1');
    expect(minted.body.data.createApiKey.secret).toMatch(/^distr_/);
    const replay = await post(hub.url, hub.apiKey, mint, {}, 'key-1');
    expect(replay.body.data.createApiKey).toEqual({ secret: null, apiKey: minted.body.data.createApiKey.apiKey });
    const stored = JSON.stringify(await hub.em().execute(`select * from idempotency_record`));
    expect(stored).not.toContain(minted.body.data.createApiKey.secret.split('_').at(-1));
    expect((await hub.em().execute(`select count(*)::int as n from api_key`))[0].n).toBe(2);
  });
});
