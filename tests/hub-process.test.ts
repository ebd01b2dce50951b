/**
 * The hub as a user starts it: `server/main.ts` with no DATABASE_URL runs on an embedded
 * PostgreSQL in its data folder, prints the first admin key once, stops cleanly on SIGTERM, and
 * finds its data again on the next start. A bad setting stops it with a message naming it.
 */
import { afterEach, expect, test } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../server/db/embedded.js';
import { repoRoot, spawnHub } from './testkit/hub.js';
import { gql } from './testkit/graphql.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

test('embedded by default: first-run key, clean SIGTERM, data kept across restarts', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'distr-hub-data-'));
  dirs.push(dataDir);
  const [port, pgPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;

  const env = { DISTR_DATA_DIR: dataDir, DISTR_EMBEDDED_PG_PORT: String(pgPort) };
  const first = await spawnHub(null, { port, env });
  const key = first.bootstrapKey;
  expect(key).toMatch(/^distr_/);
  const created = await gql(url, `mutation { createApplication(input: {name: "kept", type: docker}) { __typename } }`, {}, key);
  expect(created.data?.createApplication.__typename).toBe('Application');
  await first.stop();
  expect(first.process.exitCode).toBe(0);
  expect(first.output()).toContain('shutting down');
  // The embedded PostgreSQL stopped with the hub: its port is free again.
  await expect(fetch(`http://127.0.0.1:${pgPort}`).catch((e) => e.cause?.code)).resolves.toBe('ECONNREFUSED');

  const second = await spawnHub(null, { port, env });
  expect(second.output()).not.toContain('Admin API key');
  const apps = await gql(url, `{ applications { edges { node { name } } } }`, {}, key);
  expect(apps.data?.applications.edges).toEqual([{ node: { name: 'kept' } }]);
  expect((await fetch(`${url}/readyz`)).status).toBe(200);
  await second.stop();
  expect(second.process.exitCode).toBe(0);
});

test('a bad setting stops the hub at start with a message naming it', async () => {
  const result = await execa(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: repoRoot,
    env: { PORT: 'eighty', DATABASE_URL: 'mysql://nope', DISTR_JWT_SECRET: 'short' },
    reject: false,
  });
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain('invalid hub configuration');
  expect(result.stderr).toMatch(/PORT="eighty"/);
  expect(result.stderr).toMatch(/DATABASE_URL="mysql:\/\/nope": must be a postgres:\/\/ or postgresql:\/\/ URL/);
  expect(result.stderr).toMatch(/DISTR_JWT_SECRET="short": must be at least 32 characters/);
});
