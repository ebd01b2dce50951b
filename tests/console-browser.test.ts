/**
 * The web console and GraphiQL in a real browser: playwright-core driving Debian's chromium
 * (/usr/bin/chromium, installed by scripts/setup-test-env.sh) against a real hub process, real
 * PostgreSQL and the real docker agent on the real Docker engine. Every request to a host other
 * than the hub is blocked (a customer's offline network). Screenshots go to docs/screenshots/.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, spawnHub, type HubProcess } from './testkit/hub.js';
import { spawnAgent, type AgentProcess } from './testkit/agent-process.js';
import { COMPOSE_TWO_SERVICES, createAccess, createTarget } from './testkit/flow.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';
import { ensureConsoleBuilt } from '../scripts/build-console.js';

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const shots = path.join(repoRoot, 'docs', 'screenshots');

let pg: TestPostgres;
let hub: HubProcess;
let browser: Browser;
let context: BrowserContext;
const blocked: string[] = [];
const agents: AgentProcess[] = [];

beforeAll(async () => {
  await ensureConsoleBuilt();
  pg = await startTestPostgres();
  hub = await spawnHub(await pg.freshDatabase('browser'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
  const hubHost = new URL(hub.url).host;
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === hubHost || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
}, 120_000);

afterAll(async () => {
  for (const agent of agents) await agent.stop().catch(() => {});
  await browser?.close();
  await hub?.stop();
  await pg?.stop();
});

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

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
  await page.getByLabel('New docker application').fill('shop');
  await page.getByRole('button', { name: 'Create application' }).click();
  await page.getByTestId('app-shop').getByRole('button', { name: 'New version' }).click();
  await page.getByLabel('Version name').fill('1.0.0');
  await page.getByLabel('Compose file').fill(COMPOSE_TWO_SERVICES);
  await page.getByLabel('.env template').fill('GREETING=hello\n');
  await page.getByRole('button', { name: 'Create version' }).click();
  await page.getByTestId('app-shop').getByRole('cell', { name: '1.0.0' }).waitFor();
  await shot(page, 'applications');

  // Target, install command (copied), the agent started from it; connected without reload.
  await page.getByRole('link', { name: 'Targets' }).click();
  await page.getByLabel('New docker target').fill('edge');
  await page.getByRole('button', { name: 'Create target' }).click();
  await page.getByTestId('target-edge').getByRole('button', { name: 'Connect an agent' }).click();
  await page.getByRole('button', { name: 'Copy install command' }).click();
  const command = await page.evaluate(() => navigator.clipboard.readText());
  const secret = (await page.getByTestId('install-secret').textContent())!.trim();
  expect(command).toContain('docker run -d --name distr-agent');
  expect(await page.getByRole('status').textContent()).toBe('Waiting for the agent to connect…');
  // The command's `docker run` needs the agent image from a registry, which is unreachable here:
  // run the same agent as a process with exactly the settings the copied command carries.
  const env = Object.fromEntries([...command.matchAll(/-e (DISTR_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  const secretFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'distr-browser-')), 'secret');
  await writeFile(secretFile, secret, { mode: 0o600 });
  expect(new URL(env.DISTR_HUB_URL!).port).toBe(String(hub.port));
  agents.push(
    spawnAgent({
      DISTR_HUB_URL: env.DISTR_HUB_URL!,
      DISTR_TARGET_ID: env.DISTR_TARGET_ID!,
      DISTR_TARGET_SECRET_FILE: secretFile,
      DISTR_AGENT_DRIVER: 'docker',
      DISTR_AGENT_STATE_DIR: path.dirname(secretFile),
      DISTR_DOCKER_PULL_POLICY: 'never',
    }),
  );
  await page.getByRole('status').filter({ hasText: 'Agent connected.' }).waitFor({ timeout: 60_000 });
  await page.getByTestId('target-edge').getByText('connected').waitFor();
  await shot(page, 'targets');

  // Deploy; healthy without reload; a line the container prints appears in the log pane.
  await page.getByRole('link', { name: 'Deployments' }).click();
  await page.getByLabel('Version').selectOption({ label: 'shop 1.0.0' });
  await page.getByLabel('Target').selectOption({ label: 'edge' });
  await page.getByLabel('.env').fill('GREETING=first\n');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.getByRole('heading', { name: /shop on edge/ }).waitFor();
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

  // Force restart: a third revision marked as a restart.
  await page.getByRole('button', { name: 'Force restart' }).click();
  await page.getByTestId('revision-3').getByText('restart').waitFor();

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
