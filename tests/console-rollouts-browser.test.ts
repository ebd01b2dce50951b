/**
 * The console's Rollouts page in a real browser (playwright-core + Debian's chromium) against a
 * real hub process with simulated agents over real websockets: the list, one rollout's waves and
 * members updating live as its canary reports, the halting reason, and an action.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import path from 'node:path';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, spawnHub, type HubProcess } from './testkit/hub.js';
import { createRollout, startFleet, type Fleet } from './testkit/fleet.js';
import { ensureConsoleBuilt } from '../scripts/build-console.js';

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let pg: TestPostgres;
let hub: HubProcess;
let browser: Browser;
let fleet: Fleet;

beforeAll(async () => {
  await ensureConsoleBuilt();
  pg = await startTestPostgres();
  hub = await spawnHub(await pg.freshDatabase('rollouts_browser'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
}, 120_000);

afterAll(async () => {
  await fleet?.close();
  await browser?.close();
  await hub?.stop();
  await pg?.stop();
});

test('a rollout live in the console: waves and members move as the canary reports, the halting reason shows, abort works', async () => {
  // The canary (shop-00) holds v2 without a report until the test makes it fail.
  fleet = await startFleet(hub.url, hub.bootstrapKey!, 3, { name: 'shop', policy: (a, r) => (r.versionName === 'v2' && a.index === 0 ? null : 'healthy') });
  const rollout = await createRollout(hub.url, hub.bootstrapKey!, { applicationId: fleet.appId, versionId: fleet.v2, all: true, start: true, strategy: { canary: 1 } });
  expect(rollout.__typename).toBe('Rollout');

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await page.goto(hub.url);
  await page.getByLabel('E-mail').fill('admin@localhost');
  await page.getByLabel('Password').fill(hub.bootstrapPassword!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();

  await page.getByRole('link', { name: 'Rollouts' }).click();
  const row = page.getByTestId(`rollout-${rollout.id}`);
  await row.getByText('running').waitFor();
  await row.getByRole('link', { name: 'shop' }).click();

  await page.getByRole('heading', { name: /shop v2/ }).waitFor();
  await page.getByTestId('wave-0').getByText('1 updating').waitFor();
  expect(await page.getByTestId('member-shop-00').textContent()).toMatch(/updating.*a healthy status at revision/);
  expect(await page.getByTestId('member-shop-01').textContent()).toMatch(/pending.*wave 1/);
  await page.screenshot({ path: path.join(repoRoot, 'docs', 'screenshots', 'rollout-running.png') });

  // The canary fails: the page shows it without a reload (rolloutProgress subscription).
  await fleet.agents[0]!.report('error', 'web-1 exited (code 1)');
  await page.getByTestId('halt-reason').waitFor();
  expect(await page.getByTestId('halt-reason').textContent()).toMatch(/^Halted: wave 0: 1 deployment of the wave failed/);
  await page.getByTestId('member-shop-00').getByText('failed').waitFor();
  expect(await page.getByTestId('member-shop-00').textContent()).toContain('reported error: web-1 exited (code 1)');
  expect(await page.getByRole('list', { name: 'Transitions' }).textContent()).toMatch(/halt → halted \(wave 0\)/);
  await page.screenshot({ path: path.join(repoRoot, 'docs', 'screenshots', 'rollout-halted.png') });

  // Actions offered by state: a halted rollout can be retried or aborted, not paused.
  expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
  await page.getByRole('button', { name: 'Abort' }).click();
  await page.getByRole('heading', { name: /aborted/ }).waitFor();
  expect(fleet.agents[1]!.received.map((x) => x.versionName)).toEqual(['v1']);
});
