/**
 * The deployment page's Preview pane in a real browser (playwright-core + Debian's chromium)
 * against a real hub, with a simulated agent over a real websocket: the hub's dry run shows the
 * compose diff; a runtime preview asked while the agent is offline says so, the agent gets it
 * when it connects and answers, and the page shows the answer (services, diff) without a reload.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { AgentReportRuntimePreviewDocument } from '../protocol/index.js';
import { ensureConsoleBuilt } from '../scripts/build-console.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub } from './testkit/hub.js';
import { hubContext, launchChromium, screenshot, signInAs } from './testkit/browser.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';
import { createAccess, createApplication, createDeployment, createDockerVersion, createTarget, ok } from './testkit/flow.js';

let pg: TestPostgres;
let browser: Browser;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  await ensureConsoleBuilt();
  pg = await startTestPostgres();
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await pg?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

const compose = (image: string) => `services:\n  web:\n    image: ${image}\n    command: ["sleep", "3600"]\n`;

test('the Preview pane: the hub dry run, then a runtime preview waiting for an offline agent, answered live', async () => {
  const hub = await startTestHub(await pg.freshDatabase('console_preview'));
  cleanups.push(() => hub.close());
  const key = hub.apiKey;
  const app = await createApplication(hub.url, key, 'pane-shop', 'docker');
  const v1 = await createDockerVersion(hub.url, key, app.id, 'v1', compose('local/busybox:1'));
  await createDockerVersion(hub.url, key, app.id, 'v2', compose('local/busybox:2'));
  const target = await createTarget(hub.url, key, { name: 'pane-host', type: 'docker' });
  const access = await createAccess(hub.url, key, target.id);
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose' } });

  const blocked: string[] = [];
  const page = await (await hubContext(browser, hub.url, blocked)).newPage();
  await signInAs(page, hub.url, hub.admin.email, hub.admin.password);
  await page.goto(`${hub.url}/#/deployments/${d.id}`);
  const pane = page.getByLabel('Preview', { exact: true });
  await pane.locator('select[name=previewVersion]').selectOption({ label: 'v2' });

  await pane.getByRole('button', { name: 'Preview', exact: true }).click();
  const composeDiff = page.getByTestId('diff compose.yaml');
  await composeDiff.waitFor();
  expect(await composeDiff.textContent()).toContain('+    image: local/busybox:2');

  await pane.getByRole('button', { name: 'Preview on the agent' }).click();
  const state = page.getByTestId('runtime-state');
  await state.getByText(/which is offline/).waitFor();
  expect(await state.textContent()).toMatch(/^Runtime preview: pending — waiting for the target's agent, which is offline: the request stays pending until \S+, then expires$/);

  // The agent connects: its first state carries the request; it answers.
  const token = await agentLogin(hub.url, target.id, access.secret);
  const socket = subscribeAgent(hub.url, token);
  cleanups.push(() => socket.close());
  const [request] = (await socket.next()).runtimePreviews;
  expect(request.composeFile).toContain('local/busybox:2');
  const answer = await ok(hub.url, AgentReportRuntimePreviewDocument, {
    report: {
      previewId: request.previewId,
      baseRevisionId: d.currentRevision.id,
      diff: '--- running/compose.yaml\n+++ candidate/compose.yaml\n@@ -3,1 +3,1 @@\n-    image: local/busybox:1\n+    image: local/busybox:2\n',
      services: [{ name: 'web', change: 'recreated', imageBefore: 'local/busybox:1', imageAfter: 'local/busybox:2' }],
    },
  }, token);
  expect(answer.agentReportRuntimePreview.__typename).toBe('AgentRuntimePreviewReportResult');

  await state.getByText('Runtime preview: done').waitFor();
  expect(await page.getByRole('table', { name: 'Runtime services' }).textContent()).toBe('webrecreatedlocal/busybox:1 → local/busybox:2');
  expect(await page.getByTestId('runtime diff').textContent()).toContain('+    image: local/busybox:2');
  await screenshot(page, 'runtime-preview');
  expect(blocked).toEqual([]);
});
