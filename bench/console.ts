/**
 * The web console in a real browser: `npm run bench:console -- [--targets 10000] [--changes 200] [--loads 7]`.
 *
 * Starts an embedded PostgreSQL (temporary) and the hub as its own process, seeds N docker targets
 * with one deployment each by bulk SQL (bench/propagation/seed.ts), signs in to the console with
 * the first-run admin in Debian's chromium (playwright-core; every request off the hub blocked) and
 * measures:
 *  - the deployments page with N deployments: navigation start → the first deployment row in the
 *    DOM (first render), and → the first moment after it the page's main thread is free to handle
 *    input (a task queued when the row appeared runs: interactive), over `--loads` fresh page loads;
 *    and the Next button → the second page's rows; and the Overview: navigation start → its
 *    "pending" card shows N (the counts of all N deployments, fleetSummary);
 *  - live status: an agent's `agentReportStatus` (HTTP, agent token) for a deployment shown on the
 *    page, with a new message each time; the hub's answer arrived (accepted) → the message is in
 *    the row (a MutationObserver in the page stamps it), p50/p99 over `--changes` reports, one at a
 *    time. Both clocks are this machine's wall clock (performance.timeOrigin + now()).
 * Progress goes to stderr; the last line of stdout is one JSON object with the figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser, Page } from 'playwright-core';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { spawnHub, stopHub, type Hub } from './propagation/hub.js';
import { percentile, round } from './propagation/stats.js';
import { log } from './propagation/util.js';
import { hubContext, launchChromium } from '../tests/testkit/browser.js';
import { ensureConsoleBuilt } from '../scripts/build-console.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const TARGETS = arg('targets', 10_000);
const CHANGES = arg('changes', 200);
const LOADS = arg('loads', 7);
// bench/propagation/seed.ts reaches the propagation bench's option parser (strict, at import):
// hand it no options of ours, then import it.
process.argv.splice(2);
const { createApplication, seedTargets } = await import('./propagation/seed.js');

/** GraphQL over HTTP (bench/propagation/http.ts parses the propagation bench's options on import). */
async function gql(port: number, bearer: string | null, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(`GraphQL: ${body.errors[0]!.message}`);
  return body.data;
}

const now = () => performance.timeOrigin + performance.now();
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50), 1), p99: round(percentile(s, 99), 1), max: round(s.at(-1) ?? NaN, 1) };
};

/** In the page, before its scripts: stamp the first deployment row, the main thread free after it, and each status message's arrival. */
const PAGE_PROBE = `
  window.__bench = { firstRow: null, interactive: null, seen: {} };
  new MutationObserver(() => {
    const b = window.__bench;
    const rows = document.querySelectorAll('tr[data-testid^="deployment-"]');
    if (rows.length && b.firstRow === null) {
      b.firstRow = performance.now();
      setTimeout(() => (b.interactive = performance.now()), 0);
    }
    for (const row of rows) {
      const text = row.cells[4]?.textContent ?? '';
      if (text.startsWith('bench ') && !(text in b.seen)) b.seen[text] = performance.timeOrigin + performance.now();
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

async function measureLoads(page: Page, url: string) {
  const firstRender: number[] = [];
  const interactive: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    // A new query string each time: a real navigation (a fresh document), not a hash change.
    await page.goto(`${url}/?load=${i}#/deployments`);
    await page.waitForFunction(() => (window as any).__bench.interactive !== null, null, { timeout: 60_000 });
    const b = await page.evaluate(() => (window as any).__bench as { firstRow: number; interactive: number });
    firstRender.push(b.firstRow);
    interactive.push(b.interactive);
    log(`load ${i + 1}: first row ${Math.round(b.firstRow)} ms, interactive ${Math.round(b.interactive)} ms`);
    if (process.env.DISTR_BENCH_TIMINGS) {
      const entries = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => `${e.name.replace(location.origin, '')} ${Math.round(e.startTime)}+${Math.round(e.duration)}`));
      log(`  resources: ${entries.join(' | ')}`);
    }
  }
  // The Overview's counts over all N deployments (fleetSummary): navigation start → the pending card shows N.
  const overview: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    await page.goto(`${url}/?overview=${i}#/`);
    overview.push(
      (await (await page.waitForFunction((n) => document.querySelector('[data-testid="phase-pending"] b')?.textContent === String(n) && performance.now(), TARGETS, { timeout: 60_000, polling: 'raf' })).jsonValue()) as number,
    );
  }
  log(`overview counts shown: ${overview.map(Math.round).join(', ')} ms`);
  await page.goto(`${url}/?next#/deployments`);
  await page.waitForFunction(() => (window as any).__bench.interactive !== null);
  const t = performance.now();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByTestId('page-range').filter({ hasText: '51–100' }).waitFor();
  const nextPageMs = performance.now() - t;
  return { firstRender: stats(firstRender), interactive: stats(interactive), nextPageMs: round(nextPageMs, 1), overviewCounts: stats(overview) };
}

async function measureStatus(page: Page, h: Hub, visible: { deploymentId: string; revisionId: string; token: string }[]) {
  const query = `mutation($r: [AgentStatusReportInput!]!) { agentReportStatus(reports: $r) { __typename ... on AgentStatusReportResult { accepted } ... on Error { message } } }`;
  const fromAccepted: number[] = [];
  const fromSent: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const d = visible[i % visible.length]!;
    const message = `bench ${i}`;
    const sent = now();
    const res = await gql(h.port, d.token, query, { r: [{ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: i % 2 ? 'healthy' : 'progressing', message }] });
    const accepted = now();
    if (res?.agentReportStatus?.accepted !== 1) throw new Error(`report ${i} not accepted: ${JSON.stringify(res)}`);
    const seenAt = (await page.waitForFunction((m) => (window as any).__bench.seen[m] ?? false, message, { timeout: 30_000 }).then((h) => h.jsonValue())) as number;
    fromAccepted.push(seenAt - accepted);
    fromSent.push(seenAt - sent);
  }
  return { acceptedToVisible: stats(fromAccepted), sentToVisible: stats(fromSent) };
}

async function main(): Promise<Record<string, unknown>> {
  const loadAtStart = os.loadavg();
  let dir: string | null = null;
  let db: EmbeddedDatabase | null = null;
  let hub: Hub | null = null;
  let browser: Browser | null = null;
  try {
    await ensureConsoleBuilt();
    dir = await mkdtemp(path.join(os.tmpdir(), 'distr-bench-console-'));
    db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
    await db.createDatabase('bench');
    hub = await spawnHub(db.urlFor('bench'));
    const h = hub;
    const password = /password \(shown once\): (\S+)/.exec(h.output())?.[1];
    if (!password) throw new Error('the hub printed no first-run admin password');
    const { appId, v1Id } = await createApplication(h);
    const { seeded, secret } = await seedTargets(db.urlFor('bench'), appId, v1Id, TARGETS);

    // The deployments the page's first page shows, and their agents' tokens.
    const firstPage = (await gql(h.port, h.apiKey, `{ deployments(first: 50) { nodes { id } } }`)).deployments.nodes as { id: string }[];
    const visible = await Promise.all(
      firstPage.map(async ({ id }) => {
        const s = seeded.find((x) => x.deploymentId === id)!;
        const token = (await gql(h.port, null, `mutation($t: ID!, $s: String!) { agentLogin(targetId: $t, secret: $s) { token } }`, { t: s.targetId, s: secret })).agentLogin.token as string;
        return { deploymentId: id, revisionId: s.revisionId, token };
      }),
    );

    browser = await launchChromium();
    const blocked: string[] = [];
    const context = await hubContext(browser, `http://127.0.0.1:${h.port}`, blocked);
    await context.addInitScript(PAGE_PROBE);
    const page = await context.newPage();
    const url = `http://127.0.0.1:${h.port}`;
    await page.goto(url);
    await page.getByLabel('E-mail').fill('admin@localhost');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();

    const deploymentsPage = await measureLoads(page, url);
    // Back to the first page (a fresh load), then the live status changes.
    await page.goto(`${url}/?status#/deployments`);
    await page.waitForFunction(() => (window as any).__bench.interactive !== null);
    const status = await measureStatus(page, h, visible);
    if (blocked.length) throw new Error(`requests off the hub: ${blocked.join(', ')}`);
    return { targets: TARGETS, changes: CHANGES, loads: LOADS, deploymentsPage, status, loadAverage: { start: loadAtStart.map((x) => round(x, 2)), end: os.loadavg().map((x) => round(x, 2)) }, cpus: os.cpus().length, cpu: os.cpus()[0]?.model };
  } finally {
    await browser?.close().catch(() => {});
    if (hub) await stopHub(hub).catch(() => {});
    await db?.stop().catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

main().then(
  (figures) => {
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
