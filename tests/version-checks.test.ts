/**
 * Version and deployment checks against real artifacts: a Helm repository on loopback serving
 * `helm repo index` output of charts packaged by the real helm, and the real registry for tests
 * (tests/testkit/registry.ts, anonymous as a public one: the checks use no credentials) serving the same archives; every finding type of the
 * dry-run queries; nothing written by them (row counts of every table before and after).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serveChartRepo, type ChartRepo } from './testkit/chart-repo.js';
import { startTestRegistry, type TestRegistry } from './testkit/registry.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createApplication, createDeployment, createDockerVersion, createTarget, ok, updateDeployment } from './testkit/flow.js';
import { mergeValues } from '../server/agents/desired-state.js';

const ONLINE = { DISTR_ALLOW_UNCHECKED_CHARTS: 'false', DISTR_CHECK_IMAGES: 'true', DISTR_REGISTRY_TIMEOUT_SECONDS: '5' };

let pg: TestPostgres;
let hub: TestHub;
let repo: ChartRepo;
let registry: TestRegistry;
let work: string;
let closedUrl: string;
let notRepoUrl: string;
const notRepo = createServer((_req, res) => res.writeHead(404).end('no such page'));

async function writeChart(dir: string, name: string, version: string, extra: { schema?: object; dependency?: string } = {}): Promise<string> {
  const chart = path.join(dir, `${name}-${version}`);
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  const deps = extra.dependency ? `dependencies:\n  - name: ${extra.dependency}\n    version: 1.0.0\n    repository: https://charts.example\n` : '';
  await writeFile(path.join(chart, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${version}\nkubeVersion: ">=1.25.0-0"\n${deps}`);
  await writeFile(path.join(chart, 'values.yaml'), 'replicas: 1\nimage: busybox\nresources:\n  limits: {}\n');
  if (extra.schema) await writeFile(path.join(chart, 'values.schema.json'), JSON.stringify(extra.schema));
  await writeFile(path.join(chart, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: "{{ .Values.replicas }}"\n');
  return chart;
}

const SCHEMA = {
  $schema: 'https://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['replicas', 'image'],
  properties: { replicas: { type: 'integer', minimum: 1, maximum: 10 }, image: { type: 'string' }, resources: { type: 'object' } },
};

async function count(): Promise<Record<string, number>> {
  const tables = await hub.em().execute(`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`);
  const out: Record<string, number> = {};
  for (const { table_name } of tables) out[table_name] = (await hub.em().execute(`select count(*)::int as n from "${table_name}"`))[0].n;
  return out;
}

const FINDINGS = 'ok chartDigest findings { severity code field path message hint }';
const validateVersion = (input: Record<string, unknown>) =>
  ok(hub.url, `query($i: ValidateApplicationVersionInput!) { validateApplicationVersion(input: $i) { __typename ... on ValidationResult { ${FINDINGS} } ... on Error { message } } }`, { i: input }, hub.apiKey).then(
    (d) => d.validateApplicationVersion,
  );
const validateDeployment = (input: Record<string, unknown>) =>
  ok(hub.url, `query($i: ValidateDeploymentInput!) { validateDeployment(input: $i) { __typename ... on ValidationResult { ${FINDINGS} } ... on Error { message } } }`, { i: input }, hub.apiKey).then((d) => d.validateDeployment);
const checkDeployment = (id: string) =>
  ok(hub.url, `query($id: ID!) { checkDeployment(id: $id) { __typename ... on ValidationResult { ${FINDINGS} } ... on Error { message } } }`, { id }, hub.apiKey).then((d) => d.checkDeployment);
const createK8sVersion = (input: Record<string, unknown>) =>
  ok(
    hub.url,
    `mutation($i: CreateKubernetesApplicationVersionInput!) { createKubernetesApplicationVersion(input: $i) { __typename ... on ApplicationVersion { id chartDigest warnings { severity code message } } ... on InvalidInputError { field message } } }`,
    { i: input },
    hub.apiKey,
  ).then((d) => d.createKubernetesApplicationVersion);

const codes = (r: { findings: { code: string }[] }) => r.findings.map((f) => f.code);

beforeAll(async () => {
  pg = await startTestPostgres();
  work = await mkdtemp(path.join(os.tmpdir(), 'version-checks-'));
  repo = await serveChartRepo([
    await writeChart(work, 'shop', '1.0.0', { schema: SCHEMA }),
    await writeChart(work, 'shop', '1.1.0', { schema: SCHEMA }),
  ]);
  // helm refuses to package a chart whose dependency is missing; such archives exist all the same (tar by hand).
  await writeChart(work, 'needs-dep', '0.1.0', { dependency: 'postgresql' });
  const broken = path.join(work, 'needs-dep-0.1.0.tgz');
  await execa('tar', ['czf', broken, '-C', work, '--transform', 's,^needs-dep-0.1.0,needs-dep,', 'needs-dep-0.1.0']);
  await repo.add(broken);
  registry = await startTestRegistry({ anonymous: true });
  await registry.pushChart(path.join(repo.dir, 'shop-1.1.0.tgz'));
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((r) => closed.close(() => r()));
  await new Promise<void>((r) => notRepo.listen(0, '127.0.0.1', r));
  notRepoUrl = `http://127.0.0.1:${(notRepo.address() as AddressInfo).port}/charts`;
  hub = await startTestHub(await pg.freshDatabase('checks'), ONLINE);
}, 120_000);

afterAll(async () => {
  await hub?.close();
  await repo?.close();
  await registry?.stop();
  await new Promise<void>((r) => notRepo.close(() => r()));
  await pg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('kubernetes versions: the chart is resolved and read', () => {
  let appId: string;
  beforeAll(async () => {
    appId = (await createApplication(hub.url, hub.apiKey, 'k8s-shop', 'kubernetes')).id;
  });
  const repoChart = (extra: Record<string, unknown> = {}) => ({ applicationId: appId, chartType: 'repository', chartUrl: repo.url, chartName: 'shop', chartVersion: '1.0.0', ...extra });

  test('a repository chart that exists: created, with the digest of the archive the repository serves', async () => {
    const v = await createK8sVersion({ ...repoChart(), name: 'ok-1', baseValues: 'replicas: 2\n' });
    const archive = await readFile(path.join(repo.dir, 'shop-1.0.0.tgz'));
    expect(v).toMatchObject({ __typename: 'ApplicationVersion', chartDigest: `sha256:${createHash('sha256').update(archive).digest('hex')}`, warnings: [] });
  });

  test.each([
    ['unknown chart name', { chartName: 'shoop' }, 'chartName', 'chart_not_found', /chart "shoop" is not in the repository/],
    ['unknown version', { chartVersion: '9.9.9' }, 'chartVersion', 'chart_version_not_found', /has no version 9\.9\.9/],
    ['a constraint instead of a version', { chartVersion: '^1.0.0' }, 'chartVersion', 'chart_version_constraint', /is a version constraint, not a version/],
    ['base values violating values.schema.json', { baseValues: 'replicas: 50\nimage: 3\n' }, 'baseValues', 'values_schema', /replicas: must be <= 10/],
    ['a declared dependency missing in charts/', { chartName: 'needs-dep', chartVersion: '0.1.0' }, 'chartVersion', 'chart_dependency_missing', /dependency "postgresql"/],
    ['an unreachable repository', { chartUrl: 'CLOSED' }, 'chartUrl', 'registry_unreachable', /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/],
    ['not a repository (no index.yaml)', { chartUrl: 'NOT-A-REPO' }, 'chartUrl', 'chart_repository_not_found', /is not a Helm chart repository/],
  ])('%s: a finding of the dry run, a typed error of the mutation, nothing written', async (_name, change, field, code, message) => {
    const input = repoChart(change);
    if (input.chartUrl === 'CLOSED') input.chartUrl = closedUrl;
    if (input.chartUrl === 'NOT-A-REPO') input.chartUrl = notRepoUrl;
    const before = await count();
    const dry = await validateVersion(input);
    expect(dry).toMatchObject({ __typename: 'ValidationResult', ok: false });
    expect(codes(dry)).toContain(code);
    const f = dry.findings.find((x: { code: string }) => x.code === code);
    expect(f).toMatchObject({ severity: 'error', field });
    expect(f.message).toMatch(message);
    expect(f.hint).toBeTruthy();
    const created = await createK8sVersion({ ...input, name: `bad-${code}` });
    expect(created).toMatchObject({ __typename: 'InvalidInputError', field });
    expect(created.message).toMatch(message);
    expect(await count()).toEqual(before);
  });

  test('an OCI chart: the tag is checked through the registry API and the digest recorded', async () => {
    const url = `oci://${registry.host}/charts/shop`;
    const v = await createK8sVersion({ applicationId: appId, name: 'oci-1', chartType: 'oci', chartUrl: url, chartVersion: '1.1.0' });
    const archive = await readFile(path.join(repo.dir, 'shop-1.1.0.tgz'));
    expect(v).toMatchObject({ __typename: 'ApplicationVersion', chartDigest: `sha256:${createHash('sha256').update(archive).digest('hex')}` });
    const missing = await validateVersion({ applicationId: appId, chartType: 'oci', chartUrl: url, chartVersion: '2.0.0' });
    expect(codes(missing)).toEqual(['chart_version_not_found']);
    expect(missing.findings[0].hint).toMatch(/1\.1\.0/);
  });

  test('an air-gapped hub (DISTR_ALLOW_UNCHECKED_CHARTS) creates the version with the warning recorded', async () => {
    const lenient = await startTestHub(await pg.freshDatabase('airgap'), { ...ONLINE, DISTR_ALLOW_UNCHECKED_CHARTS: 'true' });
    try {
      const app = await createApplication(lenient.url, lenient.apiKey, 'k', 'kubernetes');
      const v = await ok(
        lenient.url,
        `mutation($i: CreateKubernetesApplicationVersionInput!) { createKubernetesApplicationVersion(input: $i) { __typename ... on ApplicationVersion { chartDigest warnings { severity code message } } } }`,
        { i: { applicationId: app.id, name: '1', chartType: 'repository', chartUrl: closedUrl, chartName: 'shop', chartVersion: '1.0.0' } },
        lenient.apiKey,
      );
      expect(v.createKubernetesApplicationVersion).toMatchObject({ __typename: 'ApplicationVersion', chartDigest: null, warnings: [{ severity: 'warning', code: 'registry_unreachable' }] });
    } finally {
      await lenient.close();
    }
  });

  test('deployment values are merged over the base values as helm merges them and checked against the schema', async () => {
    const version = await createK8sVersion({ ...repoChart(), name: 'for-deploy', baseValues: 'replicas: 2\nimage: web\n' });
    const target = await createTarget(hub.url, hub.apiKey, { name: 'cluster', type: 'kubernetes', namespace: 'shop', scope: 'namespace' });
    const bad = await validateDeployment({ targetId: target.id, versionId: version.id, releaseName: 'shop', valuesYaml: 'replicas: 0\n' });
    expect(bad.findings).toMatchObject([{ severity: 'error', code: 'values_schema', field: 'kubernetes.valuesYaml', path: 'replicas' }]);
    // null removes the key: helm then falls back to nothing, and `image` is required.
    const removed = await validateDeployment({ targetId: target.id, versionId: version.id, releaseName: 'shop', valuesYaml: 'image: null\n' });
    expect(removed.findings[0]).toMatchObject({ code: 'values_schema' });
    expect(removed.findings[0].message).toMatch(/"image" is required/);
    const good = await validateDeployment({ targetId: target.id, versionId: version.id, releaseName: 'shop', valuesYaml: 'replicas: 3\n' });
    expect(good).toMatchObject({ ok: true, findings: [] });
    const refused = await ok(
      hub.url,
      `mutation($i: CreateDeploymentInput!) { createDeployment(input: $i) { __typename ... on InvalidInputError { field message } } }`,
      { i: { targetId: target.id, versionId: version.id, kubernetes: { releaseName: 'shop', valuesYaml: 'replicas: 0\n' } } },
      hub.apiKey,
    );
    expect(refused.createDeployment).toMatchObject({ __typename: 'InvalidInputError', field: 'kubernetes.valuesYaml' });
  });

  test('values parsing is safe: an alias bomb and unknown tags are refused', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n');
    const r = await validateVersion({ ...repoChart(), baseValues: bomb });
    expect(r.findings[0]).toMatchObject({ code: 'values_yaml', field: 'baseValues' });
    expect(r.findings[0].message).toMatch(/too many YAML aliases/);
    const tag = await validateVersion({ ...repoChart(), baseValues: 'image: !!python/object x\n' });
    expect(tag.findings[0].message).toMatch(/unknown YAML tag/);
  });
});

describe('docker versions and deployments', () => {
  const COMPOSE = (image: string) => `services:\n  web:\n    image: ${image}\n    environment:\n      TOKEN: \${TOKEN:?the API token}\n`;

  test('every finding type of a docker version, and nothing written', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'docker-shop', 'docker');
    const image = `${registry.host}/charts/shop:1.1.0`;
    const before = await count();
    const cases: [string, string, string, string][] = [
      ['compose_schema', 'services:\n  web:\n    image: x\n    imagee: y\n', '', 'services.web.imagee'],
      ['compose_rule', 'services:\n  web:\n    image: x\n    depends_on: [db]\n', '', 'services.web.depends_on'],
      ['compose_interpolation', 'services:\n  web:\n    image: "x:${TAG"\n', '', 'services.web.image'],
      ['compose_yaml', 'services:\n  web:\n    image: x\n    image: y\n', '', 'services.web.image'],
      ['compose_outside_file', 'services:\n  web:\n    image: x\n    env_file: ../secrets.env\n', '', 'services.web.env_file'],
      ['image_reference_invalid', 'services:\n  web:\n    image: "Not/A Valid:ref"\n', '', 'services.web.image'],
      ['image_not_found', `services:\n  web:\n    image: ${registry.host}/charts/shop:9.9.9\n`, '', 'services.web.image'],
      ['env_file_syntax', 'services:\n  web:\n    image: x\n', 'NOT VALID=1\n', 'line 1'],
      ['compose_no_services', 'networks:\n  front: {}\n', '', 'services'],
    ];
    for (const [code, composeFile, envTemplate, path] of cases) {
      const r = await validateVersion({ applicationId: app.id, composeFile, envTemplate });
      expect(r.ok, code).toBe(false);
      expect(r.findings.find((f: { code: string }) => f.code === code), `${code}: ${JSON.stringify(r.findings)}`).toMatchObject({ severity: 'error', path });
    }
    const warned = await validateVersion({ applicationId: app.id, composeFile: `${COMPOSE(image)}      EXTRA: \${EXTRA}\n`, envTemplate: '' });
    expect(warned.ok).toBe(true);
    expect(codes(warned).sort()).toEqual(['required_variable', 'unset_variable']);
    expect(warned.findings.find((f: { code: string }) => f.code === 'required_variable').message).toMatch(/TOKEN is required by the compose file \(the API token\)/);
    expect(await count()).toEqual(before);
  });

  test('required variables: a warning on the version, an error naming them at deployment time', async () => {
    const app = await createApplication(hub.url, hub.apiKey, 'needs-token', 'docker');
    const version = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE(`${registry.host}/charts/shop:1.1.0`), 'OTHER=1\n');
    expect(version.__typename).toBe('ApplicationVersion');
    const warnings = await ok(hub.url, `query($id: ID!) { applicationVersion(id: $id) { warnings { code message } } }`, { id: version.id }, hub.apiKey);
    expect(warnings.applicationVersion.warnings.map((w: { code: string }) => w.code)).toEqual(['required_variable']);
    const target = await createTarget(hub.url, hub.apiKey, { name: 'host', type: 'docker' });
    const before = await count();
    const dry = await validateDeployment({ targetId: target.id, versionId: version.id, composeType: 'compose', envFile: '' });
    expect(dry.findings).toMatchObject([{ severity: 'error', code: 'missing_variable', field: 'docker.envFile', path: 'services.web.environment.TOKEN' }]);
    expect(dry.findings[0].message).toMatch(/required variable TOKEN is missing a value: the API token/);
    const refused = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose', envFile: '' } });
    expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'docker.envFile' });
    expect(refused.message).toMatch(/TOKEN/);
    expect(await count()).toEqual(before);
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose', envFile: 'TOKEN="s3cr3t"\n' } });
    expect(d.__typename).toBe('Deployment');
    const checked = await checkDeployment(d.id);
    expect(checked).toMatchObject({ __typename: 'ValidationResult', ok: true, findings: [] });
    const unsetByUpdate = await updateDeployment(hub.url, hub.apiKey, d.id, { envFile: 'TOKEN=\n' });
    expect(unsetByUpdate).toMatchObject({ __typename: 'InvalidInputError', field: 'envFile' });
    const unknown = await checkDeployment('00000000-0000-0000-0000-000000000000');
    expect(unknown.__typename).toBe('NotFoundError');
  });
});

test('mergeValues layers values as helm does: maps merged, lists replaced, null kept to remove the key', () => {
  expect(mergeValues('a: {b: 1, c: [1, 2]}\nd: 1\n', 'a: {c: [3]}\nd: null\n')).toEqual({ a: { b: 1, c: [3] }, d: null });
});
