/**
 * Private images and secrets through the real docker agent: the real registry (Debian
 * docker-registry with htpasswd, tests/testkit/registry.ts), a real hub process, the real agent
 * process and the real engine. The image exists only in the registry.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import Docker from 'dockerode';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { spawnHub, type HubProcess } from './testkit/hub.js';
import { spawnAgent, eventually, type AgentProcess } from './testkit/agent-process.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createTarget, ok } from './testkit/flow.js';
import { randomRegistryUser, startTestRegistry, type TestRegistry } from './testkit/registry.js';
import { projectName } from '../server/agents/desired-state.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let postgres: TestPostgres;
let registry: TestRegistry;
let hub: HubProcess;
let agent: AgentProcess;
let databaseUrl: string;
let key: string;
let imageRef: string;
const deploymentIds: string[] = [];
/** Every body the hub answered in this file: grepped for secrets at the end. */
const responses: string[] = [];

const vendor = randomRegistryUser('vendor');
const rotated = randomRegistryUser('rotated');
const ORG_SECRET = `org-${Math.random().toString(36).slice(2)}-value`;
const TARGET_SECRET = `target-${Math.random().toString(36).slice(2)}-value`;

const realFetch = globalThis.fetch;
beforeAll(async () => {
  postgres = await startTestPostgres();
  registry = await startTestRegistry({ users: [vendor, rotated] });
  imageRef = await registry.pushImage(`vendor/private-${Math.random().toString(36).slice(2, 7)}`, { tag: '1' });
  databaseUrl = await postgres.freshDatabase('private');
  hub = await spawnHub(databaseUrl);
  key = hub.bootstrapKey!;
  globalThis.fetch = async (input, init) => {
    const res = await realFetch(input, init);
    if (String(input).startsWith(hub.url)) responses.push(await res.clone().text());
    return res;
  };
});

afterAll(async () => {
  globalThis.fetch = realFetch;
  await agent?.stop();
  for (const id of deploymentIds) {
    const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName(id)}`] } });
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  await docker.getImage(imageRef).remove({ force: true }).catch(() => {});
  await hub?.stop();
  await registry?.stop();
  await postgres?.stop();
});

const output = () => `--- agent ---\n${agent?.output().slice(-8000)}\n--- hub ---\n${hub?.output().slice(-3000)}\n--- registry ---\n${registry?.output().slice(-2000)}`;

async function status(id: string) {
  const data = await ok(
    hub.url,
    `query($id: ID!) { deployment(id: $id) { currentRevision { id } revisions { totalCount: edges { node { id } } } status { phase message revisionId } statusHistory(first: 50) { edges { node { phase message revisionId } } } } }`,
    { id },
    key,
  );
  return data.deployment as {
    currentRevision: { id: string };
    revisions: { totalCount: { node: { id: string } }[] };
    status: { phase: string; message: string; revisionId: string } | null;
    statusHistory: { edges: { node: { phase: string; message: string } }[] };
  };
}

const waitFor = (id: string, what: string, check: (s: Awaited<ReturnType<typeof status>>) => boolean) =>
  eventually(async () => {
    const s = await status(id);
    return check(s) ? s : null;
  }, what, 60_000, output, () => (agent.process.exitCode !== null ? 'the agent exited' : null));

async function containerEnv(id: string): Promise<{ id: string; env: string[] }> {
  const [c] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${projectName(id)}`] } });
  const info = await docker.getContainer(c!.Id).inspect();
  return { id: info.Id, env: info.Config.Env };
}

const setSecret = (input: Record<string, unknown>) =>
  ok(
    hub.url,
    `mutation($input: SetSecretInput!) { setSecret(input: $input) { __typename ... on SecretChange { secret { id name reference } affectedDeployments { id } redeployedDeployments { id } } ... on Error { message } } }`,
    { input },
    key,
  ).then((d) => d.setSecret);

test('a private image: the registry says why without credentials (once), it deploys with them; secrets reach the container only', async () => {
  const app = await createApplication(hub.url, key, 'private-app', 'docker');
  const compose = `services:
  app:
    image: ${imageRef}
    command: ["sh", "-c", "sleep 3600"]
    init: true
    network_mode: none
    environment:
      DB_PASSWORD: \${DB_PASSWORD}
`;
  const version = await createDockerVersion(hub.url, key, app.id, 'v1', compose, 'DB_PASSWORD=${{ secrets.DB_PASSWORD }}\n');
  expect(version.__typename).toBe('ApplicationVersion');
  const target = await createTarget(hub.url, key, { name: 'customer-host', type: 'docker' });

  // Missing secret: a typed error naming it, nothing written.
  const refused = await createDeployment(hub.url, key, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
  expect(refused).toMatchObject({ __typename: 'InvalidInputError', field: 'docker.envFile' });
  expect(refused.message).toContain('"DB_PASSWORD"');

  const orgSecret = await setSecret({ name: 'DB_PASSWORD', value: ORG_SECRET });
  expect(orgSecret.secret.reference).toBe('${{ secrets.DB_PASSWORD }}');

  const access = await createAccess(hub.url, key, target.id);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'distr-agent-private-'));
  agent = spawnAgent({
    DISTR_HUB_URL: hub.url,
    DISTR_TARGET_ID: target.id,
    DISTR_TARGET_SECRET: access.secret,
    DISTR_AGENT_DRIVER: 'docker',
    DISTR_AGENT_STATE_DIR: stateDir,
  });

  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } });
  expect(d.__typename).toBe('Deployment');
  deploymentIds.push(d.id);

  // 1. No credential: the registry's own reason, reported once.
  const noAuth = await waitFor(d.id, 'an error without credentials', (s) => s.status?.phase === 'error');
  expect(noAuth.status!.message).toMatch(/no basic auth credentials|unauthorized/);

  // 2. A wrong password: the credential changed, so the agent tries again, and gets "unauthorized".
  const created = await ok(
    hub.url,
    `mutation($input: RegistryCredentialInput!) { createRegistryCredential(input: $input) { __typename ... on RegistryCredential { id host username } ... on Error { message } } }`,
    { input: { host: registry.host, username: vendor.username, password: 'wrong-password' } },
    key,
  );
  const credential = created.createRegistryCredential;
  expect(credential).toMatchObject({ __typename: 'RegistryCredential', host: registry.host, username: vendor.username });
  const wrong = await waitFor(d.id, 'an unauthorized error', (s) => s.status?.phase === 'error' && /unauthorized/i.test(s.status.message) && !/no basic auth/.test(s.status.message));
  expect(wrong.status!.message).toMatch(/unauthorized/i);
  const errorsBefore = wrong.statusHistory.edges.filter((e) => e.node.phase === 'error').length;

  // Not retried meanwhile: a change that is not the deployment's spec (log streaming on) sends
  // the state again, and another host's credential does not reach this deployment at all.
  await ok(
    hub.url,
    `mutation($input: RegistryCredentialInput!) { createRegistryCredential(input: $input) { __typename } }`,
    { input: { host: 'other.example.com', username: 'x', password: 'y' } },
    key,
  );
  const received = () => agent.output().split('desired state received').length;
  const seen = received();
  await ok(hub.url, `mutation($id: ID!) { updateDeploymentTarget(id: $id, input: {logsEnabled: true}) { __typename } }`, { id: target.id }, key);
  await eventually(() => received() > seen, 'the agent got the unrelated change', 20_000, output);
  expect((await status(d.id)).statusHistory.edges.filter((e) => e.node.phase === 'error')).toHaveLength(errorsBefore);
  expect(agent.output().split('apply failed').length - 1).toBe(2); // once without, once with the wrong credential

  // 3. The right password: retried, pulled from the registry, running with the org secret.
  await ok(
    hub.url,
    `mutation($id: ID!, $input: RegistryCredentialInput!) { updateRegistryCredential(id: $id, input: $input) { __typename } }`,
    { id: credential.id, input: { password: vendor.password } },
    key,
  );
  await waitFor(d.id, 'running', (s) => s.status?.phase === 'running' || s.status?.phase === 'healthy');
  const first = await containerEnv(d.id);
  expect(first.env).toContain(`DB_PASSWORD=${ORG_SECRET}`);
  const revisionsBefore = (await status(d.id)).revisions.totalCount.length;

  // 4. Rotating the credential of a running deployment redeploys nothing.
  await ok(
    hub.url,
    `mutation($id: ID!, $input: RegistryCredentialInput!) { updateRegistryCredential(id: $id, input: $input) { __typename } }`,
    { id: credential.id, input: { username: rotated.username, password: rotated.password } },
    key,
  );
  const seenRotation = received();
  await eventually(() => received() > seenRotation, 'the agent got the rotated credential', 20_000, output);
  expect((await containerEnv(d.id)).id).toBe(first.id);
  expect((await status(d.id)).revisions.totalCount).toHaveLength(revisionsBefore);

  // 5. The customer's own value: listed as affected, nothing redeploys until asked.
  const targetOnly = await setSecret({ name: 'DB_PASSWORD', value: TARGET_SECRET, targetId: target.id });
  expect(targetOnly.affectedDeployments).toEqual([{ id: d.id }]);
  expect(targetOnly.redeployedDeployments).toEqual([]);
  expect((await status(d.id)).revisions.totalCount).toHaveLength(revisionsBefore);
  const redeployed = await setSecret({ name: 'DB_PASSWORD', value: TARGET_SECRET, targetId: target.id, redeploy: true });
  expect(redeployed.redeployedDeployments).toEqual([{ id: d.id }]);
  const after = await waitFor(d.id, 'the redeployed revision running', (s) => s.revisions.totalCount.length === revisionsBefore + 1 && s.status?.revisionId === s.currentRevision.id && s.status.phase !== 'progressing');
  expect(after.revisions.totalCount).toHaveLength(revisionsBefore + 1);
  await eventually(async () => (await containerEnv(d.id)).env.includes(`DB_PASSWORD=${TARGET_SECRET}`), 'the target value in the container', 30_000, output);
  // The organization's value no longer concerns this deployment.
  const orgChange = await setSecret({ name: 'DB_PASSWORD', value: `${ORG_SECRET}-2` });
  expect(orgChange.affectedDeployments).toEqual([]);

  // Deleting a secret in use is refused.
  const del = await ok(hub.url, `mutation($id: ID!) { deleteSecret(id: $id) { __typename ... on RuleViolationError { rule } } }`, { id: targetOnly.secret.id }, key);
  expect(del.deleteSecret).toEqual({ __typename: 'RuleViolationError', rule: 'secret_in_use' });

  // Revisions show the reference, never the value.
  const revisions = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { revisions { edges { node { envFile version { envTemplate } } } } } }`, { id: d.id }, key);
  expect(JSON.stringify(revisions)).toContain('${{ secrets.DB_PASSWORD }}');

  // Nowhere: API responses, agent and hub logs, and the database holds only ciphertext.
  const secrets = [ORG_SECRET, TARGET_SECRET, vendor.password, rotated.password];
  const everything = [responses.join('\n'), agent.output(), hub.output()].join('\n');
  for (const s of secrets) expect(everything, `found ${s}`).not.toContain(s);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tables = (await client.query(`select tablename from pg_tables where schemaname = 'public'`)).rows.map((r) => r.tablename as string);
    const dump = (await Promise.all(tables.map(async (t) => (await client.query(`select row_to_json(x)::text as j from "${t}" x`)).rows.map((r) => r.j).join('\n')))).join('\n');
    for (const s of secrets) expect(dump, `database holds ${s}`).not.toContain(s);
    const ciphertexts = (await client.query(`select ciphertext from secret_value union all select password_ciphertext from registry_credential`)).rows;
    expect(ciphertexts.length).toBeGreaterThan(3);
    for (const row of ciphertexts) expect(row.ciphertext).toMatch(/^v1\.[0-9a-f]{8}\.[\w-]+\.[\w-]+\.[\w-]+$/);
  } finally {
    await client.end();
  }
});
