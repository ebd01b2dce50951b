/**
 * The web console and GraphiQL in a real browser: playwright-core driving Debian's chromium
 * (/usr/bin/chromium, installed by scripts/setup-test-env.sh) against a real hub process, real
 * PostgreSQL and the real docker agent on the real Docker engine: the install command the Targets
 * page copies is run verbatim (the agent image from scripts/build-agent-image.sh). Every request to
 * a host other than the hub is blocked (a customer's offline network). Screenshots go to
 * docs/screenshots/.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import Docker from 'dockerode';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, spawnHub, type HubProcess } from './testkit/hub.js';
import { COMPOSE_TWO_SERVICES, createAccess, createTarget } from './testkit/flow.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';
import { hubContext, launchChromium, screenshot as shot, signInAs } from './testkit/browser.js';
import { ensureConsoleBuilt } from '../scripts/build-console.js';
import { freePort } from '../server/db/embedded.js';
import { projectName } from '../server/agents/desired-state.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
let pg: TestPostgres;
let hub: HubProcess;
let browser: Browser;
let context: BrowserContext;
let home: string;
const blocked: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await ensureConsoleBuilt();
  // The image the printed install command runs (built once per machine and source state).
  await execa('bash', [path.join(repoRoot, 'scripts/build-agent-image.sh'), '--if-missing'], { cwd: repoRoot });
  pg = await startTestPostgres();
  const port = await freePort();
  // Host networking: the agent container reaches the hub on the host's loopback.
  hub = await spawnHub(await pg.freshDatabase('browser'), { port, env: { DISTR_PUBLIC_URL: `http://127.0.0.1:${port}` } });
  home = await mkdtemp(path.join(os.tmpdir(), 'distr-browser-home-'));
  browser = await launchChromium();
  context = await hubContext(browser, hub.url, blocked);
}, 600_000);

afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  await browser?.close();
  await hub?.stop();
  await pg?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

test('the console flow: sign in, application, version, target, agent, deploy, logs, update, diff, restart, delete — all live', async () => {
  const page = await context.newPage();
  await page.goto(hub.url);
  await page.getByLabel('E-mail').fill('admin@localhost');
  await page.getByLabel('Password').fill('wrong password!');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toBe('e-mail or password is wrong');
  await page.getByLabel('Password').fill(hub.bootstrapPassword!);
  await shot(page, 'sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();

  // Application and version.
  await page.getByRole('link', { name: 'Applications' }).click();
  await page.getByLabel('New application').fill('shop');
  await page.getByRole('button', { name: 'Create application' }).click();
  await page.getByTestId('app-shop').getByRole('button', { name: 'New version' }).click();
  await page.getByLabel('Version name').fill('1.0.0');
  // The hub's findings appear as you type, next to the field; an error blocks saving.
  await page.getByLabel('Compose file').fill('services:\n  web:\n    image: nginx\n    depends_on: [db]\n');
  const composeFindings = page.getByRole('list', { name: 'Findings for composeFile' });
  await composeFindings.locator('.finding-error').filter({ hasText: 'db' }).waitFor();
  expect(await page.getByRole('button', { name: 'Create version' }).isDisabled()).toBe(true);
  await shot(page, 'version-findings');
  await page.getByLabel('Compose file').fill(COMPOSE_TWO_SERVICES);
  await page.getByLabel('.env template').fill('GREETING=hello\n');
  await page.getByTestId('check-state').filter({ hasText: /^Checks passed/ }).waitFor();
  expect(await composeFindings.count()).toBe(0);
  await page.getByRole('button', { name: 'Create version' }).click();
  const row = page.getByTestId('version-shop-1.0.0');
  await row.waitFor();
  // Archive and restore, shown in the list.
  await row.getByRole('button', { name: 'Archive' }).click();
  await row.getByRole('cell', { name: /^archived / }).waitFor();
  await row.getByRole('button', { name: 'Restore' }).click();
  await row.getByRole('cell', { name: 'active' }).waitFor();
  await shot(page, 'applications');

  // Target, install command (copied), the agent started from it; connected without reload.
  await page.getByRole('link', { name: 'Targets' }).click();
  await page.getByLabel('New target').fill('edge');
  await page.getByRole('button', { name: 'Create target' }).click();
  await page.getByTestId('target-edge').getByRole('button', { name: 'Connect an agent' }).click();
  await page.getByRole('button', { name: 'Copy install command' }).click();
  const command = await page.evaluate(() => navigator.clipboard.readText());
  const secret = (await page.getByTestId('install-secret').textContent())!.trim();
  expect(command).toContain('docker run -d --name distr-agent');
  expect(await page.getByRole('status').textContent()).toBe('Waiting for the agent to connect…');
  // Run the copied command verbatim (bash; the secret on stdin, as its `read -rs` asks for it).
  const targetId = /DISTR_TARGET_ID=(\S+)/.exec(command)![1]!;
  const name = `distr-agent-${targetId.slice(0, 8)}`;
  cleanups.push(async () => {
    await docker.getContainer(name).remove({ force: true });
    await docker.getVolume(`${name}-state`).remove();
  });
  await execa('bash', ['-euo', 'pipefail', '-c', command], { input: `${secret}\n`, env: { ...process.env, HOME: home } });
  await page.getByRole('status').filter({ hasText: 'Agent connected.' }).waitFor({ timeout: 60_000 });
  await page.getByTestId('target-edge').getByText('connected').waitFor();
  await shot(page, 'targets');

  // Deploy; healthy without reload; a line the container prints appears in the log pane.
  await page.getByRole('link', { name: 'Deployments' }).click();
  await page.getByRole('button', { name: 'New deployment' }).click();
  await page.getByLabel('Version').selectOption({ label: 'shop 1.0.0' });
  await page.locator('select[name="targetId"]').selectOption({ label: 'edge' });
  await page.getByLabel('.env').fill('GREETING=first\n');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.getByRole('heading', { name: /shop on edge/ }).waitFor();
  const deploymentId = /#\/deployments\/([\w-]+)/.exec(page.url())![1]!;
  cleanups.push(async () => {
    const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName(deploymentId)}`] } });
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  });
  await page.getByRole('heading', { name: /shop on edge/ }).locator('.phase-healthy').waitFor({ timeout: 90_000 });
  await page.getByTestId('logs').filter({ hasText: 'web up' }).waitFor({ timeout: 60_000 });
  await shot(page, 'deployment');

  // Update the env: a new revision and its diff.
  await page.getByRole('form', { name: 'Update' }).getByLabel('.env').fill('GREETING=second\n');
  await page.getByRole('button', { name: 'Update', exact: true }).click();
  await page.getByTestId('revision-2').waitFor();
  const diff = await page.getByTestId('revision-diff').textContent();
  expect(diff).toContain('- GREETING=first');
  expect(diff).toContain('+ GREETING=second');
  await page.getByRole('heading', { name: /shop on edge/ }).locator('.phase-healthy').waitFor({ timeout: 90_000 });

  // Force restart: a third revision marked as a restart; the Overview counts the deployment
  // healthy (again) and the target connected.
  await page.getByRole('button', { name: 'Force restart' }).click();
  await page.getByTestId('revision-3').getByText('restart').waitFor();
  const deploymentUrl = page.url();
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByTestId('targets-online').filter({ hasText: /^1targets online$/ }).waitFor();
  await page.getByTestId('phase-healthy').filter({ hasText: /^1healthy$/ }).waitFor({ timeout: 90_000 });
  await shot(page, 'overview');
  await page.goto(deploymentUrl);

  // Delete (keeping volumes): back at the list, which is empty.
  const answers = [true, false];
  page.on('dialog', (dialog) => void (answers.shift() ? dialog.accept() : dialog.dismiss()));
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('No deployments yet.').waitFor();
  await shot(page, 'deployments');
  expect(blocked.filter((u) => !u.startsWith(hub.url))).toEqual([]);
}, 300_000);

test('GraphiQL loads with outside network blocked, and a subscription started from its Headers tab receives events', async () => {
  blocked.length = 0;
  const page = await context.newPage();
  await page.goto(`${hub.url}/graphql`);
  await page.locator('.graphiql-container').first().waitFor({ timeout: 60_000 });
  await page.locator('.graphiql-query-editor .monaco-editor').first().click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText('subscription { organizationEvents { kind targetId connected } }');
  await page.getByRole('button', { name: /^headers$/i }).click();
  await page.locator('.graphiql-editor-tool .monaco-editor').last().click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${hub.bootstrapKey}` }));
  await page.locator('.graphiql-execute-button').click();
  // Agents connecting are events: connect until one shows in the response pane.
  const target = await createTarget(hub.url, hub.bootstrapKey!, { name: 'graphiql-events', type: 'docker' });
  const access = await createAccess(hub.url, hub.bootstrapKey!, target.id);
  const response = page.locator('.graphiql-response');
  for (let i = 0; i < 50 && !((await response.textContent()) ?? '').includes(target.id); i++) {
    const socket = subscribeAgent(hub.url, await agentLogin(hub.url, target.id, access.secret));
    await socket.next();
    await socket.close();
  }
  await response.filter({ hasText: target.id }).waitFor();
  expect(await response.textContent()).toContain('liveness');
  await shot(page, 'graphiql');
  expect(blocked).toEqual([]);
}, 180_000);

test('kubernetes forms: an application with an OCI chart version (findings inline), a namespace-scoped target, a deployment with values and its update', async () => {
  const page = await (await hubContext(browser, hub.url, blocked)).newPage();
  await signInAs(page, hub.url, 'admin@localhost', hub.bootstrapPassword!);
  await page.getByRole('link', { name: 'Applications' }).click();
  await page.getByLabel('New application').fill('cluster-shop');
  await page.getByLabel('Kind').selectOption('kubernetes');
  await page.getByRole('button', { name: 'Create application' }).click();
  const app = page.getByTestId('app-cluster-shop');
  await app.getByRole('button', { name: 'New version' }).click();
  await page.getByLabel('Version name').fill('2.0.0');
  await page.getByLabel('OCI registry').check();
  // Nothing listens on port 9: the hub cannot reach the chart (allowed here, as a warning).
  await page.getByLabel('Chart URL (oci://…)').fill('oci://127.0.0.1:9/charts/podinfo');
  await page.getByLabel('Chart version').fill('6.9.2');
  await page.getByLabel('Base values').fill('replicaCount: [1\n');
  await page.getByRole('list', { name: 'Findings for baseValues' }).locator('.finding-error').waitFor();
  expect(await page.getByRole('button', { name: 'Create version' }).isDisabled()).toBe(true);
  await page.getByRole('list', { name: 'Findings for chartUrl' }).locator('.finding-warning').waitFor();
  await shot(page, 'kubernetes-version');
  await page.getByLabel('Base values').fill('replicaCount: 2\n');
  await page.getByLabel('Values template').fill('ingress:\n  enabled: false\n');
  await page.getByTestId('check-state').filter({ hasText: /^Checks passed with \d+ warning/ }).waitFor();
  await page.getByRole('button', { name: 'Create version' }).click();
  const row = page.getByTestId('version-cluster-shop-2.0.0');
  await row.getByRole('button', { name: 'View content' }).click();
  const content = await app.getByTestId('version-content').textContent();
  expect(content).toContain('# chart (oci): oci://127.0.0.1:9/charts/podinfo 6.9.2');
  expect(content).toContain('replicaCount: 2');

  await page.getByRole('link', { name: 'Targets' }).click();
  await page.getByLabel('New target').fill('cluster-eu');
  await page.getByLabel('Kind').selectOption('kubernetes');
  await page.getByLabel('Namespace', { exact: true }).fill('shop');
  await page.getByLabel('Scope').selectOption('namespace');
  await page.getByRole('button', { name: 'Create target' }).click();
  await page.getByTestId('target-cluster-eu').getByRole('cell', { name: 'kubernetes (shop, namespace scope)' }).waitFor();

  // Deploy it (no agent yet: it waits for one) with values, then update the values: a diff.
  await page.getByRole('link', { name: 'Deployments' }).click();
  await page.getByRole('button', { name: 'New deployment' }).click();
  await page.getByLabel('Version').selectOption({ label: 'cluster-shop 2.0.0' });
  await page.getByLabel('Find target').fill('EU');
  await page.locator('select[name="targetId"]').selectOption({ label: 'cluster-eu' });
  expect(await page.getByLabel('Release name').inputValue()).toBe('cluster-shop');
  expect(await page.getByLabel('Values').inputValue()).toBe('ingress:\n  enabled: false\n');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.getByRole('heading', { name: /cluster-shop on cluster-eu/ }).waitFor();
  await page.getByTestId('status-message').filter({ hasText: 'Waiting for the agent to report.' }).waitFor();
  await page.getByRole('form', { name: 'Update' }).getByLabel('Values').fill('ingress:\n  enabled: true\n');
  await page.getByRole('button', { name: 'Update', exact: true }).click();
  await page.getByTestId('revision-2').waitFor();
  const diff = await page.getByTestId('revision-diff').textContent();
  expect(diff).toContain('-   enabled: false');
  expect(diff).toContain('+   enabled: true');
  expect(blocked).toEqual([]);
}, 120_000);

test('invitations: an admin invites from the Members page; the link lets the invited person set a password and join, signed in', async () => {
  const page = await (await hubContext(browser, hub.url, blocked)).newPage();
  await signInAs(page, hub.url, 'admin@localhost', hub.bootstrapPassword!);
  await page.getByRole('link', { name: 'Members' }).click();
  await page.getByLabel('Invite e-mail').fill('dev@example.com');
  await page.locator('select[name="inviteRole"]').selectOption('read_write');
  await page.getByRole('button', { name: 'Invite' }).click();
  const link = (await page.getByTestId('invitation-link').locator('pre').textContent())!.trim();
  expect(link).toMatch(new RegExp(`^${hub.url}/#/invitation/distr_inv_[\\w-]{43}$`));
  await page.getByTestId('invitation-dev@example.com').waitFor();
  await page.getByTestId('member-admin@localhost').waitFor();
  await shot(page, 'members');

  // The invited person: another browser profile, no session.
  const theirs = await hubContext(browser, hub.url, blocked);
  const invited = await theirs.newPage();
  await invited.goto(link);
  await invited.getByLabel('Your name').fill('Dev Eloper');
  await invited.getByLabel('Password').fill('short');
  await invited.getByRole('button', { name: 'Accept invitation' }).click();
  await invited.getByRole('alert').filter({ hasText: 'password: must be at least 10 characters' }).waitFor();
  await shot(invited, 'invitation');
  await invited.getByLabel('Password').fill('a good long password');
  await invited.getByRole('button', { name: 'Accept invitation' }).click();
  await invited.getByRole('heading', { name: 'Overview' }).waitFor();
  expect(await invited.locator('header .who').textContent()).toContain('dev@example.com (read_write)');
  expect(await invited.getByRole('link', { name: 'Members' }).count()).toBe(0);
  await theirs.close();

  await page.reload();
  const role = page.getByLabel('Role of dev@example.com');
  await role.waitFor();
  expect(await role.inputValue()).toBe('read_write');
  expect(await page.getByTestId('invitation-dev@example.com').count()).toBe(0);
  // The admin changes the new member's role; the hub's answer is shown after a re-read.
  await role.selectOption('read_only');
  await expect.poll(() => role.inputValue()).toBe('read_only');
  await page.reload();
  await page.getByLabel('Role of dev@example.com').waitFor();
  expect(await page.getByLabel('Role of dev@example.com').inputValue()).toBe('read_only');
  expect(blocked).toEqual([]);
}, 120_000);
