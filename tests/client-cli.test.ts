/**
 * The `distr` CLI as a real process (node client/cli/bin.js) against a real hub: the appendix flow,
 * a release from CI, --json, exit codes (1 refused, 2 usage, 3 connection/auth) and status --watch.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DistrService } from '../client/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, startTestHub, type TestHub } from './testkit/hub.js';
import { COMPOSE_TWO_SERVICES, createDockerVersion, ok } from './testkit/flow.js';
import { agentLogin, reportStatus } from './testkit/agent-socket.js';
import { Changes } from './testkit/changes.js';
import { freePort } from '../server/db/embedded.js';

const BIN = path.join(repoRoot, 'client/cli/bin.js');

let pg: TestPostgres;
let hub: TestHub;
let service: DistrService;
let dir: string;
beforeAll(async () => {
  pg = await startTestPostgres();
  dir = await mkdtemp(path.join(os.tmpdir(), 'distr-cli-'));
  await writeFile(path.join(dir, 'compose.yaml'), COMPOSE_TWO_SERVICES);
  await writeFile(path.join(dir, '.env.template'), 'GREETING=hello\n');
  await writeFile(path.join(dir, '.env'), 'GREETING=hi\n');
  await writeFile(path.join(dir, 'base-values.yaml'), 'replicas: 1\n');
  await writeFile(path.join(dir, 'values.yaml'), 'replicas: 3\n');
  await writeFile(path.join(dir, 'values-5.yaml'), 'replicas: 5\n');
});
afterAll(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  hub = await startTestHub(await pg.freshDatabase('cli'));
  service = new DistrService({ hubUrl: hub.url, apiKey: hub.apiKey });
});
afterEach(async () => {
  await hub?.close();
});

/** Run `distr …` in the temp folder with the hub in the environment (as CI would). */
function spawnDistr(args: string[], env: Record<string, string> = {}): ResultPromise<{ reject: false; cwd: string; env: Record<string, string> }> {
  return execa(process.execPath, [BIN, ...args], { cwd: dir, env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: hub.apiKey, ...env }, reject: false });
}

async function distr(args: string[], env: Record<string, string> = {}) {
  const { exitCode, stdout, stderr } = await spawnDistr(args, env);
  return { exitCode, stdout: String(stdout), stderr: String(stderr) };
}

/** Run with --json; must succeed; returns the parsed stdout. */
async function distrJson<T = any>(args: string[]): Promise<T> {
  const result = await distr([...args, '--json']);
  expect(result, `distr ${args.join(' ')}`).toMatchObject({ exitCode: 0, stderr: '' });
  return JSON.parse(result.stdout) as T;
}

describe('help and usage errors', () => {
  test('--help everywhere, exit 0', async () => {
    const top = await distr(['--help']);
    expect(top.exitCode).toBe(0);
    expect(top.stdout).toContain('Usage: distr [options] [command]');
    expect(top.stdout).toMatch(/Exit codes: 0 ok, 1 the hub refused/);
    const create = await distr(['versions', 'create', '--help']);
    expect(create.exitCode).toBe(0);
    expect(create.stdout).toContain('--chart-type <type>');
    expect(create.stdout).toContain('--env-template <file>');
    expect((await distr(['status', '--help'])).stdout).toContain('--watch');
    expect(await distr(['--version'])).toMatchObject({ exitCode: 0, stdout: '0.1.0' });
  });

  test.each([
    [['versions', 'create', 'shop', '1.0.0'], /error: give either --compose FILE \(docker\) or --chart-type/],
    [['applications', 'create', 'shop'], /error: required option '--type <type>' not specified/],
    [['applications', 'create', 'shop', '--type', 'vm'], /error: option '--type <type>' argument 'vm' is invalid/],
    [['deploy', '--target', 'x'], /error: required option '--version <version>' not specified/],
    [['frobnicate'], /error: unknown command 'frobnicate'/],
    [['versions', 'create', 'shop', '1.0.0', '--compose', 'missing.yaml'], /error: --compose: cannot read missing.yaml: ENOENT/],
    [['update', 'some-id'], /error: nothing to update/],
  ])('distr %j is a usage error: exit 2', async (args, message) => {
    if (args.includes('missing.yaml')) await service.createApplication({ name: 'shop', type: 'docker' });
    const result = await distr(args);
    expect(result.stderr).toMatch(message);
    expect(result.exitCode).toBe(2);
  });

  test('no hub configured is a usage error; an unreachable hub or a refused key is exit 3', async () => {
    const noHub = await distr(['apps', 'list'], { DISTR_HUB_URL: '' });
    expect(noHub).toMatchObject({ exitCode: 2, stderr: 'error: no hub URL: set DISTR_HUB_URL or pass --hub <url>' });
    const port = await freePort();
    const down = await distr(['apps', 'list', '--hub', `http://127.0.0.1:${port}`]);
    expect(down).toMatchObject({ exitCode: 3, stderr: `error: cannot reach the hub at http://127.0.0.1:${port}: ECONNREFUSED` });
    const badKey = await distr(['apps', 'list', '--api-key', 'dk_nope']);
    expect(badKey).toMatchObject({ exitCode: 3, stderr: 'error: API key invalid, expired or revoked' });
  });
});

describe('the appendix flow through the CLI', () => {
  test('kubernetes: application, version, target, access, deploy, update', async () => {
    const app = await distrJson(['applications', 'create', 'my-app', '--type', 'kubernetes']);
    expect(app).toMatchObject({ name: 'my-app', type: 'kubernetes' });
    const v1 = await distrJson(['versions', 'create', 'my-app', 'v1.0.0', '--chart-type', 'oci', '--chart-url', 'oci://registry.example/charts/my-app', '--chart-version', '1.0.0', '--base-values', 'base-values.yaml']);
    expect(v1).toMatchObject({ name: 'v1.0.0', chartType: 'oci', chartVersion: '1.0.0', baseValues: 'replicas: 1\n' });
    const target = await distrJson(['targets', 'create', 'prod', '--type', 'kubernetes', '--namespace', 'default']);
    expect(target).toMatchObject({ name: 'prod', namespace: 'default', scope: 'namespace' });

    const access = await distr(['targets', 'access', 'prod']);
    expect(access.exitCode).toBe(0);
    expect(access.stdout).toMatch(/^helm /m);
    expect((await service.getDeploymentTarget(target.id)).hasAccess).toBe(true);

    const deployment = await distrJson(['deploy', '--target', 'prod', '--version', v1.id, '--release', 'my-app', '--values', 'values.yaml']);
    expect(deployment).toMatchObject({ releaseName: 'my-app', deploymentTarget: { id: target.id }, currentRevision: { valuesYaml: 'replicas: 3\n', version: { name: 'v1.0.0' } } });

    await distrJson(['versions', 'create', app.id, 'v1.1.0', '--chart-type', 'oci', '--chart-url', 'oci://registry.example/charts/my-app', '--chart-version', '1.1.0']);
    const updated = await distrJson(['update', deployment.id, '--version', 'v1.1.0', '--values', 'values-5.yaml']);
    expect(updated.currentRevision).toMatchObject({ valuesYaml: 'replicas: 5\n', version: { name: 'v1.1.0' } });

    const stored = await ok(hub.url, `query($id: ID!) { deployment(id: $id) { revisions { nodes { valuesYaml version { name } } } } }`, { id: deployment.id }, hub.apiKey);
    expect(stored.deployment.revisions.nodes).toEqual([
      { valuesYaml: 'replicas: 5\n', version: { name: 'v1.1.0' } },
      { valuesYaml: 'replicas: 3\n', version: { name: 'v1.0.0' } },
    ]);
    const table = await distr(['status']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^DEPLOYMENT\s+APPLICATION\s+VERSION\s+TARGET\s+PHASE\s+MESSAGE\s+AGENT$/);
    expect(table.stdout).toMatch(new RegExp(`${deployment.id}\\s+my-app\\s+v1\\.1\\.0\\s+prod\\s+pending\\s+-\\s+never connected`));
  });

  test('docker: deploy by names, then a release from CI (versions create && rollout)', async () => {
    expect((await distr(['apps', 'create', 'shop', '--type', 'docker'])).stdout).toMatch(/^created docker application shop \(/);
    await distr(['versions', 'create', 'shop', '1.0.0', '--compose', 'compose.yaml', '--env-template', '.env.template']);
    await distr(['targets', 'create', 'edge-1', '--type', 'docker']);
    const deployment = await distrJson(['deploy', '--target', 'edge-1', '--app', 'shop', '--version', '1.0.0', '--env-file', '.env']);
    expect(deployment).toMatchObject({ composeType: 'compose', currentRevision: { envFile: 'GREETING=hi\n', version: { name: '1.0.0' } } });
    const targets = await distr(['targets', 'list']);
    expect(targets.stdout).toMatch(/edge-1\s+docker\s+-\s+no access yet/);

    // The CI step of docs/client.md.
    const tag = '1.1.0';
    const release = await execa('sh', ['-c', `node ${BIN} versions create shop ${tag} --compose compose.yaml --env-template .env.template && node ${BIN} rollout shop ${tag}`], {
      cwd: dir,
      env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: hub.apiKey },
      reject: false,
    });
    expect(release.exitCode).toBe(0);
    expect(release.stdout).toMatch(/^created version 1\.1\.0 of shop \(.+\)\nrolled out shop 1\.1\.0 to 1 deployment\n/);
    expect((await service.getDeployment(deployment.id)).currentRevision.version.name).toBe('1.1.0');

    await distr(['versions', 'create', 'shop', 'nightly', '--compose', 'compose.yaml']);
    expect((await distr(['versions', 'latest', 'shop'])).stdout).toMatch(/^1\.1\.0\t[0-9a-f-]{36}$/);
    expect(await distrJson(['versions', 'latest', 'shop', '--order', 'chronological'])).toMatchObject({ name: 'nightly' });
    const apps = await distrJson<any[]>(['apps', 'list']);
    expect(apps.map((a) => a.name)).toEqual(['shop']);
  });
});

describe('typed errors', () => {
  test("a docker version on a kubernetes application: exit 1 and the hub's message", async () => {
    const app = await service.createApplication({ name: 'k', type: 'kubernetes' });
    const result = await distr(['versions', 'create', 'k', 'v1', '--compose', 'compose.yaml']);
    const raw = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', COMPOSE_TWO_SERVICES);
    expect(raw.__typename).toBe('RuleViolationError');
    expect(result).toMatchObject({ exitCode: 1, stdout: '', stderr: `error: ${raw.message}` });

    const conflict = await distr(['apps', 'create', 'k', '--type', 'docker', '--json']);
    expect(conflict).toMatchObject({ exitCode: 1, stderr: 'error: an application named "k" already exists' });
    const unknownApp = await distr(['versions', 'latest', 'nope']);
    expect(unknownApp).toMatchObject({ exitCode: 1, stderr: 'error: application nope not found' });
  });
});

describe('api-keys', () => {
  test('create prints the secret once; list shows state; revoke by name ends the key (exit 3 after); usage and refusals', async () => {
    const created = await distr(['api-keys', 'create', 'ci', '--role', 'read_only']);
    expect(created.exitCode).toBe(0);
    const [, id, secret] = /^created API key ci \(([0-9a-f-]{36}), read_only\)\nsecret \(shown once\): (distr_\S+)$/.exec(created.stdout) ?? [];
    expect(secret).toBeDefined();
    // The new key works with its role: it reads, it cannot write.
    expect((await distr(['apps', 'list', '--json'], { DISTR_API_KEY: secret! })).exitCode).toBe(0);
    expect(await distr(['apps', 'create', 'x', '--type', 'docker'], { DISTR_API_KEY: secret! })).toMatchObject({ exitCode: 3 });

    const table = await distr(['api-keys', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+ROLE\s+CREATED\s+LAST USED\s+STATE$/);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+ci\\s+read_only\\s+\\S+\\s+\\S+\\s+active(\\n|$)`));
    expect(table.stdout).not.toContain(secret!.split('_').at(-1));

    expect(await distr(['api-keys', 'revoke', 'ci'])).toMatchObject({ exitCode: 0, stdout: `revoked API key ci (${id})` });
    expect(await distr(['apps', 'list'], { DISTR_API_KEY: secret! })).toMatchObject({ exitCode: 3, stderr: 'error: API key invalid, expired or revoked' });
    const listed = await distrJson<any[]>(['api-keys', 'list']);
    expect(listed.find((k) => k.id === id)).toMatchObject({ name: 'ci', roleCap: 'read_only', revokedAt: expect.any(String) });

    const expiring = await distrJson(['api-keys', 'create', 'nightly', '--expires-at', '2099-01-01T00:00:00Z']);
    expect(expiring).toMatchObject({ apiKey: { name: 'nightly', expiresAt: '2099-01-01T00:00:00.000Z' }, secret: expect.stringMatching(/^distr_/) });
    expect((await distr(['api-keys', 'list'])).stdout).toMatch(/nightly\s+admin\s+.*active until 2099-01-01T00:00:00.000Z/);

    expect(await distr(['api-keys', 'create', 'x', '--expires-at', 'soon'])).toMatchObject({ exitCode: 2, stderr: 'error: --expires-at: "soon" is not an ISO 8601 time (e.g. 2027-01-01T00:00:00Z)' });
    expect(await distr(['api-keys', 'create', 'x', '--expires-at', '2001-01-01T00:00:00Z'])).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/^error: .*expiresAt.*must be in the future/) });
    expect(await distr(['api-keys', 'revoke', 'nope'])).toMatchObject({ exitCode: 1, stderr: 'error: API key nope not found' });
    expect((await distr(['api-keys', '--help'])).stdout).toMatch(/list[\s\S]*create[\s\S]*revoke/);
  });
});

describe('status --watch', () => {
  async function seedWatched() {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const v1 = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const deployment = await service.createDeployment({ target: { name: 'edge', type: 'docker' }, application: { versionId: v1.id }, dockerDeployment: { composeType: 'compose' } });
    const access = await service.createAccessForDeploymentTarget(deployment.deploymentTarget.id);
    const token = await agentLogin(hub.url, access.targetId, access.secret);
    const report = (phase: string, message: string) => reportStatus(hub.url, token, [{ deploymentId: deployment.id, revisionId: deployment.currentRevision.id, phase, message }]);
    return { deployment, report };
  }

  /** Output of a running process as it arrives; `until` re-checks at each chunk (no polling). */
  function collect(child: ResultPromise) {
    const out = { stdout: '', stderr: '' };
    const changes = new Changes();
    child.stdout!.on('data', (c: Buffer) => ((out.stdout += c.toString()), changes.changed()));
    child.stderr!.on('data', (c: Buffer) => ((out.stderr += c.toString()), changes.changed()));
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`distr exited (${code}) early:\n${JSON.stringify(out)}`))));
    exited.catch(() => {});
    const until = (check: () => boolean, what: string) => Promise.race([changes.until(check, what), exited]);
    return { out, until };
  }

  // A watch of one deployment starts with its current status: once that first event is printed
  // the subscription is live, and every later transition reaches it (no sleep, no re-reporting).
  test('prints the table, then each status change; a progress line on stderr; ctrl-c exits 0', async () => {
    const { deployment, report } = await seedWatched();
    await report('progressing', 'starting');
    const child = spawnDistr(['status', deployment.id, '--watch']);
    const { out, until } = collect(child);
    // stdout and stderr are separate pipes: wait for both, in no particular order.
    await until(() => out.stdout.includes('progressing  starting') && out.stderr.includes('watching shop@edge for status changes'), 'the initial status event and the progress line');
    expect(out.stdout).toMatch(new RegExp(`^DEPLOYMENT .*\n${deployment.id}\\s+shop\\s+1\\.0\\.0\\s+edge\\s+progressing`));
    await report('healthy', 'all good');
    await until(() => out.stdout.includes('healthy  all good'), 'the healthy event');
    expect(out.stdout).toMatch(/\n\S+Z {2}shop@edge {2}healthy {2}all good\n/);
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(0);
  });

  test('--json --until healthy: one JSON event per line, exits by itself once healthy', async () => {
    const { deployment, report } = await seedWatched();
    await report('progressing', 'starting');
    const child = spawnDistr(['status', deployment.id, '--watch', '--json', '--until', 'healthy']);
    const { out, until } = collect(child);
    await until(() => out.stdout.includes('"starting"'), 'the initial status event');
    await report('healthy', 'all good');
    const result = await child;
    expect(result.exitCode).toBe(0);
    const events = out.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((e) => [e.phase, e.message])).toEqual([['progressing', 'starting'], ['healthy', 'all good']]);
    expect(events.at(-1)).toMatchObject({ deploymentId: deployment.id, phase: 'healthy', message: 'all good', revisionId: deployment.currentRevision.id });
  });
});

describe('logs', () => {
  async function seedLogged() {
    const app = await service.createApplication({ type: 'docker', name: 'shop' });
    const v1 = await service.createDockerApplicationVersion(app.id, '1.0.0', { composeFile: COMPOSE_TWO_SERVICES });
    const deployment = await service.createDeployment({ target: { name: 'edge', type: 'docker', logsEnabled: true }, application: { versionId: v1.id }, dockerDeployment: { composeType: 'compose' } });
    const access = await service.createAccessForDeploymentTarget(deployment.deploymentTarget.id);
    const token = await agentLogin(hub.url, access.targetId, access.secret);
    const push = (resource: string, ...lines: string[]) =>
      ok(
        hub.url,
        `mutation($l: [AgentLogLineInput!]!) { agentPushLogs(lines: $l) { __typename ... on AgentPushLogsResult { stored } } }`,
        { l: lines.map((line) => ({ deploymentId: deployment.id, resource, stream: 'stdout', timestamp: new Date().toISOString(), line })) },
        token,
      );
    return { deployment, push };
  }

  test('SDK: followDeploymentLogs sends the recent lines, then each new line in order; resource filter; unknown id is not found', async () => {
    const { deployment, push } = await seedLogged();
    await push('web', 'one', 'two', 'three');
    await push('worker', 'w1');
    const all = service.followDeploymentLogs(deployment.id, { tail: 3 });
    const webOnly = service.followDeploymentLogs(deployment.id, { tail: 10, resource: 'web' });
    const it = all[Symbol.asyncIterator]();
    const web = webOnly[Symbol.asyncIterator]();
    const first = await Promise.all([it.next(), it.next(), it.next()]);
    expect(first.map((r) => r.value!.line)).toEqual(['two', 'three', 'w1']);
    expect((await Promise.all([web.next(), web.next(), web.next()])).map((r) => r.value!.line)).toEqual(['one', 'two', 'three']);
    await push('worker', 'w2');
    await push('web', 'four', 'five');
    expect((await Promise.all([it.next(), it.next(), it.next()])).map((r) => r.value!.line)).toEqual(['w2', 'four', 'five']);
    expect((await Promise.all([web.next(), web.next()])).map((r) => r.value!.line)).toEqual(['four', 'five']);
    await all.close();
    await webOnly.close();
    expect((await service.deploymentLogs(deployment.id, { limit: 2 })).map((l) => l.line)).toEqual(['four', 'five']);
    const unknown = service.followDeploymentLogs('00000000-0000-4000-8000-000000000000');
    await expect(unknown[Symbol.asyncIterator]().next()).rejects.toThrow(/deployment 00000000-0000-4000-8000-000000000000 not found/);
  });

  test('distr logs prints recent lines; -f then prints each new line live; ctrl-c exits 0', async () => {
    const { deployment, push } = await seedLogged();
    await push('web', 'hello 1', 'hello 2');
    const once = await distr(['logs', deployment.id]);
    expect(once.exitCode).toBe(0);
    expect(once.stdout).toMatch(/^\S+Z web \| hello 1\n\S+Z web \| hello 2\n?$/);
    const json = await distr(['logs', deployment.id, '--json', '-n', '1']);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l).line)).toEqual(['hello 2']);

    const child = spawnDistr(['logs', deployment.id, '-f', '-n', '1']);
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString()));
    // The recent line is sent once the hub follows the log: from then on nothing is missed.
    await eventuallyTrue(() => out.stdout.includes('hello 2'), out);
    await push('web', 'live line');
    await eventuallyTrue(() => out.stdout.includes('live line'), out);
    expect(out.stdout).not.toContain('hello 1');
    child.kill('SIGINT');
    expect((await child).exitCode).toBe(0);
    const missing = await distr(['logs', '00000000-0000-4000-8000-000000000000', '-f']);
    expect(missing).toMatchObject({ exitCode: 1, stderr: 'error: deployment 00000000-0000-4000-8000-000000000000 not found' });
  });

  async function eventuallyTrue(check: () => boolean, out: unknown) {
    const deadline = Date.now() + 20_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`not printed:\n${JSON.stringify(out)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});
