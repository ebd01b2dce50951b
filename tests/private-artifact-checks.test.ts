/**
 * The hub's chart and image checks with the vendor's registry credentials: a chart pushed with the
 * real helm to the real registry for tests (htpasswd), a repository chart served on loopback behind
 * basic auth, and an image pushed with docker to the same registry. Without a credential the
 * checks say "authentication required" and record no digest; with the organization's matching
 * credential (chosen by the application and target limits) the chart is read and its digest
 * recorded; a wrong password is named as rejected. No response and no log line holds a password.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { serveChartRepo, type ChartRepo } from './testkit/chart-repo.js';
import { randomRegistryUser, startTestRegistry, type TestRegistry } from './testkit/registry.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { writeTestChart } from './testkit/test-chart.js';
import { createApplication, createDeployment, createTarget, ok } from './testkit/flow.js';

const ONLINE = { DISTR_ALLOW_UNCHECKED_CHARTS: 'false', DISTR_CHECK_IMAGES: 'true', DISTR_REGISTRY_TIMEOUT_SECONDS: '5' };

let pg: TestPostgres;
let hub: TestHub;
let registry: TestRegistry;
let repo: ChartRepo;
let work: string;
let ociUrl: string;
let image: string;
let digest: string;
const repoUser = randomRegistryUser('charts');
const WRONG = randomRegistryUser('wrong').password;
const logLines: string[] = [];
/** The passwords of this file's users: none may appear in a response or a log line. */
const passwords: string[] = [];
/** Every response body the tests received, to show no password is ever in one. */
const responses: string[] = [];

const FINDINGS = 'ok chartDigest findings { severity code field path message hint }';
async function query(document: string, variables: Record<string, unknown>) {
  const data = await ok(hub.url, document, variables, hub.apiKey);
  responses.push(JSON.stringify(data));
  return data;
}
const validateVersion = async (input: Record<string, unknown>) =>
  (await query(`query($i: ValidateApplicationVersionInput!) { validateApplicationVersion(input: $i) { __typename ... on ValidationResult { ${FINDINGS} } ... on Error { message } } }`, { i: input }))
    .validateApplicationVersion;
const validateDeployment = async (input: Record<string, unknown>) =>
  (await query(`query($i: ValidateDeploymentInput!) { validateDeployment(input: $i) { __typename ... on ValidationResult { ${FINDINGS} } ... on Error { message } } }`, { i: input })).validateDeployment;
const checkDeployment = async (id: string) =>
  (await query(`query($id: ID!) { checkDeployment(id: $id) { __typename ... on ValidationResult { ${FINDINGS} } ... on Error { message } } }`, { id })).checkDeployment;
const createK8sVersion = async (input: Record<string, unknown>) =>
  (
    await query(
      `mutation($i: CreateKubernetesApplicationVersionInput!) { createKubernetesApplicationVersion(input: $i) { __typename ... on ApplicationVersion { id chartDigest warnings { severity code message } } ... on Error { message } } }`,
      { i: input },
    )
  ).createKubernetesApplicationVersion;
async function addCredential(input: { host: string; username: string; password: string; applicationIds?: string[]; targetIds?: string[] }): Promise<string> {
  const r = await query(`mutation($i: RegistryCredentialInput!) { createRegistryCredential(input: $i) { __typename ... on RegistryCredential { id host username } ... on Error { message } } }`, { i: input });
  expect(r.createRegistryCredential.__typename).toBe('RegistryCredential');
  return r.createRegistryCredential.id;
}
const setPassword = (id: string, password: string) =>
  query(`mutation($id: ID!, $i: RegistryCredentialInput!) { updateRegistryCredential(id: $id, input: $i) { __typename } }`, { id, i: { password } });

beforeAll(async () => {
  pg = await startTestPostgres();
  work = await mkdtemp(path.join(os.tmpdir(), 'private-checks-'));
  repo = await serveChartRepo([await writeTestChart(work, { name: 'web', version: '1.0.0' })], { users: [repoUser] });
  const archive = path.join(repo.dir, 'web-1.0.0.tgz');
  digest = `sha256:${createHash('sha256').update(await readFile(archive)).digest('hex')}`;
  registry = await startTestRegistry();
  ociUrl = await registry.pushChart(archive, 'private');
  image = await registry.pushImage('vendor/app', { tag: '1' });
  hub = await startTestHub(await pg.freshDatabase('private_checks'), ONLINE, { logLines });
}, 180_000);

afterAll(async () => {
  await hub?.close();
  await repo?.close();
  await registry?.stop();
  await pg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  // Credentials are the organization's: each test starts without any.
  await hub.em().execute('delete from registry_credential');
});

const user = () => registry.users[0]!;
const repoHost = () => new URL(repo.url).host;

describe('charts behind credentials', () => {
  test('an OCI chart in an authenticated registry: authentication required without a credential, the digest recorded with it, a wrong password named', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'oci-private', 'kubernetes');
    const input = { applicationId: app.id, chartType: 'oci', chartUrl: ociUrl, chartVersion: '1.0.0' };
    const anonymous = await validateVersion(input);
    expect(anonymous).toMatchObject({ ok: true, chartDigest: null, findings: [{ severity: 'warning', code: 'chart_auth_required', field: 'chartUrl', message: `cannot check ${ociUrl}: authentication required` }] });
    expect(anonymous.findings[0].hint).toContain(registry.host);

    const id = await addCredential({ host: registry.host, username: user().username, password: WRONG });
    const rejected = await validateVersion(input);
    expect(rejected).toMatchObject({ chartDigest: null, findings: [{ severity: 'warning', code: 'registry_credentials_rejected', message: `cannot check ${ociUrl}: the credentials for ${registry.host} were rejected` }] });

    await setPassword(id, user().password);
    expect(await validateVersion(input)).toEqual({ __typename: 'ValidationResult', ok: true, chartDigest: digest, findings: [] });
    expect(await createK8sVersion({ ...input, name: 'v1' })).toMatchObject({ __typename: 'ApplicationVersion', chartDigest: digest, warnings: [] });
    // A version that does not exist is now an error the hub can see (behind the credential).
    const missing = await validateVersion({ ...input, chartVersion: '9.9.9' });
    expect(missing).toMatchObject({ ok: false, findings: [{ severity: 'error', code: 'chart_version_not_found' }] });
    expect(missing.findings[0].hint).toContain('1.0.0');
  });

  test('a repository chart behind basic auth: index.yaml and the archive are read with the credential of the repository host', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'repo-private', 'kubernetes');
    const input = { applicationId: app.id, chartType: 'repository', chartUrl: repo.url, chartName: 'web', chartVersion: '1.0.0' };
    expect(await validateVersion(input)).toMatchObject({ chartDigest: null, findings: [{ severity: 'warning', code: 'chart_auth_required', message: `cannot check ${repo.url}: authentication required` }] });
    // Another host's credential does not apply.
    await addCredential({ host: registry.host, username: repoUser.username, password: repoUser.password });
    expect((await validateVersion(input)).findings).toMatchObject([{ code: 'chart_auth_required' }]);
    const id = await addCredential({ host: repoHost(), username: repoUser.username, password: WRONG });
    expect((await validateVersion(input)).findings).toMatchObject([{ code: 'registry_credentials_rejected', message: `cannot check ${repo.url}: the credentials for ${repoHost()} were rejected` }]);
    await setPassword(id, repoUser.password);
    expect(await validateVersion(input)).toEqual({ __typename: 'ValidationResult', ok: true, chartDigest: digest, findings: [] });
    expect(await createK8sVersion({ ...input, name: 'v1' })).toMatchObject({ __typename: 'ApplicationVersion', chartDigest: digest, warnings: [] });
    expect((await validateVersion({ ...input, chartName: 'nope' })).findings).toMatchObject([{ severity: 'error', code: 'chart_not_found' }]);
  });

  test('application and target limits: the credential a deployment would get is the one the checks use', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'oci-limits', 'kubernetes');
    const other = await createApplication(hub.url, hub.apiKey, 'oci-other', 'kubernetes');
    const input = { applicationId: app.id, chartType: 'oci', chartUrl: ociUrl, chartVersion: '1.0.0' };
    // Limited to another application: not this one's.
    await addCredential({ host: registry.host, username: user().username, password: user().password, applicationIds: [other.id] });
    expect((await validateVersion(input)).findings).toMatchObject([{ code: 'chart_auth_required' }]);
    // Limited to this application: used.
    const own = await addCredential({ host: registry.host, username: user().username, password: user().password, applicationIds: [app.id] });
    const version = await createK8sVersion({ ...input, name: 'v1' });
    expect(version).toMatchObject({ chartDigest: digest, warnings: [] });
    await hub.em().execute('delete from registry_credential where id = ?', [own]);

    // Organization-wide (wrong) and limited to target t1 (right).
    const t1 = await createTarget(hub.url, hub.apiKey, { name: 'cluster-1', type: 'kubernetes', namespace: 'a', scope: 'namespace' });
    const t2 = await createTarget(hub.url, hub.apiKey, { name: 'cluster-2', type: 'kubernetes', namespace: 'b', scope: 'namespace' });
    await addCredential({ host: registry.host, username: user().username, password: WRONG });
    await addCredential({ host: registry.host, username: user().username, password: user().password, targetIds: [t1.id] });
    // No target known: the credential every target gets (the organization's) is preferred.
    expect((await validateVersion(input)).findings).toMatchObject([{ code: 'registry_credentials_rejected' }]);
    expect(await validateDeployment({ targetId: t1.id, versionId: version.id, releaseName: 'web' })).toMatchObject({ ok: true, findings: [] });
    expect((await validateDeployment({ targetId: t2.id, versionId: version.id, releaseName: 'web' })).findings).toMatchObject([{ code: 'registry_credentials_rejected' }]);
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: t1.id, versionId: version.id, kubernetes: { releaseName: 'web' } });
    expect(d.__typename).toBe('Deployment');
    expect(await checkDeployment(d.id)).toMatchObject({ ok: true, findings: [] });
  });
});

describe('a registry with token auth (the bearer flow of Docker Hub, ghcr.io, …)', () => {
  let tokenRegistry: TestRegistry;
  let chartUrl: string;
  let tokenImage: string;
  beforeAll(async () => {
    tokenRegistry = await startTestRegistry({ token: true });
    chartUrl = await tokenRegistry.pushChart(path.join(repo.dir, 'web-1.0.0.tgz'), 'private');
    tokenImage = await tokenRegistry.pushImage('vendor/app', { tag: '1' });
  }, 120_000);
  afterAll(async () => {
    await tokenRegistry?.stop();
  });

  test('the token is asked for with the credential: an anonymous token grants nothing, a wrong password is rejected, the right one reads chart and image', async () => {
    const k8s = await createApplication(hub.url, hub.apiKey, 'oci-token', 'kubernetes');
    const docker = await createApplication(hub.url, hub.apiKey, 'image-token', 'docker');
    const chart = { applicationId: k8s.id, chartType: 'oci', chartUrl, chartVersion: '1.0.0' };
    const image = { applicationId: docker.id, composeFile: `services:\n  web:\n    image: ${tokenImage}\n` };
    expect((await validateVersion(chart)).findings).toMatchObject([{ code: 'chart_auth_required', message: `cannot check ${chartUrl}: authentication required` }]);
    expect((await validateVersion(image)).findings).toMatchObject([{ code: 'image_auth_required' }]);
    const tokenUser = tokenRegistry.users[0]!;
    const id = await addCredential({ host: tokenRegistry.host, username: tokenUser.username, password: WRONG });
    expect((await validateVersion(chart)).findings).toMatchObject([{ code: 'registry_credentials_rejected', message: `cannot check ${chartUrl}: the credentials for ${tokenRegistry.host} were rejected` }]);
    expect((await validateVersion(image)).findings).toMatchObject([{ code: 'registry_credentials_rejected' }]);
    await setPassword(id, tokenUser.password);
    expect(await validateVersion(chart)).toEqual({ __typename: 'ValidationResult', ok: true, chartDigest: digest, findings: [] });
    expect(await validateVersion(image)).toMatchObject({ ok: true, findings: [] });
    expect((await validateVersion({ ...image, composeFile: `services:\n  web:\n    image: ${tokenRegistry.host}/vendor/app:9\n` })).findings).toMatchObject([{ severity: 'error', code: 'image_not_found' }]);
    passwords.push(tokenUser.password);
  });
});

describe('images behind credentials', () => {
  const compose = (ref: string) => `services:\n  web:\n    image: ${ref}\n`;

  test('an image in an authenticated registry: authentication required without a credential, found (or not) with it, a wrong password named', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'private-image', 'docker');
    const input = { applicationId: app.id, composeFile: compose(image) };
    expect((await validateVersion(input)).findings).toMatchObject([
      { severity: 'warning', code: 'image_auth_required', path: 'services.web.image', message: `services.web.image: cannot check ${image}: authentication required` },
    ]);
    const id = await addCredential({ host: registry.host, username: user().username, password: WRONG });
    expect((await validateVersion(input)).findings).toMatchObject([
      { severity: 'warning', code: 'registry_credentials_rejected', message: `services.web.image: cannot check ${image}: the credentials for ${registry.host} were rejected` },
    ]);
    await setPassword(id, user().password);
    expect(await validateVersion(input)).toMatchObject({ ok: true, findings: [] });
    // With the credential the hub sees what does not exist.
    const missingTag = await validateVersion({ ...input, composeFile: compose(`${registry.host}/vendor/app:9`) });
    expect(missingTag).toMatchObject({ ok: false, findings: [{ severity: 'error', code: 'image_not_found', path: 'services.web.image' }] });
    const target = await createTarget(hub.url, hub.apiKey, { name: 'host-1', type: 'docker' });
    const v = await ok(hub.url, `mutation($i: CreateDockerApplicationVersionInput!) { createDockerApplicationVersion(input: $i) { __typename ... on ApplicationVersion { id warnings { code } } } }`, { i: { ...input, name: 'v1' } }, hub.apiKey);
    expect(v.createDockerApplicationVersion).toMatchObject({ __typename: 'ApplicationVersion', warnings: [] });
    expect(await validateDeployment({ targetId: target.id, versionId: v.createDockerApplicationVersion.id, composeType: 'compose', envFile: '' })).toMatchObject({ ok: true, findings: [] });
  });
});

test('no response and no log line holds a password', () => {
  passwords.push(user().password, repoUser.password, WRONG);
  expect(responses.length).toBeGreaterThan(10);
  expect(logLines.length).toBeGreaterThan(0);
  for (const text of [...responses, ...logLines]) for (const secret of passwords) expect(text).not.toContain(secret);
});
