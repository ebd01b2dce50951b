/**
 * The Kubernetes agent end to end: a real hub process, the real agent process
 * (`node --import tsx agent/main.ts` with DISTR_AGENT_DRIVER=kubernetes), the real helm binary
 * (releases in helm's default Secret storage) and the tests' REAL Kubernetes control plane
 * (testkit/kube-cluster.ts; kwok simulates the node's pods). The agent runs with the identity its
 * chart gives it: a token of the chart's ServiceAccount, bound to the chart's namespace Role.
 * Charts come from a real Helm repository served by this file and from the real OCI registry
 * (Debian docker-registry, testkit/registry.ts) with htpasswd auth, both on 127.0.0.1; the agent's
 * helm is logged in to the registry beforehand (the agent has no registry credentials of its own).
 *
 * One hub, one namespace and one agent serve the whole file; every test uses its own deployment
 * (its own helm release), so the tests do not depend on one another.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { eventually as pollUntil } from './testkit/agent-process.js';
import { WAIT_BOUND_MS } from './testkit/changes.js';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, onTestFailed, test } from 'vitest';
import type { ChartRepo } from './testkit/chart-repo.js';
import { serveChartRepo } from './testkit/chart-repo.js';
import type { HelmTestEnv } from './testkit/helm.js';
import { createHelmTestEnv, HELM_BIN } from './testkit/helm.js';
import type { AgentIdentity, Kube, KubeObject } from './testkit/kube-cluster.js';
import { adminKube, agentIdentity, createNamespace } from './testkit/kube-cluster.js';
import type { TestRegistry } from './testkit/registry.js';
import { startTestRegistry } from './testkit/registry.js';
import { writeTestChart } from './testkit/test-chart.js';
import {
  createAccess,
  createApplication,
  createDeployment,
  createKubernetesVersion,
  createTarget,
  deleteDeployment,
  deploymentStatus,
  forceRestart,
  updateDeployment,
} from './testkit/flow.js';
import { repoRoot, spawnHub, type HubProcess } from './testkit/hub.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';


let NAMESPACE: string;

let postgres: TestPostgres;
let kube: Kube;
let identity: AgentIdentity;
let removeNamespace: () => Promise<void>;
let helmEnv: HelmTestEnv;
let repo: ChartRepo;
let registry: TestRegistry;
let hub: HubProcess;
let key: string;
let agent: { process: ResultPromise; output: () => string };
let agentAccess: { targetId: string; secret: string };
const tempDirs: string[] = [];
let app: { id: string };
let version: { id: string };
let target: { id: string };

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** The agent's and hub's output, printed when a test fails. */
function processOutput(): string {
  return `--- agent output (LOG_LEVEL=debug, last 12000 chars) ---\n${agent?.output().slice(-12_000) ?? ''}\n--- hub output (last 3000 chars) ---\n${hub?.output().slice(-3_000) ?? ''}`;
}

afterEach(async ({ task }) => {
  if (task.result?.state === 'fail' && NAMESPACE) console.log(await kube.describeWorkloads(NAMESPACE));
});

beforeAll(async () => {
  postgres = await startTestPostgres();
  const chartsDir = await tempDir('k8s-e2e-charts-');
  repo = await serveChartRepo([await writeTestChart(chartsDir, { version: '1.0.0' }), await writeTestChart(chartsDir, { version: '1.1.0' })]);
  registry = await startTestRegistry();
  kube = await adminKube();
  const ns = await createNamespace(kube, 'e2e');
  NAMESPACE = ns.name;
  removeNamespace = ns.remove;
  // The agent's pod would run as the chart's ServiceAccount, bound to the chart's Role.
  identity = await agentIdentity(kube, { namespace: NAMESPACE, scope: 'namespace' });
  // The test's own helm (for looking and for changes "by hand", as the cluster admin): its own
  // HELM_*_HOME folders.
  helmEnv = await createHelmTestEnv({ kubeconfigPath: kube.kubeconfigPath });

  // The hub's default keepalive (15 s), not the testkit's 2 s: this file does not test keepalive,
  // and an agent busy running helm on a loaded machine can miss a 2 s pong and be dropped.
  hub = await spawnHub(await postgres.freshDatabase('hub'), { env: { DISTR_KEEPALIVE_SECONDS: '15' } });
  key = hub.bootstrapKey!;
  app = await createApplication(hub.url, key, 'web', 'kubernetes');
  version = await createKubernetesVersion(hub.url, key, {
    applicationId: app.id,
    name: '1.0.0',
    chartType: 'repository',
    chartUrl: repo.url,
    chartName: 'web',
    chartVersion: '1.0.0',
    baseValues: 'message: hello\n',
  });
  expect(version).toMatchObject({ __typename: 'ApplicationVersion', chartType: 'repository' });
  target = await createTarget(hub.url, key, { name: 'test-cluster', type: 'kubernetes', namespace: NAMESPACE, scope: 'namespace' });
  expect(target).toMatchObject({ __typename: 'DeploymentTarget', namespace: NAMESPACE, scope: 'namespace' });
  const access = await createAccess(hub.url, key, target.id);

  agentAccess = { targetId: target.id, secret: access.secret };
  await startAgent();
});

/**
 * Start the agent process with a NEW, empty state folder and helm homes (as a freshly scheduled
 * pod with emptyDir volumes would have) and wait until it is connected to the hub.
 */
async function startAgent(): Promise<void> {
  const agentHome = await tempDir('k8s-e2e-agent-helm-');
  // Credentials for the OCI registry in the agent's helm config (as an operator would set up).
  const user = registry.users[0]!;
  await execa(HELM_BIN, ['registry', 'login', registry.host, '--username', user.username, '--password-stdin', '--insecure'], {
    env: { ...process.env, HELM_CONFIG_HOME: path.join(agentHome, 'config'), HELM_CACHE_HOME: path.join(agentHome, 'cache'), HELM_DATA_HOME: path.join(agentHome, 'data') },
    input: user.password,
  });
  let out = '';
  // Run node directly (not npx) so SIGTERM reaches the agent itself.
  const child = execa(process.execPath, ['--import', 'tsx', 'agent/main.ts'], {
    cwd: repoRoot,
    env: {
      DISTR_HUB_URL: hub.url,
      DISTR_TARGET_ID: agentAccess.targetId,
      DISTR_TARGET_SECRET: agentAccess.secret,
      DISTR_AGENT_DRIVER: 'kubernetes',
      DISTR_NAMESPACE: NAMESPACE,
      DISTR_SCOPE: 'namespace',
      DISTR_AGENT_STATE_DIR: await tempDir('k8s-e2e-agent-state-'),
      DISTR_OBSERVE_INTERVAL_SECONDS: '0.3',
      DISTR_RETRY_MAX_SECONDS: '2',
      KUBECONFIG: identity.kubeconfigPath,
      HELM_BIN,
      HELM_CACHE_HOME: path.join(agentHome, 'cache'),
      HELM_CONFIG_HOME: path.join(agentHome, 'config'),
      HELM_DATA_HOME: path.join(agentHome, 'data'),
      DISTR_HELM_PLAIN_HTTP: 'true',
      LOG_LEVEL: 'debug',
    },
    reject: false,
    all: true,
  });
  child.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  agent = { process: child, output: () => out };
  await eventually('the agent to connect to the hub', () => out.includes('"connected to hub"'));
}

async function stopAgent(): Promise<void> {
  if (agent && agent.process.exitCode === null) {
    agent.process.kill('SIGTERM');
    await agent.process;
  }
}

afterAll(async () => {
  await stopAgent();
  await hub?.stop();
  await identity?.remove();
  await removeNamespace?.();
  await registry?.stop();
  await repo?.close();
  await helmEnv?.close();
  await postgres?.stop();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/** Poll until `check` holds; fails at once, with the process output, if the agent exits. */
function eventually<T>(what: string, check: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = WAIT_BOUND_MS): Promise<T> {
  return pollUntil(check, what, timeoutMs, undefined, () =>
    agent.process.exitCode !== null ? `the agent exited (code ${agent.process.exitCode})\n${processOutput()}` : null,
  );
}

type Status = { phase: string; message: string; revisionId: string };

/** The deployment's status as the API shows it, once it matches. */
function apiStatus(deploymentId: string, phase: string, revisionId: string, message?: RegExp): Promise<Status> {
  return eventually(`deployment ${deploymentId} ${phase} at revision ${revisionId}${message ? ` with message ${message}` : ''}`, async () => {
    const d = await deploymentStatus(hub.url, key, deploymentId);
    const s = d.status;
    if (s && s.phase === phase && s.revisionId === revisionId && (!message || message.test(s.message))) return s;
    throw new Error(`status is ${JSON.stringify(s)}`);
  });
}

async function helm(args: string[]): Promise<string> {
  return (await execa(helmEnv.helmBin, args, { env: { ...process.env, ...helmEnv.env } })).stdout;
}

/** The release's helm revision, or null when it does not exist. */
async function helmRevision(release: string): Promise<number | null> {
  const result = await execa(helmEnv.helmBin, ['status', release, '-n', NAMESPACE, '-o', 'json'], { env: { ...process.env, ...helmEnv.env }, reject: false });
  if (result.exitCode !== 0) {
    if (/not found/.test(result.stderr)) return null;
    throw new Error(result.stderr);
  }
  return (JSON.parse(result.stdout) as { version: number }).version;
}

const podTemplate = (d: KubeObject | undefined) =>
  (d?.spec as { template: { metadata?: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } } | undefined)?.template;

async function deploy(releaseName: string, valuesYaml: string, versionId = version.id) {
  const d = await createDeployment(hub.url, key, { targetId: target.id, versionId, kubernetes: { releaseName, valuesYaml } });
  expect(d).toMatchObject({ __typename: 'Deployment', releaseName });
  return d as { id: string; currentRevision: { id: string } };
}

describe('the Kubernetes agent process against a hub process, real helm and a real Kubernetes API server', () => {
  test('installs a release, upgrades it on new values, restarts its workloads and uninstalls it on delete', async () => {
    onTestFailed(() => console.log(processOutput()));
    const d = await deploy('web', 'message: first\n');

    // Installed: the release exists, its objects are in the cluster, the API shows it healthy.
    const healthy = await apiStatus(d.id, 'healthy', d.currentRevision.id);
    expect(healthy.message).toBe('release web revision 1 deployed, 1 workload(s) ready');
    expect(await helmRevision('web')).toBe(1);
    const installed = (await kube.get('Deployment', NAMESPACE, 'web'));
    expect(installed?.metadata?.annotations?.['meta.helm.sh/release-name']).toBe('web');
    expect((await kube.get('ConfigMap', NAMESPACE, 'web-config'))?.data).toEqual({ MESSAGE: 'first' });
    expect((await kube.get('Service', NAMESPACE, 'web'))).toBeDefined();

    // New values: helm upgrade to revision 2, objects changed, the new revision reported.
    const updated = await updateDeployment(hub.url, key, d.id, { valuesYaml: 'message: second\nreplicas: 2\n' });
    expect(updated.currentRevision.id).not.toBe(d.currentRevision.id);
    const upgraded = await apiStatus(d.id, 'healthy', updated.currentRevision.id, /revision 2/);
    expect(upgraded.message).toBe('release web revision 2 deployed, 1 workload(s) ready');
    expect(await helmRevision('web')).toBe(2);
    expect((await kube.get('ConfigMap', NAMESPACE, 'web-config'))?.data).toEqual({ MESSAGE: 'second' });
    expect((await kube.get('Deployment', NAMESPACE, 'web'))?.spec?.replicas).toBe(2);

    // Force restart: the pod template's restartedAt annotation is set (a rollout restart: the
    // deployment controller replaces every pod), then changed again; no helm change.
    const restartedAt = async () => podTemplate(await kube.get('Deployment', NAMESPACE, 'web'))?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
    const podNames = async () => (await kube.list('Pod', NAMESPACE, 'app.kubernetes.io/instance=web')).map((p) => p.metadata!.name!);
    expect(await restartedAt()).toBeUndefined();
    const podsBefore = await eventually('two pods', async () => ((await podNames()).length === 2 ? podNames() : null));
    const restart1 = await forceRestart(hub.url, key, d.id);
    const first = await eventually('the restartedAt annotation', () => restartedAt());
    await eventually('new pods replacing the old ones', async () => {
      const now = await podNames();
      return now.length === 2 && now.every((name) => !podsBefore.includes(name));
    });
    await apiStatus(d.id, 'healthy', restart1.currentRevision.id);
    const restart2 = await forceRestart(hub.url, key, d.id);
    await eventually('a new restartedAt annotation', async () => (await restartedAt()) !== first);
    await apiStatus(d.id, 'healthy', restart2.currentRevision.id);
    expect(await helmRevision('web')).toBe(2);

    // Delete: the release is uninstalled and its objects are gone.
    expect(await deleteDeployment(hub.url, key, d.id)).toMatchObject({ __typename: 'Deleted' });
    await eventually('release web uninstalled', async () => (await helmRevision('web')) === null);
    await eventually(
      'objects of release web gone',
      async () => !(await kube.get('Deployment', NAMESPACE, 'web')) && !(await kube.get('ConfigMap', NAMESPACE, 'web-config')) && !(await kube.get('Service', NAMESPACE, 'web')) && (await kube.list('Pod', NAMESPACE, 'app.kubernetes.io/instance=web')).length === 0,
    );
  });

  test('values that never become ready show as an error naming the workload', async () => {
    onTestFailed(() => console.log(processOutput()));
    const d = await deploy('stuck', 'message: ok\n');
    await apiStatus(d.id, 'healthy', d.currentRevision.id);
    // The new pods crash-loop (a kwok stage: no container runs), then the rollout passes its deadline.
    const broken = await updateDeployment(hub.url, key, d.id, { valuesYaml: 'fault: crash-loop\nprogressDeadlineSeconds: 4\n' });
    const crashing = await apiStatus(d.id, 'error', broken.currentRevision.id);
    expect(crashing.message).toMatch(/^Deployment stuck: (pod stuck-\S+ container web CrashLoopBackOff|ProgressDeadlineExceeded)/);
    const stuck = await apiStatus(d.id, 'error', broken.currentRevision.id, /ProgressDeadlineExceeded/);
    expect(stuck.message).toMatch(/^Deployment stuck: ProgressDeadlineExceeded: ReplicaSet "stuck-\S+" has timed out progressing/);
    expect(await helmRevision('stuck')).toBe(2);
    // Fixing the values makes it healthy again.
    const fixed = await updateDeployment(hub.url, key, d.id, { valuesYaml: 'image: example.test/web:2\n' });
    await apiStatus(d.id, 'healthy', fixed.currentRevision.id, /revision 3/);
  });

  test('an atomic upgrade that fails is rolled back by helm and reported once, without retries', async () => {
    onTestFailed(() => console.log(processOutput()));
    const d = await deploy('guarded', 'message: ok\n');
    await apiStatus(d.id, 'healthy', d.currentRevision.id);
    const bad = await updateDeployment(hub.url, key, d.id, {
      valuesYaml: 'image: example.test/web:2\nfault: never-ready\n',
      helmOptions: { atomic: true, wait: true, timeoutSeconds: 10 },
    });
    const failed = await apiStatus(d.id, 'error', bad.currentRevision.id, /rolled back due to atomic being set/);
    expect(failed.message).toMatch(new RegExp(`^helm upgrade --install guarded \\(namespace ${NAMESPACE}\\) failed: `));
    // Revision 2 failed, helm rolled back to revision 3 with the old image.
    expect(await helmRevision('guarded')).toBe(3);
    expect(podTemplate((await kube.get('Deployment', NAMESPACE, 'guarded')))?.spec.containers[0]?.image).toBe('example.test/web:1');
    // A permanent failure: the agent decides (and logs) to wait for a new revision instead of
    // retrying — read from its decision, not from waiting a while and seeing nothing.
    const failures = () => agent.output().split('\n').filter((l) => l.includes('"apply failed"') && l.includes(d.id));
    const decision = await eventually('the agent\'s decision on the failure', () => failures()[0]);
    expect(JSON.parse(decision)).toMatchObject({ permanent: true, retryInMs: null });
    expect((await deploymentStatus(hub.url, key, d.id)).status).toMatchObject({ phase: 'error', revisionId: bad.currentRevision.id });
    // A new revision is applied again, as the next helm revision: nothing was retried in between.
    const good = await updateDeployment(hub.url, key, d.id, { valuesYaml: 'message: fixed\n', helmOptions: { atomic: true, wait: true, timeoutSeconds: 10 } });
    await apiStatus(d.id, 'healthy', good.currentRevision.id, /revision 4/);
    expect(await helmRevision('guarded')).toBe(4);
    expect(failures()).toHaveLength(1);
    expect((await kube.get('ConfigMap', NAMESPACE, 'guarded-config'))?.data).toEqual({ MESSAGE: 'fixed' });
  });

  test('a release changed by hand with helm shows a drift error through the API until drift is ignored', async () => {
    onTestFailed(() => console.log(processOutput()));
    const d = await deploy('drifty', 'message: from-distr\n');
    await apiStatus(d.id, 'healthy', d.currentRevision.id);
    // Someone runs helm by hand against the same cluster and release storage.
    await helm(['upgrade', 'drifty', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', NAMESPACE, '--reuse-values', '--set', 'message=by-hand']);
    const drift = 'release drifty was changed outside distr (helm revision 2, expected 1)';
    const observed = await apiStatus(d.id, 'error', d.currentRevision.id);
    expect(observed.message).toBe(drift);
    // A new revision does not overwrite the hand-made change: the same drift error, reported once.
    const next = await updateDeployment(hub.url, key, d.id, { valuesYaml: 'message: newer\n' });
    expect((await apiStatus(d.id, 'error', next.currentRevision.id)).message).toBe(drift);
    expect(await helmRevision('drifty')).toBe(2);
    expect((await kube.get('ConfigMap', NAMESPACE, 'drifty-config'))?.data).toEqual({ MESSAGE: 'by-hand' });
    // Ignoring drift lets the agent take the release over again.
    const ignoring = await updateDeployment(hub.url, key, d.id, { helmOptions: { ignoreDrift: true } });
    await apiStatus(d.id, 'healthy', ignoring.currentRevision.id, /revision 3/);
    expect((await kube.get('ConfigMap', NAMESPACE, 'drifty-config'))?.data).toEqual({ MESSAGE: 'newer' });
  });

  test('installs a chart version from a plain-http OCI registry (the real registry, with credentials)', async () => {
    onTestFailed(() => console.log(processOutput()));
    const chartUrl = await registry.pushChart(path.join(repo.dir, 'web-1.1.0.tgz'));
    const ociVersion = await createKubernetesVersion(hub.url, key, { applicationId: app.id, name: '1.1.0-oci', chartType: 'oci', chartUrl, chartVersion: '1.1.0' });
    expect(ociVersion).toMatchObject({ __typename: 'ApplicationVersion', chartType: 'oci', chartUrl });
    const d = await deploy('from-oci', 'message: from-oci\n', ociVersion.id);
    await apiStatus(d.id, 'healthy', d.currentRevision.id);
    const releases = JSON.parse(await helm(['list', '-n', NAMESPACE, '-o', 'json'])) as { name: string; chart: string }[];
    expect(releases.find((r) => r.name === 'from-oci')).toMatchObject({ chart: 'web-1.1.0' });
    expect((await kube.get('ConfigMap', NAMESPACE, 'from-oci-config'))?.data).toEqual({ MESSAGE: 'from-oci' });
    expect(registry.output()).toContain('/v2/charts/web/blobs/sha256:');
  });

  // Keep this test last: it restarts the agent, which re-applies every deployment of the target.
  test('a rescheduled agent (new process, empty state folder) still recognises, upgrades and removes its release, and refuses a foreign one', async () => {
    onTestFailed(() => console.log(processOutput()));
    const d = await deploy('moved', 'message: before\n');
    await apiStatus(d.id, 'healthy', d.currentRevision.id);
    // The ownership record is a ConfigMap in the agent's namespace, labelled with the target.
    const record = (await kube.get('ConfigMap', NAMESPACE, `distr-owner-${d.id}`));
    expect(record?.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'distr-agent', 'distr.io/target-id': target.id });
    expect(record?.data).toMatchObject({ deploymentId: d.id, releaseName: 'moved', namespace: NAMESPACE, revision: '1', inFlight: 'false' });
    await helm(['upgrade', '--install', 'not-ours', 'web', '--repo', repo.url, '--version', '1.0.0', '-n', NAMESPACE]);

    // The pod is rescheduled: the old process stops, a new one starts with empty state and helm homes.
    await stopAgent();
    await startAgent();
    const updated = await updateDeployment(hub.url, key, d.id, { valuesYaml: 'message: after\n' });
    const upgraded = await apiStatus(d.id, 'healthy', updated.currentRevision.id);
    expect(upgraded.message).toMatch(/^release moved revision \d+ deployed/);
    expect((await kube.get('ConfigMap', NAMESPACE, 'moved-config'))?.data).toEqual({ MESSAGE: 'after' });
    expect((await kube.get('ConfigMap', NAMESPACE, `distr-owner-${d.id}`))?.data).toMatchObject({ revision: String(await helmRevision('moved')), inFlight: 'false' });

    // A release someone else installed is still refused.
    const foreign = await deploy('not-ours', 'message: mine\n');
    const refused = await apiStatus(foreign.id, 'error', foreign.currentRevision.id, /exists but was not installed by distr/);
    expect(refused.message).toBe(`release not-ours in namespace ${NAMESPACE} exists but was not installed by distr; refusing to touch it`);
    expect(await helmRevision('not-ours')).toBe(1);
    expect((await kube.get('ConfigMap', NAMESPACE, 'not-ours-config'))?.data).toEqual({ MESSAGE: 'hello' });
    // None of the target's own releases (from the earlier tests too) was refused by the new agent.
    const disowned = agent.output().split('\n').filter((l) => l.includes('was not installed by distr') && !l.includes('not-ours'));
    expect(disowned).toEqual([]);

    // Delete: the foreign deployment first, then ours. Ours being uninstalled (an event after the
    // agent handled the first deletion) bounds the check that the foreign release was left alone.
    expect(await deleteDeployment(hub.url, key, foreign.id)).toMatchObject({ __typename: 'Deleted' });
    expect(await deleteDeployment(hub.url, key, d.id)).toMatchObject({ __typename: 'Deleted' });
    await eventually('release moved uninstalled', async () => (await helmRevision('moved')) === null);
    await eventually('the ownership record of moved deleted', async () => !(await kube.get('ConfigMap', NAMESPACE, `distr-owner-${d.id}`)));
    await eventually('the agent to log the removal of moved', () => agent.output().split('\n').some((l) => l.includes('"removed"') && l.includes(d.id)));
    expect(agent.output().split('\n').filter((l) => l.includes(foreign.id) && /"(removed|remove failed)"/.test(l))).toEqual([]);
    expect(await helmRevision('not-ours')).toBe(1);
  });
});
