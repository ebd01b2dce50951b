/**
 * `distr validate` and the SDK's validation methods against a real hub: exit 0 when clean, 1 when
 * a finding is an error (each printed with its field, path and hint), --json, checkDeployment.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DistrService } from '../client/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, startTestHub, type TestHub } from './testkit/hub.js';

const BIN = path.join(repoRoot, 'client/cli/bin.js');
let pg: TestPostgres;
let hub: TestHub;
let service: DistrService;
let dir: string;

beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('validate'));
  service = new DistrService({ hubUrl: hub.url, apiKey: hub.apiKey });
  dir = await mkdtemp(path.join(os.tmpdir(), 'distr-validate-'));
  await writeFile(path.join(dir, 'good.yaml'), 'services:\n  web:\n    image: busybox\n    environment:\n      TOKEN: ${TOKEN:?set TOKEN}\n');
  await writeFile(path.join(dir, 'bad.yaml'), 'services:\n  web:\n    image: busybox\n    depends_on: [db]\n    ports: ["99999:80"]\n');
  await writeFile(path.join(dir, 'env'), 'TOKEN=abc\n');
}, 120_000);
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const distr = async (args: string[]) => {
  const r = await execa(process.execPath, [BIN, ...args], { cwd: dir, env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: hub.apiKey }, reject: false });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
};

test('distr validate version: exit 1 with the findings on errors, 0 with warnings only', async () => {
  await service.createApplication({ name: 'shop', type: 'docker' });
  const bad = await distr(['validate', 'version', 'shop', '--compose', 'bad.yaml']);
  expect(bad.exitCode).toBe(1);
  expect(bad.stdout).toMatch(/^error   composeFile services\.web\.ports\[0\]: services\.web\.ports\[0\]: invalid hostPort: 99999/m);
  const good = await distr(['validate', 'version', 'shop', '--compose', 'good.yaml', '--json']);
  expect(good.exitCode).toBe(0);
  expect(JSON.parse(good.stdout)).toMatchObject({ ok: true, findings: [{ severity: 'warning', code: 'required_variable', field: 'envTemplate' }] });
  const usage = await distr(['validate', 'version', 'shop']);
  expect(usage.exitCode).toBe(2);
});

test('SDK: validateApplicationVersion, validateDeployment and checkDeployment; distr validate deployment', async () => {
  const app = await service.createApplication({ name: 'api', type: 'docker' });
  const composeFile = 'services:\n  web:\n    image: busybox\n    environment:\n      TOKEN: ${TOKEN:?set TOKEN}\n';
  expect((await service.validateApplicationVersion(app.id, { composeFile: 'services: [x]\n' })).ok).toBe(false);
  const version = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile });
  const target = await service.createDeploymentTarget({ name: 'host', type: 'docker' });
  const missing = await service.validateDeployment({ targetId: target.id, versionId: version.id, composeType: 'compose', envFile: '' });
  expect(missing).toMatchObject({ ok: false, findings: [{ code: 'missing_variable', field: 'docker.envFile' }] });
  const deployment = await service.createDeployment({ targetId: target.id, application: { versionId: version.id }, dockerDeployment: { composeType: 'compose', envFile: 'TOKEN=abc\n' } });
  expect(await service.checkDeployment(deployment.id)).toMatchObject({ ok: true, findings: [] });
  const cli = await distr(['validate', 'deployment', deployment.id]);
  expect(cli).toMatchObject({ exitCode: 0, stdout: 'ok: no findings' });
  const unknown = await distr(['validate', 'deployment', '00000000-0000-0000-0000-000000000000']);
  expect(unknown.exitCode).toBe(1);
});
