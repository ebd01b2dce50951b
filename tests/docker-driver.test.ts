/**
 * DockerDriver against the real Docker engine and docker compose v2 (no mocks). The engine,
 * compose plugin and local/busybox:test image come from scripts/setup-test-env.sh.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerDriver, type DockerDriverOptions } from '../agent/docker/driver.js';
import type { DockerDesiredDeployment, LogLine } from '../protocol/index.js';
import { PermanentApplyError, type ObservedStatus } from '../agent/core/driver.js';
import { Changes, ObservedList, WAIT_BOUND_MS } from './testkit/changes.js';
import { startTestRegistry } from './testkit/registry.js';

const SOCKET = '/var/run/docker.sock';
const IMAGE = 'local/busybox:test';
const docker = new Docker({ socketPath: SOCKET });
/** Every project and volume of this run starts with it, so cleanup finds leftovers. */
const RUN_PREFIX = `dt${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const ctx = () => ({ signal: new AbortController().signal });

let workRoot: string;
let projectCounter = 0;

function uniqueName(label: string): string {
  projectCounter += 1;
  return `${RUN_PREFIX}-${label}-${projectCounter}`;
}

function desired(
  projectName: string,
  composeFile: string,
  overrides: Partial<DockerDesiredDeployment> = {},
): DockerDesiredDeployment {
  return {
    type: 'docker',
    deploymentId: projectName,
    revisionId: 'rev-1',
    applicationName: 'test app',
    versionName: '1.0.0',
    restartMarker: null,
    logsEnabled: true,
    registryAuths: [],
    error: null,
    composeType: 'compose',
    projectName,
    composeFile,
    envFile: '',
    ...overrides,
  };
}

/** A busybox service that stays up, stops at once (init) and needs no network. */
function service(extra = ''): string {
  return `    image: ${IMAGE}
    network_mode: none
    init: true
    command: ["sleep", "3600"]
${extra}`;
}

function driver(options: Partial<DockerDriverOptions> = {}): DockerDriver {
  return new DockerDriver({ workRoot, socketPath: SOCKET, ...options });
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = WAIT_BOUND_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await read();
  }
  return last;
}

async function projectContainers(projectName: string) {
  return docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${projectName}`] } });
}

async function volumeExists(name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

beforeAll(async () => {
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(
      `Docker engine unreachable at ${SOCKET} (${(error as Error).message}): run \`bash scripts/setup-test-env.sh\` as root first`,
    );
  }
  const compose = await execa('docker', ['compose', 'version', '--short'], { reject: false });
  if (compose.exitCode !== 0 || !/^v?2\./.test(compose.stdout.trim())) {
    throw new Error(`docker compose v2 missing (${compose.stderr || compose.stdout}): run \`bash scripts/setup-test-env.sh\``);
  }
  try {
    await docker.getImage(IMAGE).inspect();
  } catch {
    throw new Error(`image ${IMAGE} missing: run \`bash scripts/setup-test-env.sh\``);
  }
  workRoot = await mkdtemp(path.join(os.tmpdir(), 'docker-driver-test-'));
});

afterAll(async () => {
  // Sweep whatever a failed test left behind: containers, then volumes, of this run only.
  const containers = await docker.listContainers({ all: true });
  for (const c of containers) {
    if ((c.Labels['com.docker.compose.project'] ?? '').startsWith(RUN_PREFIX)) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
  }
  const { Volumes } = await docker.listVolumes();
  for (const v of Volumes ?? []) {
    if (v.Name.startsWith(RUN_PREFIX)) await docker.getVolume(v.Name).remove().catch(() => {});
  }
  if (workRoot) await rm(workRoot, { recursive: true, force: true });
});

describe('DockerDriver (real Docker engine)', () => {
  it('applies two services and reports the healthchecked one healthy, counting both', async () => {
    const project = uniqueName('health');
    const d = driver();
    const deployment = desired(
      project,
      `services:
  web:
${service(`    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
`)}  worker:
${service()}`,
    );
    await d.apply(deployment, ctx());

    expect(existsSync(path.join(workRoot, project, 'compose.yaml'))).toBe(true);
    expect(existsSync(path.join(workRoot, project, '.env'))).toBe(true);
    expect(existsSync(path.join(workRoot, project, 'docker-config'))).toBe(true);

    const status = await eventually(
      () => d.observe(deployment),
      (s) => s.resources.some((r) => r.phase === 'healthy'),
    );
    expect(status.phase).toBe('healthy');
    expect(status.message).toBe('1 healthy, 1 running without healthcheck');
    expect(status.resources.map((r) => [r.kind, r.name, r.phase]).sort()).toEqual([
      ['container', `${project}-web-1`, 'healthy'],
      ['container', `${project}-worker-1`, 'running'],
    ]);

    await d.remove(project, { deploymentId: project, removeVolumes: true }, ctx());
  });

  it('replaces containers when compose file or env change, and reports all healthy', async () => {
    const project = uniqueName('replace');
    const d = driver();
    const composeFile = `services:
  app:
${service(`    environment:
      GREETING: \${GREETING}
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
`)}`;
    await d.apply(desired(project, composeFile, { envFile: 'GREETING=hello\n' }), ctx());
    const [first] = await projectContainers(project);
    const firstEnv = (await docker.getContainer(first!.Id).inspect()).Config.Env;
    expect(firstEnv).toContain('GREETING=hello');

    const second = desired(project, composeFile.replace('interval: 1s', 'interval: 1s\n      retries: 2'), {
      revisionId: 'rev-2',
      envFile: 'GREETING=goodbye\n',
    });
    await d.apply(second, ctx());
    const after = await projectContainers(project);
    expect(after).toHaveLength(1);
    expect(after[0]!.Id).not.toBe(first!.Id);
    expect((await docker.getContainer(after[0]!.Id).inspect()).Config.Env).toContain('GREETING=goodbye');

    const status = await eventually(() => d.observe(second), (s) => s.phase === 'healthy');
    expect(status.message).toBe('1 healthy');

    await d.remove(project, null, ctx());
  });

  it('reports exited containers as errors with their exit code, and a missing project as "no containers"', async () => {
    const project = uniqueName('exit');
    const d = driver();
    const deployment = desired(
      project,
      `services:
  ok:
${service()}  bad:
    image: ${IMAGE}
    network_mode: none
    command: ["sh", "-c", "exit 3"]
`,
    );
    await d.apply(deployment, ctx());
    const status = await eventually(
      () => d.observe(deployment),
      (s) => s.message.includes('exited'),
    );
    expect(status.phase).toBe('error');
    expect(status.message).toBe('1 exited (code 3): bad-1; 1 running without healthcheck');

    const none = await d.observe(desired(uniqueName('never-applied'), 'services: {}\n'));
    expect(none).toEqual<ObservedStatus>({ phase: 'error', message: 'no containers', resources: [] });

    await d.remove(project, null, ctx());
  });

  it('restarts the project containers (StartedAt changes)', async () => {
    const project = uniqueName('restart');
    const d = driver();
    const deployment = desired(project, `services:\n  app:\n${service()}`);
    await d.apply(deployment, ctx());
    const [container] = await projectContainers(project);
    const before = (await docker.getContainer(container!.Id).inspect()).State.StartedAt;

    await d.restart(deployment, ctx());
    const afterInfo = await docker.getContainer(container!.Id).inspect();
    expect(afterInfo.State.Running).toBe(true);
    expect(afterInfo.State.StartedAt).not.toBe(before);

    await d.remove(project, null, ctx());
  });

  it('remove keeps named volumes unless removeVolumes is set', async () => {
    const d = driver();
    const composeFile = `services:
  db:
${service(`    volumes:
      - data:/data
`)}volumes:
  data: {}
`;
    const kept = uniqueName('keepvol');
    await d.apply(desired(kept, composeFile), ctx());
    expect(await volumeExists(`${kept}_data`)).toBe(true);
    await d.remove(kept, { deploymentId: kept, removeVolumes: false }, ctx());
    expect(await projectContainers(kept)).toHaveLength(0);
    expect(await volumeExists(`${kept}_data`)).toBe(true);
    expect(existsSync(path.join(workRoot, kept))).toBe(false);
    expect(await d.listManaged()).not.toContain(kept);
    await docker.getVolume(`${kept}_data`).remove();

    const dropped = uniqueName('dropvol');
    await d.apply(desired(dropped, composeFile), ctx());
    expect(await volumeExists(`${dropped}_data`)).toBe(true);
    await d.remove(dropped, { deploymentId: dropped, removeVolumes: true }, ctx());
    expect(await projectContainers(dropped)).toHaveLength(0);
    expect(await volumeExists(`${dropped}_data`)).toBe(false);
  });

  it("fails with docker's own message for an image that does not exist", async () => {
    const never = uniqueName('noimage');
    const composeNope = `services:\n  app:\n    image: local/nope:missing\n    network_mode: none\n`;
    await expect(driver({ pullPolicy: 'never' }).apply(desired(never, composeNope), ctx())).rejects.toThrow(
      /^docker compose up failed: .*no such image: local\/nope:missing/i,
    );

    // Pulling (by `up`, honouring pull_policy) needs a registry; one on a closed loopback port fails fast.
    const missing = uniqueName('noregistry');
    const composeUnreachable = `services:\n  app:\n    image: 127.0.0.1:9/nope:missing\n    network_mode: none\n`;
    await expect(driver({ pullPolicy: 'missing' }).apply(desired(missing, composeUnreachable), ctx())).rejects.toThrow(
      /^docker compose up failed: .*127\.0\.0\.1:9/,
    );

    const d = driver();
    await d.remove(never, null, ctx());
    await d.remove(missing, null, ctx());
  });

  it('an image missing in the registry the host pulls from is a PermanentApplyError with docker\'s message (which the worker reports once)', async () => {
    const registry = await startTestRegistry({ anonymous: true });
    const project = uniqueName('nomanifest');
    try {
      const compose = `services:\n  app:\n    image: ${registry.host}/vendor/absent:1\n    network_mode: none\n`;
      const err = await driver({ pullPolicy: 'missing' }).apply(desired(project, compose), ctx()).then(() => null, (e: Error) => e);
      expect(err).toBeInstanceOf(PermanentApplyError);
      expect(err!.message).toMatch(/^docker compose up failed: .*(manifest unknown|not found)/is);
      expect(err!.message).toContain(`${registry.host}/vendor/absent`);
    } finally {
      await driver().remove(project, null, ctx());
      await registry.stop();
    }
  });

  it('cancels a running compose up when the context signal aborts', async () => {
    const project = uniqueName('cancel');
    const d = driver();
    // `up` waits for gate to become healthy, which its start period keeps from happening for a minute.
    const deployment = desired(
      project,
      `services:
  gate:
${service(`    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      start_period: 60s
`)}  app:
${service(`    depends_on:
      gate:
        condition: service_healthy
`)}`,
    );
    const abort = new AbortController();
    const applying = d.apply(deployment, { signal: abort.signal });
    // Abort while `up` waits on gate's health: both containers exist and gate is running.
    await eventually(() => projectContainers(project), (containers) => containers.length === 2 && containers.some((c) => c.Labels['com.docker.compose.service'] === 'gate' && c.State === 'running'));
    abort.abort();
    // The cancellation's own error (not compose giving up on the gate) proves the abort stopped it.
    await expect(applying).rejects.toThrow('docker compose up cancelled');

    const status = await d.observe(deployment);
    expect(status.phase).toBe('error');
    expect(status.message).toBe(`1 created: app-1; 1 starting: gate-1`);

    await d.remove(project, null, ctx());
    expect(await projectContainers(project)).toHaveLength(0);
  });

  it('refuses swarm deployments clearly when swarm is not active', async () => {
    const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string } };
    expect(info.Swarm?.LocalNodeState, 'this test needs an engine without swarm').not.toBe('active');
    const project = uniqueName('swarm');
    const d = driver();
    await expect(
      d.apply(desired(project, `services:\n  app:\n${service()}`, { composeType: 'swarm' }), ctx()),
    ).rejects.toThrow('docker swarm is not active on this host: run `docker swarm init` or use compose type compose');
    await d.remove(project, null, ctx());
  });

  it('follows logs of stdout and stderr, picks up containers that appear later, and honours since', async () => {
    const project = uniqueName('logs');
    const d = driver({ logs: { flushIntervalMs: 100, relistIntervalMs: 200 } });
    const talker = (word: string) => `    image: ${IMAGE}
    network_mode: none
    init: true
    command: ["sh", "-c", "echo ${word}-out; echo ${word}-err >&2; sleep 3600"]
`;
    const first = desired(project, `services:\n  one:\n${talker('first')}`);
    await d.apply(first, ctx());

    const lines: LogLine[] = [];
    const arrived = new Changes();
    const stop = new AbortController();
    const following = d.followLogs!(first, null, (batch) => (lines.push(...batch), arrived.changed()), stop.signal);
    await arrived.until(() => lines.length >= 2, 'the first service\'s lines');

    await d.apply(desired(project, `services:\n  one:\n${talker('first')}  two:\n${talker('second')}`), ctx());
    await arrived.until(() => ['second-out', 'second-err'].every((l) => lines.some((r) => r.line === l)), 'the second service\'s lines');
    stop.abort();
    await following;

    const byLine = new Map(lines.map((l) => [l.line, l]));
    expect([...byLine.keys()].sort()).toEqual(['first-err', 'first-out', 'second-err', 'second-out']);
    expect(byLine.get('first-out')).toMatchObject({ deploymentId: project, resource: `${project}-one-1`, stream: 'stdout' });
    expect(byLine.get('first-err')).toMatchObject({ resource: `${project}-one-1`, stream: 'stderr' });
    expect(byLine.get('second-out')).toMatchObject({ resource: `${project}-two-1`, stream: 'stdout' });
    for (const line of lines) expect(Number.isNaN(Date.parse(line.timestamp))).toBe(false);
    expect(lines).toHaveLength(4);

    // Resuming from the newest timestamp delivers nothing already seen: a service started after the
    // resume point is followed (the event that shows the follower is running), and its lines are all
    // that arrive. (Not "wait a while and see nothing", which proves nothing on a slow machine.)
    const newest = lines.map((l) => l.timestamp).sort((a, b) => Date.parse(a) - Date.parse(b)).at(-1)!;
    const resumed = new ObservedList<LogLine>();
    const stopResumed = new AbortController();
    const resuming = d.followLogs!(first, newest, (batch) => resumed.push(...batch), stopResumed.signal);
    await d.apply(desired(project, `services:\n  one:\n${talker('first')}  two:\n${talker('second')}  three:\n${talker('third')}`), ctx());
    await resumed.until(() => ['third-out', 'third-err'].every((l) => resumed.items.some((r) => r.line === l)), 'the new service\'s lines');
    stopResumed.abort();
    await resuming;
    expect(resumed.items.map((l) => l.line).sort()).toEqual(['third-err', 'third-out']);

    await d.remove(project, null, ctx());
  });

  it('lists and removes only the deployments it created', async () => {
    const foreignProject = uniqueName('foreign');
    const foreignDir = await mkdtemp(path.join(os.tmpdir(), 'foreign-'));
    await writeFile(path.join(foreignDir, 'compose.yaml'), `services:\n  app:\n${service()}`);
    await execa('docker', ['compose', '-p', foreignProject, 'up', '-d'], { cwd: foreignDir });

    const ownRoot = await mkdtemp(path.join(os.tmpdir(), 'own-root-'));
    const d = new DockerDriver({ workRoot: ownRoot, socketPath: SOCKET });
    expect(await d.listManaged()).toEqual([]);
    const mine = uniqueName('mine');
    await d.apply(desired(mine, `services:\n  app:\n${service()}`), ctx());
    expect(await d.listManaged()).toEqual([mine]);

    // An id it never created: nothing happens to the foreign project of the same name.
    await d.remove(foreignProject, null, ctx());
    expect(await projectContainers(foreignProject)).toHaveLength(1);

    await d.remove(mine, null, ctx());
    expect(await d.listManaged()).toEqual([]);
    await execa('docker', ['compose', '-p', foreignProject, 'down', '-t', '0'], { cwd: foreignDir });
    await rm(foreignDir, { recursive: true, force: true });
    await rm(ownRoot, { recursive: true, force: true });
  });
});

describe('permanent failures (issue 9 item 13)', () => {
  it('a compose file docker compose refuses (a required variable without a value) is a PermanentApplyError, and nothing starts', async () => {
    const projectName = uniqueName('permanent');
    const d = desired(projectName, `services:\n  app:\n${service('    environment:\n      NEEDED: ${NEEDED:?must be set}\n')}`, { deploymentId: `dep-${projectName}` });
    const err = await driver()
      .apply(d, { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentApplyError);
    expect((err as Error).message).toMatch(/NEEDED/);
    expect(await projectContainers(projectName)).toEqual([]);
  });
});
