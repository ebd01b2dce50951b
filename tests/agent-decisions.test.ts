/**
 * agent/core's decisions as pure functions and the worker driven by a scripted driver (issue 9
 * items 8, 10, 11, 13, 24): no Docker, helm, hub or timers beyond the worker's own backoff (kept at 1 ms).
 */
import { describe, expect, test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { AgentCloseCode, type DockerDesiredDeployment, type StatusReport } from '../protocol/index.js';
import { deliveredReports, handleApplyFailure, isMissingImageFailure, isNewWork, nextStep, onRefusal, onSocketClosed, specHash } from '../agent/core/decisions.js';
import { untilAborted } from '../agent/core/backoff.js';
import { DeploymentWorker } from '../agent/core/deployment-worker.js';
import { PermanentApplyError, type DeploymentDriver } from '../agent/core/driver.js';
import { StateStore } from '../agent/core/state-store.js';

const desired = (over: Partial<DockerDesiredDeployment> = {}): DockerDesiredDeployment => ({
  deploymentId: 'd1',
  revisionId: 'r1',
  type: 'docker',
  applicationName: 'shop',
  versionName: 'v1',
  restartMarker: null,
  logsEnabled: false,
  error: null,
  registryAuths: [],
  composeType: 'compose',
  projectName: 'distr-d1',
  composeFile: 'services: {}\n',
  envFile: '',
  ...over,
});

describe('nextStep: what to apply', () => {
  test('apply what was never applied; nothing when the spec is applied; a new revision of the same spec is only recorded', () => {
    const d = desired();
    expect(nextStep(d, undefined, null)).toEqual({ kind: 'apply', hash: specHash(d) });
    const record = { revisionId: 'r1', specHash: specHash(d), restartMarker: null };
    expect(nextStep(d, record, null).kind).toBe('converged');
    expect(nextStep(desired({ revisionId: 'r2' }), record, null).kind).toBe('record-revision');
    expect(nextStep(desired({ envFile: 'A=1\n' }), record, null).kind).toBe('apply');
  });

  test('restart marker: restart once when it changes, not again once acted on', () => {
    const d = desired({ restartMarker: 'm1' });
    expect(nextStep(d, { revisionId: 'r1', specHash: specHash(d), restartMarker: null }, null)).toEqual({ kind: 'restart', hash: specHash(d), marker: 'm1' });
    expect(nextStep(d, { revisionId: 'r1', specHash: specHash(d), restartMarker: 'm1' }, null).kind).toBe('converged');
  });

  test('a spec that failed permanently waits for a new revision that changes it', () => {
    const d = desired();
    expect(nextStep(d, undefined, specHash(d)).kind).toBe('wait-for-new-revision');
    expect(nextStep(desired({ composeFile: 'services: {x: {image: y}}\n' }), undefined, specHash(d)).kind).toBe('apply');
  });

  test('isNewWork: spec, revision or restart marker changed', () => {
    expect(isNewWork(desired(), desired())).toBe(false);
    expect(isNewWork(desired(), desired({ revisionId: 'r2' }))).toBe(true);
    expect(isNewWork(desired(), desired({ restartMarker: 'm' }))).toBe(true);
  });
});

describe('permanent vs transient, refusals, close codes', () => {
  test('PermanentApplyError is permanent; anything else is retried with its attempt number', () => {
    expect(handleApplyFailure(new PermanentApplyError('chart not found'), 3)).toEqual({ kind: 'permanent' });
    expect(handleApplyFailure(new Error('connection refused'), 3)).toEqual({ kind: 'retry', attempt: 3 });
  });

  test('a missing image is permanent (docker and registry wordings); an unreachable registry, a rate limit or a missing network is not', () => {
    const missing = [
      'docker compose up failed: Error response from daemon: manifest for 127.0.0.1:5000/vendor/app:9 not found: manifest unknown: manifest unknown',
      'docker compose up failed: app Error manifest unknown',
      'Error response from daemon: pull access denied for nosuch/image, repository does not exist or may require \'docker login\': denied: requested access to the resource is denied',
      'failed to resolve reference "docker.io/library/nosuch:1": docker.io/library/nosuch:1: not found',
      'Error response from daemon: name unknown: repository name not known to registry',
    ];
    for (const message of missing) expect(isMissingImageFailure(message), message).toBe(true);
    const transient = [
      'docker compose up failed: Error response from daemon: Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused',
      'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
      'toomanyrequests: You have reached your pull rate limit.',
      'Error response from daemon: network distr-d1_default not found',
      'Error response from daemon: No such image: local/nope:missing',
      'net/http: TLS handshake timeout',
    ];
    for (const message of transient) expect(isMissingImageFailure(message), message).toBe(false);
  });

  test('refused batches are dropped; logs_disabled also stops log shipping; refused reports are not counted delivered', () => {
    expect(onRefusal({ __typename: 'InvalidInputError', message: 'x', field: 'lines' })).toEqual({ kind: 'drop', stopLogs: false });
    expect(onRefusal({ __typename: 'RuleViolationError', message: 'x', rule: 'logs_disabled' })).toEqual({ kind: 'drop', stopLogs: true });
    const sent = [{ deploymentId: 'a', revisionId: '1' }, { deploymentId: 'b', revisionId: '2' }];
    expect(deliveredReports(sent, [{ deploymentId: 'b', revisionId: '2' }])).toEqual([sent[0]]);
  });

  test('every close code has an action: 4401/4403 log in again, the rest reconnect', () => {
    expect(onSocketClosed(AgentCloseCode.Unauthorized)).toMatchObject({ relogin: true, level: 'warn' });
    expect(onSocketClosed(AgentCloseCode.Forbidden)).toMatchObject({ relogin: true, level: 'error', explanation: expect.stringMatching(/install the new secret/) });
    for (const code of [AgentCloseCode.BadRequest, AgentCloseCode.TooManyInitialisationRequests, AgentCloseCode.ConnectionInitialisationTimeout, AgentCloseCode.InternalServerError, AgentCloseCode.InternalError, AgentCloseCode.GoingAway, 1006, undefined]) {
      expect(onSocketClosed(code).relogin).toBe(false);
    }
  });
});

test('item 10: untilAborted releases its listener on the long-lived signal', async () => {
  const longLived = new AbortController();
  let listeners = 0;
  const add = longLived.signal.addEventListener.bind(longLived.signal);
  const remove = longLived.signal.removeEventListener.bind(longLived.signal);
  longLived.signal.addEventListener = ((...args: Parameters<typeof add>) => (listeners++, add(...args))) as typeof add;
  longLived.signal.removeEventListener = ((...args: Parameters<typeof remove>) => (listeners--, remove(...args))) as typeof remove;
  for (let i = 0; i < 50; i++) {
    const wake = new AbortController();
    const waiting = untilAborted(wake.signal, longLived.signal);
    wake.abort();
    await waiting;
  }
  expect(listeners).toBe(0);
});

/** A driver that records calls and fails as told. */
function scriptedDriver(failApply: (n: number) => Error | null) {
  const calls: string[] = [];
  let applies = 0;
  const driver: DeploymentDriver = {
    type: 'docker',
    async apply() {
      calls.push('apply');
      const err = failApply(++applies);
      if (err) throw err;
    },
    async restart() {
      calls.push('restart');
    },
    async observe() {
      return { phase: 'healthy', message: 'ok', resources: [] };
    },
    async listManaged() {
      return [];
    },
    async remove() {},
  };
  return { driver, calls };
}

async function workerWith(driver: DeploymentDriver, d: DockerDesiredDeployment) {
  const store = new StateStore(await mkdtemp(path.join(os.tmpdir(), 'distr-worker-')));
  const reports: StatusReport[] = [];
  let onConverged: () => void = () => {};
  const worker = new DeploymentWorker(d, {
    driver,
    store,
    logger: pino({ level: 'silent' }),
    report: (r) => reports.push(r),
    converged: () => onConverged(),
    retryBaseMs: 1,
    retryMaxMs: 1,
  });
  const converged = () => new Promise<void>((resolve) => (onConverged = resolve));
  return { worker, reports, converged, store };
}

test('item 13: a permanent failure is reported once (one progressing, one error) and not retried until a new revision', async () => {
  const { driver, calls } = scriptedDriver((n) => (n === 1 ? new PermanentApplyError('chart version 9.9.9 not found') : null));
  const d = desired();
  const { worker, reports, converged } = await workerWith(driver, d);
  // A transient failure of another worker would retry within 1 ms; give this one the chance to retry many times over.
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20 && reports.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  expect(reports.map((r) => r.phase)).toEqual(['progressing', 'error']);
  const done = converged();
  worker.update(desired({ revisionId: 'r2', composeFile: 'services: {fixed: {image: x}}\n' }));
  await done;
  expect(calls).toEqual(['apply', 'apply']);
  expect(reports.map((r) => [r.revisionId, r.phase])).toEqual([['r1', 'progressing'], ['r1', 'error'], ['r2', 'progressing']]);
  worker.stop();
  await worker.done;
});

test('item 13: a transient failure is retried without flipping back to progressing (one history row per distinct failure)', async () => {
  const { driver, calls } = scriptedDriver((n) => (n <= 3 ? new Error('registry unreachable') : null));
  const { worker, reports, converged } = await workerWith(driver, desired());
  await converged();
  expect(calls).toEqual(['apply', 'apply', 'apply', 'apply']);
  expect(reports.map((r) => r.phase)).toEqual(['progressing', 'error', 'error', 'error']);
  worker.stop();
  await worker.done;
});

test('item 11: a force restart reports progressing and is not observable (converged) until the restart was done', async () => {
  const { driver, calls } = scriptedDriver(() => null);
  const d = desired();
  const { worker, reports, converged } = await workerWith(driver, d);
  await converged();
  expect(worker.converged).toBe(true);
  const restartedThenConverged = converged();
  worker.update(desired({ revisionId: 'r2', restartMarker: 'r2' }));
  // At once, before the loop ran: the new revision is not observable (no "healthy" for a restart not yet done).
  expect(worker.converged).toBe(false);
  await restartedThenConverged;
  expect(calls).toEqual(['apply', 'restart']);
  expect(reports.at(-1)).toMatchObject({ revisionId: 'r2', phase: 'progressing', message: 'restarting' });
  expect(worker.converged).toBe(true);
  worker.stop();
  await worker.done;
});
