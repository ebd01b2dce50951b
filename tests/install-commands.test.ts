/**
 * The install commands the hub prints, run as printed: the kubernetes one through the real helm
 * (`helm template` instead of `helm install`, since no cluster is needed to prove the chart comes
 * from the hub's URL and renders with the printed values).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, startTestHub, type TestHub } from './testkit/hub.js';
import { createTarget, ok } from './testkit/flow.js';

let postgres: TestPostgres;
let hub: TestHub;
let home: string;

beforeAll(async () => {
  postgres = await startTestPostgres();
  hub = await startTestHub(await postgres.freshDatabase('install'));
  home = await mkdtemp(path.join(os.tmpdir(), 'distr-install-'));
});
afterAll(async () => {
  await hub?.close();
  await postgres?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

const access = (targetId: string) =>
  ok(
    hub.url,
    `mutation($id: ID!) { createDeploymentTargetAccess(targetId: $id) { ... on DeploymentTargetAccess { secret hubUrl installCommand installComposeFile warnings } } }`,
    { id: targetId },
    hub.apiKey,
  ).then((d) => d.createDeploymentTargetAccess as { secret: string; hubUrl: string; installCommand: string; installComposeFile: string | null; warnings: string[] });

test('the kubernetes command fetches the agent chart from the hub and renders it; the secret stays off the command line', async () => {
  const target = await createTarget(hub.url, hub.apiKey, { name: 'k8s', type: 'kubernetes', namespace: 'customer', scope: 'namespace' });
  const a = await access(target.id);
  expect(a.warnings.join()).toMatch(/DISTR_PUBLIC_URL is not set/);
  expect(a.installCommand).not.toContain(a.secret);
  const helmBin = path.join(repoRoot, '.bin', 'helm');
  const asTemplate = a.installCommand.replace(/^helm install /m, `'${helmBin}' template `).replace(' --create-namespace', '');
  const rendered = await execa('bash', ['-euc', asTemplate], {
    input: `${a.secret}\n`,
    env: { ...process.env, HOME: home, HELM_CACHE_HOME: path.join(home, 'c'), HELM_CONFIG_HOME: path.join(home, 'g'), HELM_DATA_HOME: path.join(home, 'd') },
  });
  const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS()).filter(Boolean);
  const secret = objects.find((o) => o.kind === 'Secret');
  expect(Buffer.from(Object.values(secret.data as Record<string, string>)[0]!, 'base64').toString()).toBe(a.secret);
  const deployment = objects.find((o) => o.kind === 'Deployment');
  expect(JSON.stringify(deployment)).toContain(target.id);
  expect(objects.some((o) => o.kind === 'Role')).toBe(true);
});

test('the docker command names the secret file, not the secret, for docker run; warnings when loopback', async () => {
  const target = await createTarget(hub.url, hub.apiKey, { name: 'host', type: 'docker' });
  const a = await access(target.id);
  expect(a.installCommand).not.toContain(a.secret);
  expect(a.installCommand).toContain('DISTR_TARGET_SECRET_FILE=/run/secrets/distr-agent-secret');
  expect(a.installCommand).toContain('/var/run/docker.sock:/var/run/docker.sock');
  expect(a.installComposeFile).toContain('DISTR_TARGET_SECRET_FILE');
  expect(a.installComposeFile).not.toContain(a.secret);
  expect(a.warnings).toHaveLength(1);
});
