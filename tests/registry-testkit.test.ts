/**
 * The real registry the tests use (tests/testkit/registry.ts): htpasswd auth is enforced, the test
 * engine pushes and pulls over plain HTTP on loopback, and the real helm pushes and pulls charts.
 */
import { mkdir, mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRegistry, type TestRegistry } from './testkit/registry.js';

const HELM_BIN = fileURLToPath(new URL('../.bin/helm', import.meta.url));

let registry: TestRegistry;
let work: string;

beforeAll(async () => {
  registry = await startTestRegistry();
  work = await mkdtemp(path.join(os.tmpdir(), 'registry-testkit-'));
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A private DOCKER_CONFIG / helm homes for a client that is not the pusher. */
async function clientEnv(name: string) {
  const home = path.join(work, name);
  await mkdir(home, { recursive: true });
  return {
    DOCKER_CONFIG: path.join(home, 'docker'),
    HELM_CACHE_HOME: path.join(home, 'helm-cache'),
    HELM_CONFIG_HOME: path.join(home, 'helm-config'),
    HELM_DATA_HOME: path.join(home, 'helm-data'),
  };
}

describe('test registry', () => {
  it('answers /v2/ with 401 without credentials, 200 with them, 401 with a wrong password', async () => {
    expect((await fetch(`${registry.url}/v2/`)).status).toBe(401);
    const user = registry.users[0]!;
    const ok = await fetch(`${registry.url}/v2/`, { headers: { Authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}` } });
    expect(ok.status).toBe(200);
    const wrong = await fetch(`${registry.url}/v2/`, { headers: { Authorization: `Basic ${Buffer.from(`${user.username}:nope`).toString('base64')}` } });
    expect(wrong.status).toBe(401);
  });

  it('pushes the local test image; pulling needs a login', async () => {
    const ref = await registry.pushImage('vendor/app', { tag: '1' });
    expect(ref).toBe(`${registry.host}/vendor/app:1`);
    expect(await registry.tags('vendor/app')).toEqual(['1']);
    // The local tag is gone again: a pull has to reach the registry.
    expect((await execa('docker', ['image', 'inspect', ref], { reject: false })).exitCode).not.toBe(0);

    const env = await clientEnv('docker-client');
    const anonymous = await execa('docker', ['pull', ref], { env, reject: false, all: true });
    expect(anonymous.exitCode).not.toBe(0);
    expect(anonymous.all).toMatch(/no basic auth credentials|unauthorized/);

    const user = registry.users[0]!;
    await execa('docker', ['login', registry.host, '--username', user.username, '--password-stdin'], { env, input: user.password });
    const pulled = await execa('docker', ['pull', ref], { env, all: true });
    expect(pulled.exitCode).toBe(0);
    await execa('docker', ['rmi', ref], { reject: false });
  });

  it('pushes a packaged chart with helm; pulling needs a login', async () => {
    const chartDir = path.join(work, 'chart', 'tiny');
    await mkdir(path.join(chartDir, 'templates'), { recursive: true });
    await writeFile(path.join(chartDir, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 0.3.0\n');
    await writeFile(
      path.join(chartDir, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n',
    );
    const env = await clientEnv('helm-client');
    await execa(HELM_BIN, ['package', chartDir, '-d', work], { env });
    const url = await registry.pushChart(path.join(work, 'tiny-0.3.0.tgz'), 'charts');
    expect(url).toBe(`oci://${registry.host}/charts/tiny`);
    expect(await registry.tags('charts/tiny')).toEqual(['0.3.0']);

    const pullDir = path.join(work, 'pulled');
    await mkdir(pullDir);
    const anonymous = await execa(HELM_BIN, ['pull', url, '--version', '0.3.0', '--plain-http', '-d', pullDir], { env, reject: false, all: true });
    expect(anonymous.exitCode).not.toBe(0);
    expect(anonymous.all).toMatch(/unauthorized|401|no basic auth credentials/i);

    const user = registry.users[0]!;
    await execa(HELM_BIN, ['registry', 'login', registry.host, '--username', user.username, '--password-stdin', '--insecure'], { env, input: user.password });
    await execa(HELM_BIN, ['pull', url, '--version', '0.3.0', '--plain-http', '-d', pullDir], { env });
    expect(await readdir(pullDir)).toEqual(['tiny-0.3.0.tgz']);
  });

  it('never logs the password', () => {
    for (const user of registry.users) expect(registry.output()).not.toContain(user.password);
  });
});
