/**
 * The kubernetes agent installs the chart the hub checked: HelmCli.pullVerified (what
 * upgradeInstall uses when the desired state carries a digest) pulls with the real helm from a
 * real repository and the real registry, anonymous and private (an htpasswd registry, a repository
 * behind basic auth: the pull uses the deployment's credential through helm's own options), and
 * refuses, as a permanent failure, an archive whose digest is not the recorded one.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HelmCli } from '../agent/kubernetes/helm.js';
import { PermanentApplyError } from '../agent/core/driver.js';
import { serveChartRepo, type ChartRepo } from './testkit/chart-repo.js';
import { randomRegistryUser, startTestRegistry, type TestRegistry } from './testkit/registry.js';
import { HELM_BIN } from './testkit/helm.js';
import { writeTestChart } from './testkit/test-chart.js';

let repo: ChartRepo;
let registry: TestRegistry;
let privateRepo: ChartRepo;
let privateRegistry: TestRegistry;
const repoUser = randomRegistryUser('charts');
let work: string;
let helm: HelmCli;
let digest: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'digest-pin-'));
  repo = await serveChartRepo([await writeTestChart(work, { name: 'web', version: '1.0.0' })]);
  registry = await startTestRegistry({ anonymous: true });
  await registry.pushChart(path.join(repo.dir, 'web-1.0.0.tgz'));
  privateRepo = await serveChartRepo([path.join(repo.dir, 'web-1.0.0.tgz')], { users: [repoUser] });
  privateRegistry = await startTestRegistry();
  await privateRegistry.pushChart(path.join(repo.dir, 'web-1.0.0.tgz'), 'private');
  digest = `sha256:${createHash('sha256').update(await readFile(path.join(repo.dir, 'web-1.0.0.tgz'))).digest('hex')}`;
  const home = path.join(work, 'helm');
  helm = new HelmCli({ binary: HELM_BIN, env: { HELM_CACHE_HOME: `${home}/cache`, HELM_CONFIG_HOME: `${home}/config`, HELM_DATA_HOME: `${home}/data` }, plainHttp: true });
}, 120_000);

afterAll(async () => {
  await repo?.close();
  await registry?.stop();
  await privateRepo?.close();
  await privateRegistry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test.each(['repository', 'oci'] as const)('a %s chart with the recorded digest is pulled and installed from that archive', async (type) => {
  const chart = type === 'oci' ? { type, url: `oci://${registry.host}/charts/web`, name: null, version: '1.0.0', digest } : { type, url: repo.url, name: 'web', version: '1.0.0', digest };
  const dir = await mkdtemp(path.join(work, 'pull-'));
  const archive = await helm.pullVerified(chart, dir);
  expect(`sha256:${createHash('sha256').update(await readFile(archive)).digest('hex')}`).toBe(digest);
});

test('an archive whose digest is not the recorded one is a permanent failure naming both digests', async () => {
  const other = `sha256:${'0'.repeat(64)}`;
  const dir = await mkdtemp(path.join(work, 'pull-'));
  const attempt = helm.pullVerified({ type: 'repository', url: repo.url, name: 'web', version: '1.0.0', digest: other }, dir);
  await expect(attempt).rejects.toBeInstanceOf(PermanentApplyError);
  await expect(helm.pullVerified({ type: 'repository', url: repo.url, name: 'web', version: '1.0.0', digest: other }, await mkdtemp(path.join(work, 'pull-')))).rejects.toThrow(
    new RegExp(`has digest ${digest}, but the hub validated ${other}`),
  );
});

test.each(['repository', 'oci'] as const)('a private %s chart is pulled by its digest with the deployment credential (and refused without it)', async (type) => {
  const user = type === 'oci' ? privateRegistry.users[0]! : repoUser;
  const chart =
    type === 'oci'
      ? { type, url: `oci://${privateRegistry.host}/private/web`, name: null, version: '1.0.0', digest }
      : { type, url: privateRepo.url, name: 'web', version: '1.0.0', digest };
  const credential = { host: type === 'oci' ? privateRegistry.host : new URL(privateRepo.url).host, username: user.username, password: user.password };
  const refused = await helm.pullVerified(chart, await mkdtemp(path.join(work, 'pull-'))).then(() => null, (e: Error) => e);
  expect(refused?.message).toMatch(/401|unauthorized|authentication required|basic credential|no basic auth credentials/i);
  expect(refused?.message).not.toContain(user.password);
  const archive = await helm.pullVerified(chart, await mkdtemp(path.join(work, 'pull-')), undefined, credential);
  expect(`sha256:${createHash('sha256').update(await readFile(archive)).digest('hex')}`).toBe(digest);
});
