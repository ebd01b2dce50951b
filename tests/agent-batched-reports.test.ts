/**
 * Batched status reporting (issue 15, item 5): an agent whose deployments change together sends
 * them in one `agentReportStatus` call, the newest report of each deployment winning; what is
 * queued while a call is in flight goes in the next call. Real hub, real PostgreSQL, the agent's
 * own HubClient over its open graphql-ws socket and its own StatusReporter.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { pino } from 'pino';
import type { StatusReport } from '../protocol/index.js';
import { HubClient, type StatusReportOutcome } from '../agent/core/hub-client.js';
import { StatusReporter } from '../agent/core/status-reporter.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, createDeployment, seedDockerSetup } from './testkit/flow.js';
import { ok } from './testkit/graphql.js';

let pgServer: TestPostgres;
let hub: TestHub;
const cleanups: (() => Promise<unknown> | void)[] = [];
beforeAll(async () => {
  pgServer = await startTestPostgres();
  hub = await startTestHub(await pgServer.freshDatabase('batched_reports'));
});
afterAll(async () => {
  await hub?.close();
  await pgServer?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const logger = pino({ level: 'silent' });

/** A target with `n` docker deployments and the agent's HubClient connected over its socket. */
async function agentWith(name: string, n: number) {
  const { version, target } = await seedDockerSetup(hub.url, hub.apiKey, name);
  const deployments = [];
  for (let i = 0; i < n; i++) deployments.push(await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: version.id, docker: { composeType: 'compose' } }));
  const access = await createAccess(hub.url, hub.apiKey, target.id);
  const client = new HubClient({ hubUrl: hub.url, targetId: target.id, secret: () => access.secret, agentVersion: 'test', logger });
  const stop = new AbortController();
  let connected!: () => void;
  const isConnected = new Promise<void>((r) => (connected = r));
  const subscription = client.subscribeDesiredState(() => {}, { onConnected: () => connected() }, stop.signal);
  cleanups.push(() => {
    stop.abort();
    return subscription;
  });
  await isConnected;
  return { deployments, client, stop };
}

/** A StatusReporter over the real client that records each call and lets a test await the answers. */
function recordingReporter(client: HubClient, opts: { maxPerCall?: number; gate?: Promise<void> } = {}) {
  const calls: StatusReport[][] = [];
  const answered: StatusReportOutcome[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const reporter = new StatusReporter(
    async (reports) => {
      calls.push(reports);
      if (calls.length === 1 && opts.gate) await opts.gate;
      const outcome = await client.reportStatus(reports);
      answered.push(outcome);
      for (const w of waiters.filter((w) => answered.length >= w.n)) w.resolve();
      return outcome;
    },
    logger,
    opts.maxPerCall,
  );
  const stop = new AbortController();
  const running = reporter.run(stop.signal);
  cleanups.push(() => {
    stop.abort();
    return running;
  });
  const answers = (n: number) => (answered.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { reporter, calls, answered, answers };
}

const statusOf = (id: string) =>
  ok(hub.url, `query($id: ID!) { deployment(id: $id) { status { phase message revisionId } statusHistory { edges { node { phase message } } } } }`, { id }, hub.apiKey).then(
    (d) => d.deployment as { status: { phase: string; message: string; revisionId: string } | null; statusHistory: { edges: { node: { phase: string; message: string } }[] } },
  );

const report = (d: { id: string; currentRevision: { id: string } }, phase: StatusReport['phase'], message: string): StatusReport => ({
  deploymentId: d.id,
  revisionId: d.currentRevision.id,
  phase,
  message,
});

describe('an agent with several deployments changing at once', () => {
  test('sends one call with all of them; the newest report of each deployment wins', async () => {
    const { deployments, client } = await agentWith('batch-one-call', 3);
    const { reporter, calls, answered, answers } = recordingReporter(client);
    // One turn of the event loop, as when one desired state moves every deployment.
    for (const d of deployments) reporter.queue(report(d, 'progressing', 'applying'));
    for (const d of deployments) reporter.queue(report(d, 'healthy', '2 services healthy'));
    await answers(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.map((r) => [r.deploymentId, r.phase])).toEqual(deployments.map((d) => [d.id, 'healthy']));
    expect(answered[0]).toMatchObject({ accepted: 3, changed: 3, ignored: 0, historyOnly: 0, refused: [] });
    for (const d of deployments) {
      const s = await statusOf(d.id);
      expect(s.status).toEqual({ phase: 'healthy', message: '2 services healthy', revisionId: d.currentRevision.id });
      // The superseded "progressing" never reached the hub: no history row for it.
      expect(s.statusHistory.edges.map((e) => e.node.phase)).toEqual(['healthy']);
    }
    // Unchanged reports are not sent again.
    for (const d of deployments) reporter.queue(report(d, 'healthy', '2 services healthy'));
    reporter.queue(report(deployments[0]!, 'error', '1 of 2 services exited'));
    await answers(2);
    expect(calls[1]!.map((r) => [r.deploymentId, r.phase])).toEqual([[deployments[0]!.id, 'error']]);
  });

  test('what is queued while a call is in flight goes together in the next call', async () => {
    const { deployments, client } = await agentWith('batch-in-flight', 3);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { reporter, calls, answered, answers } = recordingReporter(client, { gate });
    reporter.queue(report(deployments[0]!, 'progressing', 'applying'));
    // The first call has started (it waits at the gate): everything queued now waits for the next one.
    while (calls.length === 0) await new Promise((r) => setImmediate(r));
    reporter.queue(report(deployments[0]!, 'healthy', 'ok'));
    reporter.queue(report(deployments[1]!, 'healthy', 'ok'));
    reporter.queue(report(deployments[2]!, 'error', 'exited 1'));
    open();
    await answers(2);
    expect(calls.map((c) => c.map((r) => `${r.deploymentId}:${r.phase}`))).toEqual([
      [`${deployments[0]!.id}:progressing`],
      [`${deployments[0]!.id}:healthy`, `${deployments[1]!.id}:healthy`, `${deployments[2]!.id}:error`],
    ]);
    expect(answered[1]).toMatchObject({ accepted: 3, changed: 3 });
    expect((await statusOf(deployments[0]!.id)).statusHistory.edges.map((e) => e.node.phase).sort()).toEqual(['healthy', 'progressing']);
    expect((await statusOf(deployments[2]!.id)).status).toMatchObject({ phase: 'error', message: 'exited 1' });
  });

  test('more reports than one call may carry are split over calls, none lost', async () => {
    const { deployments, client } = await agentWith('batch-split', 3);
    const { reporter, calls, answers } = recordingReporter(client, { maxPerCall: 2 });
    for (const d of deployments) reporter.queue(report(d, 'healthy', 'ok'));
    await answers(2);
    expect(calls.map((c) => c.length)).toEqual([2, 1]);
    for (const d of deployments) expect((await statusOf(d.id)).status).toMatchObject({ phase: 'healthy', revisionId: d.currentRevision.id });
  });

  test('a sweep of observations that finish in different turns is sent as one call', async () => {
    const { deployments, client } = await agentWith('batch-sweep', 3);
    const { reporter, calls, answers } = recordingReporter(client);
    await reporter.together(async () => {
      for (const d of deployments) {
        reporter.queue(report(d, 'healthy', 'observed'));
        await new Promise((r) => setTimeout(r, 1)); // each observation ends in a later turn
      }
    });
    await answers(1);
    expect(calls.map((c) => c.length)).toEqual([3]);
  });
});
